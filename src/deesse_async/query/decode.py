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
from ..compile.schema import Kind, Schema
from .common import extra_kinds
from .options import QueryNode

__all__ = ["JSON_DECODERS", "json_row_decoder"]


def _datetime(value: Any) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
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
    names = [*node.columns, *(n for n, _ in node.extras), *(n for n, _ in node.relations)]
    steps: list[tuple[int, Callable[[Any], Any]]] = []
    kinds = [*(cc.columns[c].kind for c in node.columns), *extra_kinds(node, cc)]
    for i, kind in enumerate(kinds):
        fn = JSON_DECODERS[kind] if kind else None
        if fn is not None:
            steps.append((i, fn))
    offset = len(node.columns) + len(node.extras)
    for i, (_, child) in enumerate(node.relations, offset):
        steps.append((i, json_row_decoder(child, schema)))

    def row(values: list[Any]) -> Row:
        for i, fn in steps:
            v = values[i]
            if v is not None or i >= offset:
                values[i] = fn(v)
        return dict(zip(names, values, strict=True))

    if node.single:
        return lambda data: None if data is None else row(data)
    return lambda data: [] if data is None else [row(r) for r in data]
