"""``collection()``: one declared table, validated the moment it is defined."""

from __future__ import annotations

import dataclasses
import re
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ConfigError, did_you_mean
from .fields import Field, FieldType, Relation

if TYPE_CHECKING:
    import sqlalchemy as sa
    from pydantic import BaseModel

__all__ = [
    "ACCESS_OPERATIONS",
    "FIELD_ACCESS_OPERATIONS",
    "HOOK_NAMES",
    "RESERVED_SLUGS",
    "SYSTEM_FIELDS",
    "Collection",
    "IdType",
    "collection",
    "publish_artifacts",
]

IdType = Literal["integer", "uuid"]
ACCESS_OPERATIONS = ("read", "create", "update", "delete")
FIELD_ACCESS_OPERATIONS = ("read", "create", "update")
HOOK_NAMES = (
    "before_change", "after_change", "before_read", "after_read", "before_delete",
    "after_delete",
)  # fmt: skip
SYSTEM_FIELDS = ("id", "created_at", "updated_at")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SLUG = re.compile(r"^[a-z_][a-z0-9_]*$")
# Longest name PostgreSQL keeps (63 bytes); MySQL allows 64. Leave room for "_id".
MAX_NAME = 60
# Slugs become attributes of Database/Transaction (db.<slug>): these would shadow its API.
# The early check in collection() (the error points at the user's line); define_config
# checks the real attributes of Database and Transaction (config.py), and a test keeps this
# list a superset of them. "with_user", "collections" and "execute" are kept for the API
# to come.
RESERVED_SLUGS = frozenset(
    {
        "query", "transaction", "metadata", "connect", "close", "push", "plan", "schema",
        "lifespan", "with_user", "collections", "dialect", "url", "execute", "is_connected",
        "acquire", "atomic", "collection", "manage", "trusted", "user",
        "acquire_read", "primary", "replica", "read_routing", "run_in_transaction",
    }
)  # fmt: skip


# What the last successful define_config() compiled from each collection (its table and
# models), published by config.py: compiling never writes into the frozen definition.
_ARTIFACTS: weakref.WeakKeyDictionary[Collection, Mapping[str, Any]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, eq=False)
class Collection:
    """An immutable collection definition.

    After ``define_config(...)``: ``table`` (SQLAlchemy ``Table``), ``create_model``,
    ``update_model`` and ``read_model`` (pydantic models for FastAPI), those of the last
    ``define_config`` that used this collection. The definition itself never changes.
    """

    slug: str
    fields: Mapping[str, Field]
    # {"read" | "create" | "update" | "delete": callable(ctx)} (docs/access.md)
    access: Mapping[str, Callable[[Any], Any]] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    # hook name -> callables, in order (docs/access.md)
    hooks: Mapping[str, tuple[Callable[..., Any], ...]] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    timestamps: bool = True
    id_type: IdType = "integer"
    renamed_from: str | None = None

    def _artifact(self, name: str) -> Any:
        try:
            return _ARTIFACTS[self][name]
        except KeyError:
            raise ConfigError(
                f"collection {self.slug!r} is not compiled yet: pass it to define_config() first"
            ) from None

    @property
    def table(self) -> sa.Table:
        """The SQLAlchemy ``Table`` compiled from this collection."""
        return self._artifact("table")  # type: ignore[no-any-return]

    @property
    def create_model(self) -> type[BaseModel]:
        """Pydantic model of the data ``create`` accepts."""
        return self._artifact("create_model")  # type: ignore[no-any-return]

    @property
    def update_model(self) -> type[BaseModel]:
        """Pydantic model of the data ``update`` accepts (every field optional)."""
        return self._artifact("update_model")  # type: ignore[no-any-return]

    @property
    def read_model(self) -> type[BaseModel]:
        """Pydantic model of a row as returned by CRUD."""
        return self._artifact("read_model")  # type: ignore[no-any-return]

    @property
    def system_fields(self) -> tuple[str, ...]:
        """Names the library adds: ``id`` and, with timestamps, the two timestamps."""
        return SYSTEM_FIELDS if self.timestamps else ("id",)


def publish_artifacts(c: Collection, artifacts: Mapping[str, Any]) -> None:
    """Make ``c.table``, ``c.create_model``... answer with ``artifacts`` (define_config)."""
    _ARTIFACTS[c] = MappingProxyType(dict(artifacts))


def collection(
    slug: str,
    fields: Mapping[str, Field | FieldType],
    access: Mapping[str, Any] | None = None,
    hooks: Mapping[str, Any] | None = None,
    timestamps: bool = True,
    id_type: IdType = "integer",
    renamed_from: str | None = None,
) -> Collection:
    """Declare a collection (a table) with its fields.

    Raises ``ConfigError`` naming the collection and field for any mistake found
    without looking at other collections (those are checked by ``define_config``).

    >>> from deesse_async import text, required, field
    >>> Tags = collection(slug="tags", fields={"name": required(field(type=text(max=40)))})
    >>> Tags.slug
    'tags'
    """
    _check_slug(slug)
    if id_type not in ("integer", "uuid"):
        raise ConfigError(
            f"collection {slug!r}: id_type must be 'integer' or 'uuid', not {id_type!r}"
        )
    if not isinstance(fields, Mapping):
        raise ConfigError(f"collection {slug!r}: fields must be a dict of name -> field(...)")
    checked: dict[str, Field] = {}
    system = SYSTEM_FIELDS if timestamps else ("id",)
    for name, value in fields.items():
        checked[name] = _check_field(slug, name, value, system)
    _check_column_clashes(slug, checked, system)
    return Collection(
        slug=slug,
        fields=MappingProxyType(checked),
        access=MappingProxyType(_check_rules(f"collection {slug!r}", access, ACCESS_OPERATIONS)),
        hooks=MappingProxyType(_check_hooks(slug, hooks)),
        timestamps=timestamps,
        id_type=id_type,
        renamed_from=renamed_from,
    )


