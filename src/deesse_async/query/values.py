"""Type checks for values that callers put in filters (the write path uses pydantic)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from ..compile.schema import Kind

__all__ = ["coerce_value"]


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {type(v).__name__}")
    return v


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"expected an integer, got {type(v).__name__}")
    return v


def _float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise TypeError(f"expected a number, got {type(v).__name__}")
    return float(v)


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"expected True or False, got {type(v).__name__}")
    return v


def _datetime(v: Any) -> dt.datetime:
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v)
    if not isinstance(v, dt.datetime):
        raise TypeError(f"expected a datetime, got {type(v).__name__}")
    return v.replace(tzinfo=dt.UTC) if v.tzinfo is None else v.astimezone(dt.UTC)


def _date(v: Any) -> dt.date:
    if isinstance(v, str):
        v = dt.date.fromisoformat(v)
    if isinstance(v, dt.datetime) or not isinstance(v, dt.date):
        raise TypeError(f"expected a date, got {type(v).__name__}")
    return v


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
    "json": lambda v: v,
}


def coerce_value(kind: Kind, value: Any) -> Any:
    """Check ``value`` fits a column of ``kind``; raises TypeError/ValueError if not.

    >>> coerce_value("int", 3)
    3
    """
    return _COERCE[kind](value)
