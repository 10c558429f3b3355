"""Collections -> pydantic v2 models: ``<Slug>Create``, ``<Slug>Update``, ``<Slug>Read``.

The create/update models carry every constraint the DSL declares (lengths, ranges,
e-mail, choices, the 64-bit integer range, no NUL in text) so that bad input fails in
pydantic with a field path, before any SQL is sent.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid as uuidlib
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    JsonValue,
    Strict,
    StringConstraints,
    TypeAdapter,
    create_model,
)
from pydantic import Field as PydanticField
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from ..errors import ConfigError
from ..schema.collection import Collection
from ..schema.fields import Field, Integer, Number, Relation, Select, Text
from .coercion import CoercionError, coerce_value
from .limits import (
    INT64_MAX,
    INT64_MIN,
    check_json,
)
from .schema import ColumnInfo, Junction, Kind

__all__ = ["build_models", "field_attribute"]


def _checked(check: Any) -> Any:
    # pydantic turns ValueError into a field error; the checks raise nothing else.
    return AfterValidator(check)


def _as(kind: Kind) -> Any:
    """The coercion rule (``compile/coercion.py``, the filters' too) before pydantic's own
    validation, which then sees the column's type (its ``Strict()`` never refuses) and
    checks the field's constraints (lengths, ranges)."""

    def check(value: Any) -> Any:
        try:
            return coerce_value(kind, value)
        except ValueError as exc:
            type_ = exc.type if isinstance(exc, CoercionError) else "value_error"
            raise PydanticCustomError(type_, "{reason}", {"reason": str(exc)}) from None

    return BeforeValidator(check)


def _int_type(lo: int | None, hi: int | None) -> Any:
    lo = INT64_MIN if lo is None else max(lo, INT64_MIN)
    hi = INT64_MAX if hi is None else min(hi, INT64_MAX)
    # Constraints before the validator, or pydantic's JSON schema shows them as "ge"/"le".
    return Annotated[int, Strict(), annotated_types.Interval(ge=lo, le=hi), _as("int")]


ID_TYPES: dict[Kind, Any] = {
    "int": _int_type(1, None),
    "uuid": Annotated[uuidlib.UUID, _as("uuid")],
}
READ_TYPES: dict[Kind, Any] = {
    "str": str,
    "float": float,
    "int": int,
    "bool": bool,
    "datetime": dt.datetime,
    "date": dt.date,
    "uuid": uuidlib.UUID,
    "json": JsonValue,
    "decimal": decimal.Decimal,  # extras only (no field has this kind)
}


def _write_type(f: Field, kind: Kind) -> Any:
    """The validated Python type of a field's value on create/update."""
    t = f.type
    if isinstance(t, Relation):
        return ID_TYPES[kind]
    if isinstance(t, Text):
        return Annotated[
            str, Strict(), StringConstraints(min_length=t.min, max_length=t.max), _as("str")
        ]
    if isinstance(t, Select):
        return Literal[t.choices]
    if isinstance(t, Integer):
        return _int_type(t.min, t.max)
    if isinstance(t, Number):
        return Annotated[
            float,
            Strict(),  # an int is still accepted: JSON has one number type
            annotated_types.Interval(ge=t.min, le=t.max),
            PydanticField(allow_inf_nan=False),
            _as("float"),
        ]
    by_kind: dict[str, Any] = {
        "email": Annotated[EmailStr, StringConstraints(max_length=320), _as("str")],
        "boolean": Annotated[bool, Strict(), _as("bool")],
        "timestamp": Annotated[dt.datetime, _as("datetime")],
        "date": Annotated[dt.date, _as("date")],
        "uuid": Annotated[uuidlib.UUID, _as("uuid")],
        "json": Annotated[JsonValue, _checked(check_json)],
    }
    return by_kind[t.kind]


def _dedupe(ids: list[Any] | None) -> list[Any] | None:
    # A junction holds each link once; repeating an id in the list means the same link.
    return None if ids is None else list(dict.fromkeys(ids))


# BaseModel's own attributes (``copy``, ``json``, ``model_dump``...) cannot be pydantic
# field names, nor can leading underscores (private attributes): such keys get another
# attribute name and the key as alias (the models validate and serialize by alias).
_TAKEN = frozenset(dir(BaseModel))


def field_attribute(key: str, used: set[str]) -> str:
    """The model attribute name of the row key ``key`` (``key`` itself unless taken by
    ``BaseModel``, private, or already in ``used``); the caller adds it to ``used``.

    >>> field_attribute("title", set()), field_attribute("copy", set())
    ('title', 'f_copy')
    """
    if not key.startswith("_") and key not in _TAKEN and key not in used:
        return key
    name = f"f_{key.lstrip('_')}"
    while name in used or name in _TAKEN:
        name += "_"
    return name


def _aliased(fields: dict[str, Any]) -> dict[str, Any]:
    """``key -> (type, default)`` as pydantic fields: an attribute name per key, with
    the key as alias where they differ."""
    out: dict[str, Any] = {}
    used = set(fields)  # a field named "f_copy" keeps its name; "copy" gets "f_copy_"
    for key, (py, default) in fields.items():
        attribute = field_attribute(key, used - {key})
        if attribute != key:
            used.add(attribute)
            py = Annotated[py, PydanticField(alias=key)]
        out[attribute] = (py, default)
    return out


# Keys are the user's: "model_x" is a fine field name (no protected namespace), and a
# model dumps by alias (the field's name).
_CONFIG = ConfigDict(protected_namespaces=(), serialize_by_alias=True)


def _model_name(slug: str, suffix: str) -> str:
    return "".join(part.capitalize() for part in slug.split("_") if part) + suffix


def build_models(
    c: Collection, columns: dict[str, ColumnInfo], junctions: dict[str, Junction]
) -> tuple[type[BaseModel], type[BaseModel], type[BaseModel]]:
    """Build the create, update and read models of one collection."""
    create: dict[str, Any] = {}
    update: dict[str, Any] = {}
    read: dict[str, Any] = {"id": (READ_TYPES[columns["id"].kind], ...)}
    for name, f in c.fields.items():
        if name in junctions:
            target_id: Any = ID_TYPES[junctions[name].target_kind]
            ids: Any = Annotated[list[target_id], AfterValidator(_dedupe)]
            create[name] = update[name] = (ids | None, None)
            read_id: Any = READ_TYPES[junctions[name].target_kind]
            read[name] = (list[read_id], ...)
            continue
        key = f"{name}_id" if isinstance(f.type, Relation) else name
        kind = columns[key].kind
        py = _write_type(f, kind)
        default = f.default
        _check_default(c.slug, name, py, default)
        if f.required:
            create[key] = (py, _default_spec(default))
            update[key] = (py, None)  # may be omitted, may not be set to None
            read[key] = (READ_TYPES[kind], ...)
        else:
            create[key] = (py | None, _default_spec(default, None))
            update[key] = (py | None, None)
            read[key] = (READ_TYPES[kind] | None, None)
    if c.timestamps:
        read["created_at"] = (dt.datetime, ...)
        read["updated_at"] = (dt.datetime, ...)
    write_config = ConfigDict(_CONFIG, extra="forbid")  # type: ignore[misc]
    return (
        create_model(_model_name(c.slug, "Create"), __config__=write_config, **_aliased(create)),
        create_model(_model_name(c.slug, "Update"), __config__=write_config, **_aliased(update)),
        create_model(_model_name(c.slug, "Read"), __config__=_CONFIG, **_aliased(read)),
    )


def _check_default(slug: str, name: str, py: Any, default: Any) -> None:
    """A constant default must pass the field's own validation (a factory's value is
    validated on each create instead)."""
    if default is None or callable(default):
        return
    try:
        TypeAdapter(py).validate_python(default)
    except PydanticValidationError as exc:
        reason = "; ".join(e["msg"] for e in exc.errors(include_url=False))
        raise ConfigError(
            f"collection {slug!r}, field {name!r}: default {default!r} does not fit the "
            f"field ({reason}); give a default of the field's type"
        ) from None


def _default_spec(default: Any, fallback: Any = ...) -> Any:
    if callable(default):
        return PydanticField(default_factory=default, validate_default=True)
    if default is None:
        return fallback
    return PydanticField(default=default, validate_default=True)
