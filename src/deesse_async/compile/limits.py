"""What every backend can store and give back unchanged, checked on writes and filters.

One set of rules for the write models (``models.py``) and the filter values
(``compile/coercion.py``), so that a value is accepted or refused the same way on
PostgreSQL, SQLite and MariaDB/MySQL, and never reaches a driver that would choke on it
(``OverflowError``, ``UnicodeEncodeError``) or store something it cannot read back.
Each check raises ``ValueError`` with a message meant for the caller.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "JSON_MAX_DEPTH",
    "check_date",
    "check_float",
    "check_int",
    "check_json",
    "check_text",
    "parse_stored_datetime",
    "utc_datetime",
]

# BIGINT on every backend; SQLite's INTEGER is 64-bit too (a larger int overflows the driver).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# MySQL refuses JSON documents nested deeper than 100 levels; stay well inside it.
JSON_MAX_DEPTH = 64


def check_int(value: int) -> int:
    """``value`` if it fits a 64-bit signed integer."""
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"{value} is outside the 64-bit integer range [-2**63, 2**63 - 1]")
    return value


def check_float(value: float | int) -> float:
    """``value`` as a finite float (NaN and infinities have no portable SQL form)."""
    try:
        out = float(value)
    except OverflowError:
        raise ValueError("number too large for a 64-bit float") from None
    if not math.isfinite(out):
        raise ValueError(f"{out} is not a finite number")
    return out


def check_text(value: str) -> str:
    """``value`` if every backend stores it as given: UTF-8 encodable and no NUL."""
    if "\x00" in value:
        # PostgreSQL cannot store NUL in text and MySQL truncates at it.
        raise ValueError("text may not contain the NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        # A lone surrogate ("\ud800") is not Unicode text: SQLite and MySQL drivers fail.
        bad = value[exc.start : exc.end]
        raise ValueError(
            f"text contains a lone surrogate {bad!r} (not valid Unicode) at index {exc.start}"
        ) from None
    return value


def utc_datetime(value: dt.datetime) -> dt.datetime:
    """``value`` as an aware UTC datetime (naive means UTC), strictly inside the
    representable range.

    ``datetime.min``/``datetime.max`` are refused: PostgreSQL reads them as
    ``-infinity``/``infinity`` and gives back something else, and an offset that
    crosses either end cannot be converted to UTC at all.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    else:
        try:
            value = value.astimezone(dt.UTC)
        except OverflowError:
            raise ValueError(
                f"{value.isoformat()} is outside the supported range once converted to UTC"
            ) from None
    naive = value.replace(tzinfo=None)
    if naive in (dt.datetime.min, dt.datetime.max):
        raise ValueError(
            "datetime.min and datetime.max are not storable (some databases read them as "
            "-infinity/infinity); use a value strictly between 0001-01-01 and "
            "9999-12-31T23:59:59.999999 UTC"
        )
    return value


def check_date(value: dt.date) -> dt.date:
    """``value`` if strictly between ``date.min`` and ``date.max`` (see ``utc_datetime``)."""
    if value in (dt.date.min, dt.date.max):
        raise ValueError(
            "date.min and date.max are not storable (some databases read them as "
            "-infinity/infinity); use a date strictly between 0001-01-01 and 9999-12-31"
        )
    return value


def check_json(value: Any) -> Any:
    """``value`` if it is a JSON document every backend stores and returns unchanged:
    dicts with string keys, lists, strings (``check_text``), finite numbers, ints in the
    64-bit range, booleans and None, nested at most ``JSON_MAX_DEPTH`` levels."""
    _walk_json(value, 0)
    json.dumps(value, allow_nan=False)  # belt and braces: exactly what the encoders do
    return value


def _walk_json(value: Any, depth: int) -> None:
    if depth > JSON_MAX_DEPTH:
        raise ValueError(f"JSON nested deeper than {JSON_MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, int):
        check_int(value)
    elif isinstance(value, float):
        check_float(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"JSON object keys must be strings, got {type(key).__name__}")
            check_text(key)
            _walk_json(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _walk_json(item, depth + 1)
    else:
        raise ValueError(f"{type(value).__name__} is not a JSON value")


_SHORT_YEAR = re.compile(r"^(\d{1,3})-")


def parse_stored_datetime(text: str) -> dt.datetime:
    """``datetime.fromisoformat`` that also reads the unpadded years (``'999-06-01 ...'``)
    that earlier versions wrote to SQLite, so such tables stay readable."""
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        padded = _SHORT_YEAR.sub(lambda m: m.group(1).zfill(4) + "-", text, count=1)
        if padded == text:
            raise
        return dt.datetime.fromisoformat(padded)
