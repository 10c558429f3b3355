"""Query shapes -> pydantic models of the rows they return (``Query.response_model``).

A query's rows have exactly the keys its options select: the chosen columns, its extras,
its aggregates and its relations (a **many** relation a list of rows, a **one** relation
a row or ``None``). ``response_model`` is that row as a pydantic v2 model, for FastAPI's
``response_model=`` and OpenAPI. Column types come from the collection's read model
(``compile/models.py``), so a row and ``db.<slug>.read(id)`` agree on every type.

Field read rules hide fields from some callers only, and the model must validate every
row any caller gets: such fields (and the relations they take away, ``gone_keys``) are
not required, and a row that lacks them serializes without them (never as ``null``).

Models are cached per database and shape: the same options give the same class; two
shapes give two classes with distinct, deterministic names (``UsersRow`` for every
column of ``users`` and nothing else, ``UsersRow_<hash of the shape>`` otherwise), so
that one OpenAPI document can hold them all.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    create_model,
    model_serializer,
)
from pydantic import Field as PydanticField

from ..compile.coercion import type_kind
from ..compile.models import READ_TYPES, field_attribute
from ..compile.schema import Schema
from .access import gone_keys
from .options import QueryNode

__all__ = ["RowModel", "response_model"]

# Node -> model entries kept per database (a node holds the caller's callables: an
# extras lambda made per request makes a new node each time, so this one is bounded).
NODE_CACHE_SIZE = 512


class RowModel(BaseModel):
    """Base of every ``response_model``: a row of a query, as its options shape it."""

    # Column names are the user's: "model_x" is a fine column name.
    model_config = ConfigDict(protected_namespaces=(), serialize_by_alias=True)


class RuledRowModel(RowModel):
    """A row some of whose keys field read rules hide from some callers: when a row
    lacks them, they are left out of its serialization rather than written as null."""

    __maybe_hidden__: ClassVar[tuple[tuple[str, str], ...]] = ()  # (attribute, row key)

    # No return annotation: pydantic then keeps the fields' own JSON schema (an
    # annotated wrap serializer would publish its return type instead).
    @model_serializer(mode="wrap")
    def _omit_hidden(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        out = handler(self)
        given = self.model_fields_set
        for attribute, key in type(self).__maybe_hidden__:
            if attribute not in given:
                out.pop(key if key in out else attribute, None)
        return out


def _drop_default(schema: dict[str, Any]) -> None:
    # A hidden field has no default value: it is absent. Keep ``"default": null`` out
    # of the published schema.
    schema.pop("default", None)


def _maybe_hidden_spec() -> Any:
    return PydanticField(default=None, json_schema_extra=_drop_default)


def _pascal(slug: str) -> str:
    return "".join(part.capitalize() for part in slug.split("_") if part)


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    return repr(annotation).replace("typing.", "")


class ShapeModels:
    """The row models of one database's queries, by shape."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._by_node: OrderedDict[QueryNode, type[RowModel]] = OrderedDict()
        self._by_shape: dict[str, type[RowModel]] = {}
        self._names: dict[str, str] = {}  # model name -> shape
        self._lock = threading.RLock()
        ruled = {
            slug: frozenset(
                n for n, f in cc.collection.fields.items() if f.access and "read" in f.access
            )
            for slug, cc in schema.collections.items()
        }
        # Keys that some caller may not get: what hiding every ruled field takes away.
        self._maybe_gone = {slug: gone_keys(schema, slug, ruled) for slug in schema.collections}

    def model(self, node: QueryNode) -> type[RowModel]:
        """The row model of ``node`` (cached: the same node, the same class)."""
        with self._lock:
            found = self._by_node.get(node)
            if found is not None:
                self._by_node.move_to_end(node)
                return found
            model = self._build(node)
            self._by_node[node] = model
            if len(self._by_node) > NODE_CACHE_SIZE:
                self._by_node.popitem(last=False)
            return model

    def _build(self, node: QueryNode) -> type[RowModel]:
        cc = self.schema[node.slug]
        # The read model's fields by row key (a key such as "copy" has an alias).
        read_fields = {f.alias or a: f for a, f in cc.read_model.model_fields.items()}
        # key -> type; every key of a row is present (its value may be None).
        types: dict[str, Any] = {c: read_fields[c].annotation for c in node.columns}
        for name, build in node.extras:
            types[name] = _extra_type(build(cc.table))
        types.update(_aggregate_fields(self.schema, node))
        for name, child in node.relations:
            sub: Any = self.model(child)
            types[name] = sub | None if child.single else list[sub]
        gone = self._maybe_gone[node.slug]
        keys = (f"{k}{'?' if k in gone else ''}:{_type_name(t)}" for k, t in types.items())
        shape = "|".join([node.slug, *keys])
        found = self._by_shape.get(shape)
        if found is not None:
            return found
        model = self._create(node, shape, types, gone)
        self._by_shape[shape] = model
        return model

    def _create(
        self, node: QueryNode, shape: str, types: dict[str, Any], gone: frozenset[str]
    ) -> type[RowModel]:
        cc = self.schema[node.slug]
        full = not node.extras and not node.relations and len(node.columns) == len(cc.columns)
        full = full and len(types) == len(node.columns)  # no aggregates either
        name = self._name(_pascal(node.slug) + "Row", shape, plain=full)
        fields: dict[str, Any] = {}
        hidden: list[tuple[str, str]] = []
        used: set[str] = set()
        for key, annotation in types.items():
            attribute = field_attribute(key, used)
            used.add(attribute)
            if key in gone:
                spec = _maybe_hidden_spec()
                hidden.append((attribute, key))
            else:
                spec = PydanticField()
            if attribute != key:
                spec = PydanticField(
                    default=spec.default,
                    alias=key,
                    json_schema_extra=spec.json_schema_extra,
                )
            fields[attribute] = (annotation, spec)
        base: type[RowModel] = RuledRowModel if hidden else RowModel
        model: type[RowModel] = create_model(
            name, __base__=base, __doc__=_describe(node, types, gone), **fields
        )
        if hidden:
            model.__maybe_hidden__ = tuple(hidden)  # type: ignore[attr-defined]
        return model

    def _name(self, stem: str, shape: str, *, plain: bool) -> str:
        """``stem`` for a collection's full row, else ``stem_<8+ hex digits of the
        shape>`` (longer only if two shapes of this database share the 8)."""
        digest = hashlib.sha256(shape.encode()).hexdigest()
        candidates = [stem] if plain else []
        candidates += [f"{stem}_{digest[:n]}" for n in range(8, len(digest) + 1, 4)]
        for name in candidates:
            if self._names.setdefault(name, shape) == shape:
                return name
        raise AssertionError("unreachable: the full digest names one shape")


