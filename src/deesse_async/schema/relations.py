"""Explicit relations, as in Drizzle's ``defineRelations``: ``one``, ``many``, ``through``.

Plain data: ``compile/explicit.py`` checks them against the schema and adds them to
the relation graph next to the relations of ``relation(...)`` fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from ..errors import ConfigError

__all__ = ["RelationSpec", "Relations", "Through", "define_relations", "many", "one", "through"]

Columns = str | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Through:
    """A junction: ``from_`` columns match the source's key, ``to`` the target's."""

    table: str
    from_: tuple[str, ...]
    to: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RelationSpec:
    """One declared relation (``one(...)`` or ``many(...)``)."""

    cardinality: Literal["one", "many"]
    target: str
    from_: tuple[str, ...] | None
    to: tuple[str, ...] | None
    through: Through | None
    optional: bool
    alias: str | None
    where: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Relations:
    """The result of ``define_relations``: collection slug -> relation name -> spec."""

    by_source: Mapping[str, Mapping[str, RelationSpec]]


def _columns(value: Any, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, tuple | list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{what} must be a column name or a tuple of column names, got {value!r}")


def through(table: str, from_: Columns, to: Columns) -> Through:
    """A junction table (a collection slug, or the junction of a ``many=True`` field).

    >>> through("users_to_groups", from_="user_id", to="group_id").to
    ('group_id',)
    """
    src, dst = _columns(from_, "through(from_=)"), _columns(to, "through(to=)")
    if src is None or dst is None:
        raise ConfigError("through() needs both from_= and to=")
    return Through(table, src, dst)


def _spec(
    cardinality: Literal["one", "many"],
    target: str,
    from_: Columns | None,
    to: Columns | None,
    through: Through | None,
    optional: bool,
    alias: str | None,
    where: Mapping[str, Any] | None,
) -> RelationSpec:
    if not isinstance(target, str) or not target:
        raise ConfigError(f"{cardinality}() needs the target collection's slug, got {target!r}")
    if (from_ is None) != (to is None):
        raise ConfigError(f"{cardinality}({target!r}): give both from_= and to=, or neither")
    if through is not None and not isinstance(through, Through):
        raise ConfigError(f"{cardinality}({target!r}): through= takes through(...)")
    if where is not None and not isinstance(where, Mapping):
        raise ConfigError(f"{cardinality}({target!r}): where= takes a where-dict")
    return RelationSpec(
        cardinality,
        target,
        _columns(from_, "from_="),
        _columns(to, "to="),
        through,
        optional,
        alias,
        MappingProxyType(dict(where)) if where is not None else None,
    )


def one(
    target: str,
    from_: Columns | None = None,
    to: Columns | None = None,
    *,
    through: Through | None = None,
    optional: bool = True,
    alias: str | None = None,
    where: Mapping[str, Any] | None = None,
) -> RelationSpec:
    """A relation to at most one row of ``target`` (``from_`` columns -> ``to`` columns).

    >>> one("users", from_="invited_by", to="id").cardinality
    'one'
    """
    return _spec("one", target, from_, to, through, optional, alias, where)


def many(
    target: str,
    from_: Columns | None = None,
    to: Columns | None = None,
    *,
    through: Through | None = None,
    alias: str | None = None,
    where: Mapping[str, Any] | None = None,
) -> RelationSpec:
    """A relation to any number of rows of ``target``.

    Without ``from_``/``to`` it is the reverse of the single ``one`` relation from
    ``target`` back to this collection (``alias=`` picks one when there are several).

    >>> many("posts", from_="id", to="owner_id").target
    'posts'
    """
    return _spec("many", target, from_, to, through, True, alias, where)


def define_relations(**collections: Mapping[str, RelationSpec]) -> Relations:
    """Declare relations per collection slug, for ``define_config(relations=...)``.

    >>> r = define_relations(users={"posts": many("posts", from_="id", to="owner_id")})
    >>> list(r.by_source["users"])
    ['posts']
    """
    out: dict[str, Mapping[str, RelationSpec]] = {}
    for slug, specs in collections.items():
        if not isinstance(specs, Mapping):
            raise ConfigError(f"define_relations({slug}=...) takes a dict of name -> one()/many()")
        for name, spec in specs.items():
            if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
                raise ConfigError(
                    f"define_relations: {slug}.{name!r} must be an identifier (letters, digits, "
                    "'_'), e.g. 'posts'"
                )
            if not isinstance(spec, RelationSpec):
                raise ConfigError(
                    f"define_relations: {slug}.{name} must be one(...) or many(...), got {spec!r}"
                )
        out[slug] = MappingProxyType(dict(specs))
    return Relations(MappingProxyType(out))
