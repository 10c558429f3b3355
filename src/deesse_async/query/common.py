"""Pieces both strategies share: binds, ordering, selections, key sets per dialect."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ..compile.schema import CompiledCollection, Kind, RelationInfo, Schema
from ..compile.values import coerce_value, value_kind
from ..dialects import CompiledSQL, Dialect, compile_sql
from ..drivers.base import Codecs
from ..errors import QueryError
from .filters import FilterCompiler
from .options import Filter, QueryNode, Slot, is_reserved, parse_where, show

__all__ = ["KEYS_PARAM", "PlanContext", "is_internal", "key_filter", "order_expressions"]

KEYS_PARAM = "__keys"


def is_internal(name: str) -> bool:
    """A bind the library fills itself (literal values, constants, parent key sets)."""
    return is_reserved(name)


@dataclass
class PlanContext:
    """What planning needs: the schema, the dialect, and the predefined filters."""

    schema: Schema
    dialect: Dialect
    codecs: Codecs
    predefined: dict[int, Filter | None] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)  # slot key -> encoded value

    def compiler(self) -> FilterCompiler:
        """A filter compiler whose binds are named by slot."""
        return FilterCompiler(self.schema, self.bind, self.predefined_filter)

    def bind(self, slot: Slot, type_: Any) -> Any:
        """The bind parameter of a slot; predefined relation filters carry their value."""
        if slot.key in self.constants:
            return sa.bindparam(slot.key, value=self.constants[slot.key], type_=type_)
        return sa.bindparam(slot.key, type_=type_)

    def compile(self, statement: Any) -> CompiledSQL:
        """Compile for the dialect; literal values inside caller expressions (RAW,
        extras) are encoded like column values (a datetime as the backend stores it)."""
        compiled = compile_sql(statement, self.dialect)
        values = dict(compiled.values)
        for name, value in compiled.values.items():
            if value is None or is_internal(name):
                continue
            try:
                kind = _type_kind(compiled.types.get(name)) or value_kind(value)
                if kind is not None:
                    values[name] = self.codecs.encode(kind, coerce_value(kind, value))
            except (TypeError, ValueError) as exc:
                raise QueryError(
                    f"a literal value in a RAW/extras/order_by expression: {show(value)} ({exc})"
                ) from None
        return CompiledSQL(compiled.sql, compiled.names, values, compiled.types)

    def predefined_filter(self, rel: RelationInfo) -> Filter | None:
        """A relation's predefined ``where``, parsed once (its values are constants)."""
        if rel.where is None:
            return None
        if id(rel) not in self.predefined:
            prefix = f"r{len(self.predefined)}_"
            f, values = parse_where(
                self.schema, rel.target, rel.where, f"relation {rel.name!r}.where", prefix=prefix
            )
            for key, (value, kind) in values.items.items():
                self.constants[key] = self.codecs.encode(kind, value) if kind else value
            self.predefined[id(rel)] = f
        return self.predefined[id(rel)]


def order_expressions(node: QueryNode, table: sa.FromClause) -> list[Any]:
    """The level's ORDER BY: the caller's order, then the primary key as tiebreak.

    The tiebreak makes every result deterministic (and equal across strategies).
    """
    if callable(node.order_by):
        given = node.order_by(table)
        exprs = list(given) if isinstance(given, list | tuple) else [given]
    else:
        exprs = [table.c[c].desc() if desc else table.c[c].asc() for c, desc in node.order_by]
    return [*exprs, table.c.id.asc()]


def selected(node: QueryNode, table: sa.FromClause) -> list[Any]:
    """Selected columns, then extras (labelled with their names)."""
    out: list[Any] = [table.c[c] for c in node.columns]
    for name, build in node.extras:
        expr = build(table)
        if not isinstance(expr, sa.ColumnElement):
            raise QueryError(
                f"extras.{name}: the callable returned {type(expr).__name__}, "
                "not a SQLAlchemy expression"
            )
        out.append(expr.label(name))
    return out


# SQLAlchemy type of an extra's expression -> how its value is decoded (first match wins:
# Double is a Float, BigInteger an Integer).
_TYPE_KINDS: tuple[tuple[type[Any], Kind], ...] = (
    (sa.Boolean, "bool"),
    (sa.DateTime, "datetime"),
    (sa.Date, "date"),
    (sa.Float, "float"),
    (sa.Integer, "int"),
    (sa.Uuid, "uuid"),
    (sa.JSON, "json"),
    (sa.String, "str"),
)


def _type_kind(type_: Any) -> Kind | None:
    return next((k for t, k in _TYPE_KINDS if isinstance(type_, t)), None)


