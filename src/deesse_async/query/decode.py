"""JSON built by the database -> rows with the declared Python types.

The lateral strategy receives related rows as positional JSON arrays; each value is
turned back into what the driver would have returned for the column (aware UTC
``datetime``, ``date``, ``uuid.UUID``, ``bool``, ``float``), so both strategies give
equal rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from .._types import Row
from ..compile.limits import parse_stored_datetime
from ..compile.schema import Kind, Schema
from ..drivers.base import row_builder
from .clauses import value_kinds, value_names
from .options import QueryNode

__all__ = ["JSON_DECODERS", "json_row_decoder"]


# PostgreSQL's JSON spells its infinite timestamps out; read them as the driver does.
_INFINITE = {"infinity": dt.datetime.max, "-infinity": dt.datetime.min}


def _datetime(value: Any) -> dt.datetime:
    parsed = _INFINITE.get(value) or parse_stored_datetime(value)
    if parsed.tzinfo is None:  # SQLite and MySQL store UTC without an offset
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


JSON_DECODERS: dict[Kind, Callable[[Any], Any] | None] = {
    "str": None,
    "int": None,
    "float": float,  # PostgreSQL writes 5.0 as 5; SQLite sends a 17-digit string
    "bool": bool,  # SQLite and MySQL write 1/0
    "datetime": _datetime,
    "date": dt.date.fromisoformat,
    "uuid": uuid.UUID,  # with dashes (PostgreSQL) or 32 hex digits (SQLite, MySQL)
    "json": None,  # embedded as JSON on every backend
}


def json_row_decoder(node: QueryNode, schema: Schema) -> Callable[[Any], Any]:
    """Decoder of one relation's JSON (a list of rows, a row, or null) for ``node``."""
    cc = schema[node.slug]
    names = [*value_names(node), *(n for n, _ in node.relations)]
    kinds = value_kinds(node, cc)
    decoders: list[Callable[[Any], Any] | None] = [JSON_DECODERS[k] if k else None for k in kinds]
    children = [json_row_decoder(child, schema) for _, child in node.relations]
    build = row_builder(names[: len(decoders)], decoders)
    row: Callable[[Any], Row] = build
    if children:
        names_children = names[len(decoders) :]
        first = len(decoders)

        def with_children(values: list[Any]) -> Row:
            row = build(values)
            for i, (name, fn) in enumerate(zip(names_children, children, strict=True), first):
                row[name] = fn(values[i])
            return row

        row = with_children
    if node.single:
        return lambda data: None if data is None else row(data)
    return lambda data: [] if data is None else [row(r) for r in data]