def _check_slug(slug: Any) -> None:
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise ConfigError(
            f"collection slug {slug!r} must be lower-case letters, digits and '_', "
            "starting with a letter or '_'"
        )
    if len(slug) > MAX_NAME:
        raise ConfigError(f"collection slug {slug!r} is longer than {MAX_NAME} characters")
    if slug.startswith("__"):
        # db.__init__ would shadow Python's own attributes; "__x" names are the library's.
        raise ConfigError(f"collection slug {slug!r} may not start with '__'; rename it")
    if slug in RESERVED_SLUGS:
        raise ConfigError(
            f"collection slug {slug!r} is reserved: db.{slug} is part of the Database API; "
            "choose another slug"
        )


def _check_field(slug: str, name: Any, value: Any, system: tuple[str, ...]) -> Field:
    where = f"collection {slug!r}, field {name!r}"
    if not isinstance(name, str) or not IDENTIFIER.match(name) or len(name) > MAX_NAME:
        raise ConfigError(
            f"{where}: a field name must be a letter followed by letters, digits or '_' "
            f"(at most {MAX_NAME} characters)"
        )
    if name.startswith("__"):
        raise ConfigError(
            f"{where}: a field name may not start with '__' (the library labels its own "
            "columns so); rename it"
        )
    if name.startswith("_"):
        raise ConfigError(
            f"{where}: field names cannot start with '_': pydantic treats them as private; "
            "rename it"
        )
    if name in system:
        raise ConfigError(f"{where}: {name!r} is a system field the library adds; rename it")
    if isinstance(value, FieldType):
        value = Field(type=value)
    if not isinstance(value, Field):
        raise ConfigError(f"{where}: expected field(type=...), got {value!r}")
    checked: Field = value
    if not isinstance(value.type, FieldType):
        raise ConfigError(f"{where}: type must be a field type such as text(), got {value.type!r}")
    if value.access is not None:
        rules = _check_rules(where, value.access, FIELD_ACCESS_OPERATIONS)
        checked = dataclasses.replace(value, access=MappingProxyType(rules))
    problems = value.type.problems()
    problems += _modifier_problems(value)
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))
    return checked


def _check_rules(
    where: str, access: Any, operations: tuple[str, ...]
) -> dict[str, Callable[[Any], Any]]:
    """``access={operation: callable(ctx)}``, checked now so that a typo never leaves an
    operation open."""
    if access is None:
        return {}
    if not isinstance(access, Mapping):
        raise ConfigError(f"{where}: access must be a dict of operation -> callable(ctx)")
    for op, rule in access.items():
        if op not in operations:
            raise ConfigError(
                f"{where}: unknown access operation {op!r}"
                + did_you_mean(str(op), operations)
                + f"; operations: {', '.join(operations)}"
            )
        if not callable(rule):
            raise ConfigError(
                f"{where}: access[{op!r}] must be a callable(ctx) returning True, False"
                + (" or a where-dict" if operations is ACCESS_OPERATIONS else "")
                + f", got {rule!r}"
            )
    return dict(access)


def _check_hooks(slug: str, hooks: Any) -> dict[str, tuple[Callable[..., Any], ...]]:
    if hooks is None:
        return {}
    where = f"collection {slug!r}"
    if not isinstance(hooks, Mapping):
        raise ConfigError(f"{where}: hooks must be a dict of hook name -> [callable, ...]")
    out = {}
    for name, fns in hooks.items():
        if name not in HOOK_NAMES:
            raise ConfigError(
                f"{where}: unknown hook {name!r}"
                + did_you_mean(str(name), HOOK_NAMES)
                + f"; hooks: {', '.join(HOOK_NAMES)}"
            )
        items = (fns,) if callable(fns) else fns
        if not isinstance(items, list | tuple) or not all(callable(f) for f in items):
            raise ConfigError(f"{where}: hooks[{name!r}] must be a list of callables, got {fns!r}")
        out[name] = tuple(items)
    return out


def _modifier_problems(f: Field) -> list[str]:
    out = []
    t = f.type
    if isinstance(t, Relation):
        if t.many and (f.unique or f.index or f.default is not None):
            out.append("a many=True relation cannot be unique, indexed or have a default")
        if t.many and f.required:
            out.append("a many=True relation cannot be required (it is a list of links)")
        if f.required and t.on_delete == "set null":
            out.append("a required relation cannot use on_delete='set null'")
        if f.references is not None:
            out.append("a relation() field takes no references= (it makes its own foreign key)")
    elif f.references is not None and (
        not isinstance(f.references, str) or f.references.count(".") != 1
    ):
        out.append(f"references={f.references!r} must look like 'collection.column'")
    if f.renamed_from is not None and not (
        isinstance(f.renamed_from, str) and IDENTIFIER.match(f.renamed_from)
    ):
        out.append(f"renamed_from={f.renamed_from!r} is not a valid field name")
    return out


def _check_column_clashes(slug: str, fields: Mapping[str, Field], system: tuple[str, ...]) -> None:
    """A one relation ``author`` stores ``author_id``: it may not collide with another name."""
    taken = set(fields) | set(system)
    for name, f in fields.items():
        if isinstance(f.type, Relation) and not f.type.many:
            column = f"{name}_id"
            if column in taken:
                raise ConfigError(
                    f"collection {slug!r}, field {name!r}: its column {column!r} clashes with "
                    f"the field {column!r}; rename one of them"
                )
            taken.add(column)