def extra_kinds(node: QueryNode, cc: CompiledCollection) -> list[Kind | None]:
    """Decoding kind of each extra, from the SQLAlchemy type of its expression.

    So that ``t.c.id > 5`` is a ``bool`` on SQLite and MySQL too (they return 1/0), in
    both strategies. An expression of unknown type is passed through as it comes.
    """
    out: list[Kind | None] = []
    for _, build in node.extras:
        out.append(_type_kind(getattr(build(cc.table), "type", None)))
    return out


def top_level(
    stmt: Any, node: QueryNode, table: sa.FromClause, compiler: FilterCompiler, ctx: PlanContext
) -> Any:
    """The top level's WHERE, ORDER BY, LIMIT (1 for find_first) and OFFSET."""
    if node.where is not None:
        stmt = stmt.where(compiler.compile(node.where, ctx.schema[node.slug], table))
    stmt = stmt.order_by(*order_expressions(node, table))
    if node.single:
        stmt = stmt.limit(1)
    elif node.limit is not None:
        stmt = stmt.limit(limit_bind(node.limit, ctx))
    if node.offset is not None:
        stmt = stmt.offset(limit_bind(node.offset, ctx))
    return stmt


def limit_bind(slot: Slot | None, ctx: PlanContext) -> Any:
    """A LIMIT/OFFSET bind parameter (an integer slot) or None."""
    # BIGINT: asyncpg would send an Integer as int4 and refuse a limit over 2**31 - 1.
    return None if slot is None else ctx.bind(slot, sa.BigInteger())


def column_types(cc: CompiledCollection, columns: Sequence[str]) -> list[Any]:
    """SQLAlchemy types of a collection's columns."""
    return [cc.table.c[c].type for c in columns]


def key_filter(dialect: Dialect, columns: Sequence[Any], kinds: Sequence[Kind], param: str) -> Any:
    """``columns IN <the parent keys bound as one parameter>``.

    One parameter whatever the number of parents, so the statement is compiled once and
    no bind-parameter limit applies: PostgreSQL binds an array (``= ANY($1)``, composite
    keys through ``unnest``), SQLite a JSON array read with ``json_each``, MySQL/MariaDB
    a JSON array read with ``JSON_TABLE``.
    """
    if dialect.name == "postgresql":
        arrays = [
            sa.bindparam(f"{param}_{i}", type_=postgresql.ARRAY(c.type))
            for i, c in enumerate(columns)
        ]
        if len(columns) == 1:
            return columns[0] == sa.any_(arrays[0])
        return sa.tuple_(*columns).in_(sa.select(*(sa.func.unnest(a) for a in arrays)))
    if dialect.name == "sqlite":
        each = sa.func.json_each(sa.bindparam(param)).table_valued("value")
        if len(columns) == 1:
            return columns[0].in_(sa.select(each.c.value))
        parts = [sa.func.json_extract(each.c.value, f"$[{i}]") for i in range(len(columns))]
        return sa.tuple_(*columns).in_(sa.select(*parts))
    return _mysql_key_filter(columns, kinds, param)


_MYSQL_KEY_TYPES: dict[Kind, str] = {
    "int": "BIGINT",
    "uuid": "CHAR(32)",
    "str": "VARCHAR(768)",
    "date": "DATE",
    "datetime": "DATETIME(6)",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "json": "JSON",
}


def _mysql_key_filter(columns: Sequence[Any], kinds: Sequence[Kind], param: str) -> Any:
    single = len(columns) == 1
    defs = ", ".join(
        f"k{i} {_MYSQL_KEY_TYPES[k]} PATH '$" + ("" if single else f"[{i}]") + "'"
        for i, k in enumerate(kinds)
    )
    names = ", ".join(f"jt.k{i}" for i in range(len(columns)))
    keys = sa.text(
        f"SELECT {names} FROM JSON_TABLE(:{param}, '$[*]' COLUMNS ({defs})) AS jt"
    ).bindparams(sa.bindparam(param))
    target = columns[0] if single else sa.tuple_(*columns)
    return target.in_(keys)


def encode_keys(dialect: Dialect, keys: Sequence[Any], param: str) -> dict[str, Any]:
    """The bound value(s) for ``key_filter`` from raw driver keys.

    A key is the value itself for a one-column key, a tuple for a composite key.
    """
    composite = bool(keys) and isinstance(keys[0], tuple)
    if dialect.name == "postgresql":
        if not composite:
            return {f"{param}_0": list(keys)}
        return {f"{param}_{i}": [k[i] for k in keys] for i in range(len(keys[0]))}
    values = [list(k) for k in keys] if composite else list(keys)
    return {param: json.dumps(values, default=_json_default)}


def _json_default(value: Any) -> Any:
    # Raw key values are ints or strings on SQLite/MySQL; anything else (dates) as text.
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
