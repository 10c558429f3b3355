"""``PlanContext``: what planning one database's queries needs, shared by both strategies.

The schema, the ``Dialect`` (asked for every SQL decision that differs by backend), the
driver's codecs, bind parameters named by slot, and the relations' predefined filters
(parsed once, their values kept as constants).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..compile.coercion import coerce_value, type_kind, value_kind
from ..compile.schema import RelationInfo, Schema
from ..dialects import CompiledSQL, Dialect, compile_sql
from ..drivers.base import Codecs
from ..errors import QueryError
from .filters import FilterCompiler
from .options import Filter, Slot, is_reserved, parse_where, show

__all__ = ["PlanContext"]


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

    def limit_bind(self, slot: Slot | None) -> Any:
        """A LIMIT/OFFSET bind parameter (an integer slot) or None."""
        # BIGINT: asyncpg would send an Integer as int4 and refuse a limit over 2**31 - 1.
        return None if slot is None else self.bind(slot, sa.BigInteger())

    def compile(self, statement: Any) -> CompiledSQL:
        """Compile for the dialect; literal values inside caller expressions (RAW,
        extras) are encoded like column values (a datetime as the backend stores it)."""
        compiled = compile_sql(statement, self.dialect)
        values = dict(compiled.values)
        for name, value in compiled.values.items():
            if value is None or is_reserved(name):
                continue
            try:
                kind = type_kind(compiled.types.get(name)) or value_kind(value)
                if kind is not None:
                    values[name] = self.codecs.encode(kind, coerce_value(kind, value))
                else:
                    values[name] = self.codecs.encode_literal(value)
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
