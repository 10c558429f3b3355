"""The coercion rule: how a value given for a column becomes that column's Python type.

One rule for every path a value takes: create/update data (the write models of
``compile/models.py`` call these functions), ids given to read/update/delete, where
filters (``find_many``, ``count``, ``in`` lists), a prepared query's placeholder values, and
``limit``/``offset``. A value that already has the column's type is taken as it is (the
fast path: one ``type()`` check). Anything else is converted as pydantic's lax mode
converts it, which is what FastAPI does with a request: ``"7"`` -> 7, ``7.0`` -> 7,
``"1.5"`` -> 1.5, ``"true"``/``"yes"``/``"1"``/``1`` -> True, an ISO 8601 string or a Unix
time -> a datetime, a UUID's text -> a UUID. Two exceptions: a boolean is never a number
(``True`` is not 1), and bytes are never converted. What cannot convert raises
``CoercionError`` (a ``ValueError``) naming the expected type and the value; the range
checks of ``compile/limits.py`` then apply to the converted value.
"""

from __future__ import annotations

import datetime as dt
import decimal
import reprlib
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from .limits import (
    check_date,
    check_float,
    check_int,
    check_json,
    check_text,
    utc_datetime,
)
from .schema import Kind

__all__ = ["CoercionError", "coerce_value", "show", "type_kind", "value_kind"]


class CoercionError(ValueError):
    """A value that does not convert to its column's type; ``type`` is pydantic's error
    type for it (``int_parsing``, ``bool_type``, ...), used by the write models."""

    def __init__(self, message: str, type_: str) -> None:
        super().__init__(message)
        self.type = type_


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 60, 60


def show(value: Any) -> str:
    """A short repr of a caller's value for a message (values may nest thousands deep)."""
    return _REPR.repr(value)


# The lax conversions, pydantic's own (built once).
_LAX: dict[Kind, TypeAdapter[Any]] = {
    "int": TypeAdapter(int),
    "float": TypeAdapter(float),
    "bool": TypeAdapter(bool),
    "datetime": TypeAdapter(dt.datetime),
    "date": TypeAdapter(dt.date),
    "uuid": TypeAdapter(uuid.UUID),
    "str": TypeAdapter(str),
    "decimal": TypeAdapter(decimal.Decimal),
}
_WHAT: dict[Kind, str] = {
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "datetime": "a datetime",
    "date": "a date",
    "uuid": "a UUID",
    "str": "a string",
    "decimal": "a decimal number",
}
_NUMBERS: frozenset[Kind] = frozenset(("int", "float", "decimal"))


def _lax(kind: Kind, value: Any) -> Any:
    """``value`` converted to ``kind`` by pydantic's lax mode, or ``CoercionError``."""
    what = _WHAT[kind]
    if isinstance(value, bytes | bytearray | memoryview):
        raise CoercionError(
            f"expected {what}, got {show(value)} (bytes are not converted)", f"{kind}_type"
        )
    if isinstance(value, bool) and kind in _NUMBERS:
        raise CoercionError(
            f"expected {what}, got {value} (a boolean is not a number)", f"{kind}_type"
        )
    try:
        return _LAX[kind].validate_python(value)
    except PydanticValidationError as exc:
        error = exc.errors(include_url=False)[0]
        type_ = error["type"]
        if type_.endswith("_type"):
            reason = ""
        else:
            reason = _REASONS[type_] if type_ in _REASONS else _reason(error["msg"])
        hint = _HINTS.get(kind, "") if isinstance(value, str) or kind == "bool" else ""
        raise CoercionError(
            f"expected {what}, got {show(value)}{reason}{hint}", error["type"]
        ) from None


_REASONS = {
    "date_from_datetime_inexact": " (it has a time of day)",
    "bool_parsing": "",  # "unable to interpret input": the hint says what would do
}
_HINTS: dict[Kind, str] = {
    "bool": "; use true/false, yes/no, on/off or 1/0",
    "datetime": "; use ISO 8601 such as '2024-05-06T07:08:09+00:00'",
    "date": "; use ISO 8601 such as '2024-05-06'",
}


def _reason(msg: str) -> str:
    # pydantic's "Input should be a valid integer, unable to parse string as an integer":
    # the part after the comma (the first part restates the type).
    if msg.startswith("Input should be"):
        msg = msg.partition(", ")[2]
    msg = msg.removeprefix("got ")
    return f" ({msg})" if msg else ""


def _str(v: Any) -> str:
    if type(v) is not str:
        v = _lax("str", v)
    return check_text(v)


def _int(v: Any) -> int:
    if type(v) is not int:
        v = _lax("int", v)
    return check_int(v)


def _float(v: Any) -> float:
    if type(v) is not float and type(v) is not int:
        v = _lax("float", v)
    return check_float(v)


def _bool(v: Any) -> bool:
    if type(v) is bool:
        return v
    out: bool = _lax("bool", v)
    return out


def _datetime(v: Any) -> dt.datetime:
    if not isinstance(v, dt.datetime):
        v = _lax("datetime", v)
    return utc_datetime(v)


def _date(v: Any) -> dt.date:
    if type(v) is not dt.date:
        v = _lax("date", v)
    return check_date(v)


def _uuid(v: Any) -> uuid.UUID:
    if type(v) is uuid.UUID:
        return v
    out: uuid.UUID = _lax("uuid", v)
    return out


def _decimal(v: Any) -> decimal.Decimal:
    if type(v) is decimal.Decimal:
        return v
    out: decimal.Decimal = _lax("decimal", v)
    return out


_COERCE: dict[Kind, Callable[[Any], Any]] = {
    "str": _str,
    "int": _int,
    "float": _float,
    "bool": _bool,
    "datetime": _datetime,
    "date": _date,
    "uuid": _uuid,
    "json": check_json,
    "decimal": _decimal,  # a value bound to a sa.Numeric in RAW/extras
}


def coerce_value(kind: Kind, value: Any) -> Any:
    """``value`` as a column of ``kind`` holds it (the coercion rule, module docstring);
    raises ``ValueError`` (``CoercionError`` or a range check's) if it cannot be.

    >>> coerce_value("int", 3), coerce_value("int", "3"), coerce_value("bool", "yes")
    (3, 3, True)
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
# Double is a Float, BigInteger an Integer, Float a Numeric).
_TYPE_KINDS: tuple[tuple[type[Any], Kind], ...] = (
    (sa.Boolean, "bool"),
    (sa.DateTime, "datetime"),
    (sa.Date, "date"),
    (sa.Float, "float"),
    (sa.Numeric, "decimal"),  # Numeric, DECIMAL: asdecimal (type_kind)
    (sa.Integer, "int"),
    (sa.Uuid, "uuid"),
    (sa.JSON, "json"),
    (sa.String, "str"),
)


def type_kind(type_: Any) -> Kind | None:
    """The kind a SQLAlchemy type's values decode as (None: passed through as they come).

    A ``Numeric(asdecimal=False)`` is passed through: SQLAlchemy makes it a float, but
    PostgreSQL's and MariaDB's drivers return a ``Decimal`` for it.
    """
    kind = next((k for t, k in _TYPE_KINDS if isinstance(type_, t)), None)
    if kind == "decimal" and not type_.asdecimal:
        return None
    return kind
