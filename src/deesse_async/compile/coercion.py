"""Type checks for values that callers put in filters (the write path uses pydantic).

The coercion rule is the write models' (``compile/models.py``): a value must already have
its column's type; only timestamp, date and uuid columns also take their ISO / canonical
string (the form JSON carries them in). ``"3"`` is not an integer, ``"yes"`` not a
boolean, ``1`` not ``True``. Range limits come from ``compile/limits.py``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from .limits import (
    check_date,
    check_float,
    check_int,
    check_json,
    check_text,
    utc_datetime,
)
from .schema import Kind

__all__ = ["coerce_value", "type_kind", "value_kind"]


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {type(v).__name__}")
    return check_text(v)


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"expected an integer, got {type(v).__name__}")
    return check_int(v)


def _float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise TypeError(f"expected a number, got {type(v).__name__}")
    return check_float(v)


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"expected True or False, got {type(v).__name__}")
    return v


def _datetime(v: Any) -> dt.datetime:
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v)
    if not isinstance(v, dt.datetime):
        raise TypeError(f"expected a datetime, got {type(v).__name__}")
    return utc_datetime(v)


def _date(v: Any) -> dt.date:
    if isinstance(v, str):
        v = dt.date.fromisoformat(v)
    if isinstance(v, dt.datetime) or not isinstance(v, dt.date):
        raise TypeError(f"expected a date, got {type(v).__name__}")
    return check_date(v)


def _uuid(v: Any) -> uuid.UUID:
    if isinstance(v, str):
        return uuid.UUID(v)
    if not isinstance(v, uuid.UUID):
        raise TypeError(f"expected a UUID, got {type(v).__name__}")
    return v


_COERCE: dict[Kind, Callable[[Any], Any]] = {
    "str": _str,
    "int": _int,
    "float": _float,
    "bool": _bool,
    "datetime": _datetime,
    "date": _date,
    "uuid": _uuid,
    "json": check_json,
}


def coerce_value(kind: Kind, value: Any) -> Any:
    """Check ``value`` fits a column of ``kind``; raises TypeError/ValueError if not.

    >>> coerce_value("int", 3)
    3
    """
    return _COERCE[kind](value)


def value_kind(value: Any) -> Kind | None:
    """The kind of a value that has no column (placeholders and literals in RAW/extras).

    ``None``: bound as it is (``Decimal``, ``bytes``). Raises ``TypeError`` for a type no
    backend binds (a set, an object).

    >>> value_kind(True), value_kind(3), value_kind({"a": 1})
    ('bool', 'int', 'json')
    """
    for types, kind in _KINDS_BY_TYPE:
        if isinstance(value, types):
            return kind
    if isinstance(value, decimal.Decimal | bytes):
        return None
    raise TypeError(f"{type(value).__name__} is not a value that can be bound to SQL")


# Order matters: bool is an int, datetime a date.
_KINDS_BY_TYPE: tuple[tuple[type | tuple[type, ...], Kind], ...] = (
    (bool, "bool"),
    (int, "int"),
    (float, "float"),
    (str, "str"),
    (dt.datetime, "datetime"),
    (dt.date, "date"),
    (uuid.UUID, "uuid"),
    ((dict, list, tuple), "json"),
)


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


def type_kind(type_: Any) -> Kind | None:
    """The kind a SQLAlchemy type's values decode as (None: passed through as they come)."""
    return next((k for t, k in _TYPE_KINDS if isinstance(type_, t)), None)
