"""``find_page``: keyset pagination with opaque tokens.

A page is the first ``first`` rows after the token's position in the order
(``order_by``, then the primary key); one row more is read to tell ``has_more``. The
token is the last row's key values, made URL-safe: ``base64url(JSON {"v": version,
"o": digest of the collection and the order, "k": [values]})``. It carries no secret and
needs none: a forged token only chooses where a page starts, and the filters and access
rules of the query still decide which rows it may show. A token made for another
collection or order is refused (``QueryError``), as is anything that does not decode.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any, TypedDict

from .._types import Row
from ..errors import QueryError
from .keyset import KeyColumn, KeysetReader, check_key_value, key_columns
from .options import show
from .planner import Query

__all__ = ["MAX_PAGE_SIZE", "Page", "decode_token", "encode_token", "run_page"]

MAX_PAGE_SIZE = 1000
TOKEN_VERSION = 1
MAX_TOKEN_LENGTH = 4096  # base64 characters; a real token is far shorter


class Page(TypedDict):
    """What ``find_page`` returns."""

    items: list[Row]
    next: str | None
    has_more: bool


def _digest(slug: str, keys: Sequence[KeyColumn]) -> str:
    spec = slug + "|" + ",".join(f"{k.name}:{'desc' if k.desc else 'asc'}" for k in keys)
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """A key value as JSON carries it (the column's kind turns it back, exactly)."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def encode_token(slug: str, keys: Sequence[KeyColumn], values: Sequence[Any]) -> str:
    """The opaque token of the position after a row with key values ``values``.

    >>> from deesse_async.query.keyset import KeyColumn
    >>> keys = (KeyColumn("id", False, False, "int"),)
    >>> decode_token(encode_token("users", keys, [7]), "users", keys)
    [7]
    """
    payload = {"v": TOKEN_VERSION, "o": _digest(slug, keys), "k": [_plain(v) for v in values]}
    raw = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _bad(why: str) -> QueryError:
    return QueryError(
        f"not a page token of this query ({why}); pass the 'next' of a previous page of the "
        "same find_page, or None for the first page",
        path="after",
    )


def decode_token(token: Any, slug: str, keys: Sequence[KeyColumn]) -> list[Any]:
    """The key values a token holds, checked against this query's order (``QueryError``
    when it is not a token of this collection and order)."""
    if not isinstance(token, str):
        raise QueryError(f"expected a page token (str) or None, got {show(token)}", path="after")
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise _bad("empty" if not token else "too long")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise _bad("it does not decode") from None
    if not isinstance(payload, dict) or payload.get("v") != TOKEN_VERSION or "o" not in payload:
        raise _bad("unknown format or version")
    if payload.get("o") != _digest(slug, keys):
        order = ", ".join(f"{k.name} {'desc' if k.desc else 'asc'}" for k in keys)
        raise QueryError(
            "this page token was made for another collection or order_by; a token only "
            f"continues the ordering it came from (here: {slug!r} by {order})",
            path="after",
        )
    values = payload.get("k")
    if not isinstance(values, list) or len(values) != len(keys):
        raise _bad("wrong number of key values")
    return [
        check_key_value(k, v, f"after[{i}]")
        for i, (k, v) in enumerate(zip(keys, values, strict=True))
    ]


def check_first(first: Any) -> int:
    """``first``: an int in [1, ``MAX_PAGE_SIZE``]."""
    if isinstance(first, bool) or not isinstance(first, int):
        raise QueryError(f"expected a positive integer, got {show(first)}", path="first")
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise QueryError(
            f"must be between 1 and {MAX_PAGE_SIZE}, got {first}; read more rows with stream()",
            path="first",
        )
    return first


async def run_page(q: Query, first: int, after: str | None) -> Page:
    """One page of ``q``: up to ``first`` rows after the position of ``after``."""
    keys = key_columns(q.planner.schema, q.node, "find_page")
    last = None if after is None else decode_token(after, q.node.slug, keys)
    reader = KeysetReader(q, keys)
    await reader.open()
    rows, key_values = await reader.fetch(last, first + 1, first=True)
    has_more = len(rows) > first
    items = rows[:first]
    token = encode_token(q.node.slug, keys, key_values[first - 1]) if has_more else None
    return {"items": items, "next": token, "has_more": has_more}
