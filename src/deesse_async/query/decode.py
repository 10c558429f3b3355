"""JSON built by the database -> rows with the declared Python types.

The lateral strategy receives related rows as positional JSON arrays; each value is
turned back into what the driver would have returned for the column (aware UTC
``datetime``, ``date``, ``uuid.UUID``, ``bool``, ``float``, ``Decimal``), so both
strategies give equal rows.

A decimal goes into the JSON as text (``json_form``): as a JSON number, ``json.loads``
would make it a float and lose digits (0.10, 12345678901234567890.12).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from .._types import Row
from ..compile.limits import parse_stored_datetime
from ..compile.schema import Kind, Schema
from ..dialects import Dialect
from ..drivers.base import Codecs, decode_decimal, row_builder
from .clauses import value_kinds, value_names
from .options import QueryNode

__all__ = ["JSON_DECODERS", "json_form", "json_row_decoder"]


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
    "decimal": decode_decimal,  # text (json_form); SQLite's codecs read it their way
}


def json_form(dialect: Dialect, kind: Kind | None, expr: Any) -> Any:
    """A value of kind ``kind`` as it goes into a JSON row.

    The dialect's form (``Dialect.json_value``), except a decimal: text, so that it
    never passes through a float on its way out of the JSON. The text of the dialect's
    float form: the numeric's own digits and scale on PostgreSQL and MariaDB, and on
    SQLite (where a NUMERIC value is a REAL) the double's 17 significant digits.
    """
    if kind == "decimal":
        return sa.cast(dialect.json_value("float", expr), sa.Text())
    return dialect.json_value(kind, expr)


def json_row_decoder(node: QueryNode, schema: Schema, codecs: Codecs) -> Callable[[Any], Any]:
    """Decoder of one relation's JSON (a list of rows, a row, or null) for ``node``."""
    cc = schema[node.slug]
    names = [*value_names(node), *(n for n, _ in node.relations)]
    kinds = value_kinds(node, cc)
    table = {**JSON_DECODERS, **codecs.json_decoders} if codecs.json_decoders else JSON_DECODERS
    decoders: list[Callable[[Any], Any] | None] = [table[k] if k else None for k in kinds]
    children = [json_row_decoder(child, schema, codecs) for _, child in node.relations]
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