def _extra_type(expression: Any) -> Any:
    """An extra's value type: the kind its values decode as (``clauses.extra_kinds``),
    else its SQLAlchemy type's ``python_type`` (``Decimal`` for ``Numeric``), else
    ``Any``; ``None`` is always possible (SQL expressions are nullable)."""
    sql_type: Any = getattr(expression, "type", None)
    kind = type_kind(sql_type)
    if kind is not None:
        return READ_TYPES[kind] | None
    try:
        python_type = sql_type.python_type
    except (AttributeError, NotImplementedError):
        return Any
    if python_type is object:  # NullType: SQLAlchemy does not know either
        return Any
    return python_type | None


def _aggregate_fields(schema: Schema, node: QueryNode) -> dict[str, Any]:
    """Row key -> type for each ``aggregates=`` entry of ``node`` (API.md §3), from the
    aggregate's ``kind`` (``aggregates.py``): ``count`` is ``int``; ``sum`` the column's
    type (``int`` or ``float``), ``avg`` ``float``, ``min``/``max`` the column's read
    type, each ``| None`` (None over no related rows)."""
    out: dict[str, Any] = {}
    for name, a in node.aggregates:
        read_type = READ_TYPES[a.kind]
        out[name] = read_type | None if a.nullable else read_type
    return out


def _describe(node: QueryNode, types: dict[str, Any], gone: frozenset[str]) -> str:
    """The model's docstring (OpenAPI shows it as the schema's description)."""
    text = f"A row of `{node.slug}`: " + ", ".join(
        f"{k}{' (hidden from some callers)' if k in gone else ''}" for k in types
    )
    return text + "."


_SHAPES: weakref.WeakKeyDictionary[Any, ShapeModels] = weakref.WeakKeyDictionary()
_SHAPES_LOCK = threading.Lock()


def response_model(owner: Any, schema: Schema, node: QueryNode) -> type[RowModel]:
    """The row model of ``node`` in ``owner``'s cache (one per database: its planner).

    >>> # q = db.query.users.find_many(columns={"id": True}); q.response_model
    """
    with _SHAPES_LOCK:
        models = _SHAPES.get(owner)
        if models is None:
            models = _SHAPES[owner] = ShapeModels(schema)
    return models.model(node)
