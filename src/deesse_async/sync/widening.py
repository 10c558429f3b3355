"""Type widening: does every value of an old SQL type fit a new one unchanged?

Pure functions over sqlglot ``DataType`` trees, used by the sentinel to judge a column
type change (``widens``). What differs per database (a bare DECIMAL's precision, the size
of MySQL's TEXT types) comes from the dialect's ``TypeRules``.
"""

from __future__ import annotations

from typing import Any, Final

from sqlglot import exp

from ..dialects.sync_rules import TypeRules

__all__ = ["widens"]

_T = exp.DataType.Type

_INT_TYPES: Final[dict[Any, tuple[int, bool]]] = {
    getattr(_T, name): (bits, name.startswith("U"))
    for bits, names in (
        (8, "TINYINT UTINYINT"),
        (16, "SMALLINT SMALLSERIAL USMALLINT"),
        (24, "MEDIUMINT UMEDIUMINT"),
        (32, "INT SERIAL UINT"),
        (64, "BIGINT BIGSERIAL UBIGINT"),
    )
    for name in names.split()
}
_FIXED_CHAR: Final = frozenset({_T.CHAR, _T.NCHAR})
_VAR_CHAR: Final = frozenset({_T.BPCHAR, _T.VARCHAR, _T.NVARCHAR, _T.TEXT, _T.TINYTEXT})
_STRING_TYPES: Final = _FIXED_CHAR | _VAR_CHAR | {_T.MEDIUMTEXT, _T.LONGTEXT}
_UNBOUNDED: Final = float("inf")


def _params(dtype: exp.DataType) -> list[int] | None:
    values: list[int] = []
    for param in dtype.expressions:
        literal = param.this if isinstance(param, exp.DataTypeParam) else param
        if not (isinstance(literal, exp.Literal) and literal.is_int):
            return None
        values.append(int(literal.name))
    return values


def _float_mantissa(dtype: exp.DataType) -> int | None:
    params = _params(dtype)
    # MySQL FLOAT(M,D) rounds to D decimals, so it is not treated as a plain float.
    if dtype.this not in (_T.FLOAT, _T.DOUBLE) or params is None or len(params) > 1:
        return None
    if params:
        return 24 if params[0] <= 24 else 53
    return 24 if dtype.this == _T.FLOAT else 53


def _decimal_digits(dtype: exp.DataType, rules: TypeRules) -> tuple[float, int] | None:
    """Digits before and after the point of a DECIMAL; unbounded precision is infinite."""
    params = _params(dtype)
    if dtype.this != _T.DECIMAL or params is None or len(params) > 2:
        return None
    if not params:
        # MySQL defaults DECIMAL to (10, 0); PostgreSQL and SQLite do not bound it.
        return rules.decimal_default or (_UNBOUNDED, 0)
    scale = params[1] if len(params) == 2 else 0
    return params[0] - scale, scale


def _int_rule(old: exp.DataType, new: exp.DataType, rules: TypeRules) -> bool | None:
    if old.this not in _INT_TYPES:
        return None
    # Compare the bits that hold the absolute value: a sign costs one of them.
    width, unsigned = _INT_TYPES[old.this]
    bits = width - (not unsigned)
    target, mantissa = _INT_TYPES.get(new.this), _float_mantissa(new)
    if target is not None:
        # A signed source may hold negatives that an unsigned target rejects.
        return target[0] - (not target[1]) >= bits and (unsigned or not target[1])
    if mantissa is not None:
        return bits <= mantissa
    digits = _decimal_digits(new, rules)
    return digits is not None and digits[0] >= len(str(2**bits))


def _float_rule(old: exp.DataType, new: exp.DataType, rules: TypeRules) -> bool | None:
    source, target = _float_mantissa(old), _float_mantissa(new)
    return None if source is None else target is not None and target >= source


def _decimal_rule(old: exp.DataType, new: exp.DataType, rules: TypeRules) -> bool | None:
    if old.this != _T.DECIMAL:
        return None
    source, target = _decimal_digits(old, rules), _decimal_digits(new, rules)
    if source is None or target is None:
        return False
    return target[0] >= source[0] and target[1] >= source[1]


def _text_capacity(dtype: exp.DataType, rules: TypeRules) -> float:
    sized = rules.text_chars.get(getattr(dtype.this, "name", ""))
    if sized is not None:
        return sized
    params = _params(dtype)
    if params is None:
        return 0  # e.g. VARCHAR(MAX) is unknown, so it never counts as wider.
    if params:
        return params[0]
    return 1 if dtype.this in _FIXED_CHAR else _UNBOUNDED


def _text_rule(old: exp.DataType, new: exp.DataType, rules: TypeRules) -> bool | None:
    if old.this not in _STRING_TYPES:
        return None
    # CHAR pads values, so VARCHAR -> CHAR changes them even when long enough.
    padded = new.this in _FIXED_CHAR and old.this not in _FIXED_CHAR
    return (
        new.this in _STRING_TYPES
        and not padded
        and _text_capacity(new, rules) >= _text_capacity(old, rules)
    )


def _enum_rule(old: exp.DataType, new: exp.DataType, rules: TypeRules) -> bool | None:
    if old.this not in (_T.ENUM, _T.SET):
        return None
    values = {value.name for value in new.expressions}
    return new.this == old.this and {value.name for value in old.expressions} <= values


def widens(old: exp.DataType, new: exp.DataType, rules: TypeRules) -> bool:
    """True when every value of ``old`` fits ``new`` unchanged (TIMESTAMP->TIMESTAMPTZ does not)."""
    checks = (_int_rule, _float_rule, _decimal_rule, _text_rule, _enum_rule)
    verdicts = (check(old, new, rules) for check in checks)
    return next((verdict for verdict in verdicts if verdict is not None), False)
