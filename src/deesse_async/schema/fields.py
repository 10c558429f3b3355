"""Field types, ``field()`` and the modifiers ``required``/``optional``/``unique``/``index``.

These are plain frozen data: nothing here knows SQL or pydantic (``compile/`` does).
Each type can list its own configuration problems (``problems()``) so that
``collection()`` raises one ``ConfigError`` naming the collection and the field.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

__all__ = [
    "Boolean",
    "Date",
    "Email",
    "Field",
    "FieldType",
    "Integer",
    "Json",
    "Number",
    "OnDelete",
    "Relation",
    "Select",
    "Text",
    "Timestamp",
    "Uuid",
    "boolean",
    "date",
    "email",
    "field",
    "index",
    "integer",
    "json",
    "number",
    "optional",
    "relation",
    "required",
    "select",
    "text",
    "timestamp",
    "unique",
    "uuid",
]

OnDelete = Literal["set null", "restrict", "cascade"]
ON_DELETE_CHOICES: tuple[str, ...] = ("set null", "restrict", "cascade")


@dataclass(frozen=True, slots=True)
class FieldType:
    """Base of every field type; ``kind`` is the type's name in the DSL."""

    kind: ClassVar[str] = ""

    def problems(self) -> list[str]:
        """Configuration mistakes of this type alone (empty when it is fine)."""
        return []


def _range_problems(name: str, lo: float | None, hi: float | None) -> list[str]:
    if lo is not None and hi is not None and lo > hi:
        return [f"{name}(min={lo!r}, max={hi!r}) has min > max"]
    return []


def _bound_problems(name: str, bounds: dict[str, Any], integral: bool) -> list[str]:
    """Bounds of the wrong type or beyond what the column stores (checked before min > max,
    which could not even compare them)."""
    out = []
    for key, value in bounds.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int if integral else int | float):
            what = "an integer" if integral else "a finite number"
            out.append(f"{name}({key}={value!r}) must be {what}; give e.g. {key}=0")
        elif integral and not -(2**63) <= value <= 2**63 - 1:
            out.append(
                f"{name}({key}={value!r}) must be within the 64-bit range [-2**63, 2**63 - 1]"
            )
        elif not integral and not _finite(value):
            out.append(f"{name}({key}={value!r}) must be a finite number; give e.g. {key}=0.0")
    return out


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond the float range
        return False


IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Text(FieldType):
    """A string, with optional length bounds (``max`` gives ``VARCHAR(max)``)."""

    min: int | None = None
    max: int | None = None
    kind: ClassVar[str] = "text"

    def problems(self) -> list[str]:
        out = []
        for name, value in (("min", self.min), ("max", self.max)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                out.append(f"text({name}={value!r}) must be a non-negative integer")
        if out:
            return out
        out = _range_problems("text", self.min, self.max)
        if self.max == 0:
            out.append("text(max=0) admits only the empty string; give max >= 1")
        return out


@dataclass(frozen=True, slots=True)
class Email(FieldType):
    """An e-mail address, validated on write."""

    kind: ClassVar[str] = "email"


@dataclass(frozen=True, slots=True)
class Number(FieldType):
    """A float (double precision), with optional inclusive bounds."""

    min: float | None = None
    max: float | None = None
    kind: ClassVar[str] = "number"

    def problems(self) -> list[str]:
        bad = _bound_problems("number", {"min": self.min, "max": self.max}, integral=False)
        return bad or _range_problems("number", self.min, self.max)


@dataclass(frozen=True, slots=True)
class Integer(FieldType):
    """A 64-bit integer, with optional inclusive bounds."""

    min: int | None = None
    max: int | None = None
    kind: ClassVar[str] = "integer"

    def problems(self) -> list[str]:
        bad = _bound_problems("integer", {"min": self.min, "max": self.max}, integral=True)
        return bad or _range_problems("integer", self.min, self.max)


@dataclass(frozen=True, slots=True)
class Boolean(FieldType):
    """True or False (``bool`` on every backend)."""

    kind: ClassVar[str] = "boolean"


@dataclass(frozen=True, slots=True)
class Timestamp(FieldType):
    """A point in time, stored and returned timezone-aware UTC."""

    kind: ClassVar[str] = "timestamp"


@dataclass(frozen=True, slots=True)
class Date(FieldType):
    """A calendar date."""

    kind: ClassVar[str] = "date"


@dataclass(frozen=True, slots=True)
class Uuid(FieldType):
    """A UUID, returned as ``uuid.UUID``."""

    kind: ClassVar[str] = "uuid"


@dataclass(frozen=True, slots=True)
class Json(FieldType):
    """Any JSON value (dict, list, str, number, bool)."""

    kind: ClassVar[str] = "json"


@dataclass(frozen=True, slots=True)
class Select(FieldType):
    """One of a fixed set of strings."""

    choices: tuple[str, ...] = ()
    kind: ClassVar[str] = "select"

    def problems(self) -> list[str]:
        if not self.choices:
            return ["select() needs at least one choice"]
        if any(not isinstance(c, str) or not c for c in self.choices):
            return [f"select() choices must be non-empty strings, got {self.choices!r}"]
        if len(set(self.choices)) != len(self.choices):
            return [f"select() has repeated choices {self.choices!r}"]
        return []


@dataclass(frozen=True, slots=True)
class Relation(FieldType):
    """A link to another collection: a foreign key (``many=False``) or a junction table."""

    target: str = ""
    many: bool = False
    related_name: str | None = None
    on_delete: str | None = None
    kind: ClassVar[str] = "relation"

    def problems(self) -> list[str]:
        out = []
        if not isinstance(self.target, str) or not self.target:
            out.append("relation() needs the target collection's slug")
        if self.on_delete is not None and self.on_delete not in ON_DELETE_CHOICES:
            out.append(
                f"relation(on_delete={self.on_delete!r}) must be one of "
                + ", ".join(repr(c) for c in ON_DELETE_CHOICES)
            )
        if self.many and self.on_delete is not None:
            out.append("relation(many=True) takes no on_delete: junction rows always cascade")
        name = self.related_name
        if name is not None and not (isinstance(name, str) and IDENTIFIER.match(name)):
            out.append(
                f"relation(related_name={name!r}) must be an identifier (letters, digits, "
                "'_', not starting with a digit), e.g. related_name='posts'"
            )
        return out


def text(min: int | None = None, max: int | None = None) -> Text:
    """A text field type.

    >>> text(min=1, max=100)
    Text(min=1, max=100)
    """
    return Text(min=min, max=max)


def email() -> Email:
    """An e-mail field type (validated with email-validator)."""
    return Email()


def number(min: float | None = None, max: float | None = None) -> Number:
    """A floating-point field type with optional inclusive bounds."""
    return Number(min=min, max=max)


def integer(min: int | None = None, max: int | None = None) -> Integer:
    """A 64-bit integer field type with optional inclusive bounds."""
    return Integer(min=min, max=max)


def boolean() -> Boolean:
    """A boolean field type."""
    return Boolean()


def timestamp() -> Timestamp:
    """A timezone-aware UTC timestamp field type (naive input is taken as UTC)."""
    return Timestamp()


def date() -> Date:
    """A calendar date field type."""
    return Date()


def uuid() -> Uuid:
    """A UUID field type."""
    return Uuid()


def json() -> Json:
    """A JSON field type."""
    return Json()


def select(*choices: str) -> Select:
    """A field type holding one of ``choices``.

    >>> select("draft", "published").choices
    ('draft', 'published')
    """
    return Select(choices=tuple(choices))


def relation(
    target_slug: str,
    many: bool = False,
    related_name: str | None = None,
    on_delete: OnDelete | None = None,
) -> Relation:
    """A relation to the collection ``target_slug``.

    ``many=False`` stores a foreign key column ``<field>_id``; ``many=True`` a junction
    table ``<slug>_<field>``. ``related_name`` names the relation back on the target.

    >>> relation("users", related_name="posts").target
    'users'
    """
    return Relation(target=target_slug, many=many, related_name=related_name, on_delete=on_delete)


_NO_DEFAULT: Any = None


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a collection: a type plus column options. Build it with ``field()``."""

    type: FieldType
    default: Any = _NO_DEFAULT
    index: bool = False
    references: str | None = None
    renamed_from: str | None = None
    required: bool = False
    unique: bool = False
    # Field access rules: {"read" | "create" | "update": callable(ctx) -> bool}.
    access: Mapping[str, Callable[[Any], Any]] | None = None

    @property
    def has_default(self) -> bool:
        """Whether a default value (or factory) was given."""
        return self.default is not None

    @property
    def default_factory(self) -> Callable[[], Any] | None:
        """The default when it is a callable (called per row), else None."""
        return self.default if callable(self.default) else None


def field(
    type: FieldType,
    default: Any = None,
    index: bool = False,
    references: str | None = None,
    renamed_from: str | None = None,
    access: Mapping[str, Callable[[Any], Any]] | None = None,
) -> Field:
    """Declare a field.

    ``default`` is a value or a zero-argument callable; ``references="users.id"`` makes
    a plain foreign key; ``renamed_from`` tells the schema sync the field's old name;
    ``access={"read" | "create" | "update": callable(ctx) -> bool}`` are its access rules
    (docs/access.md).

    >>> field(type=text(max=20), default="anon").default
    'anon'
    """
    return Field(
        type=type,
        default=default,
        index=index,
        references=references,
        renamed_from=renamed_from,
        access=access,
    )


def _as_field(f: Field | FieldType) -> Field:
    if isinstance(f, Field):
        return f
    if isinstance(f, FieldType):
        return Field(type=f)
    raise TypeError(f"expected a field(...) or a field type, got {f!r}")


def required(f: Field | FieldType) -> Field:
    """Make a field NOT NULL and required on create.

    >>> required(field(type=text())).required
    True
    """
    return dataclasses.replace(_as_field(f), required=True)


def optional(f: Field | FieldType) -> Field:
    """Make a field explicitly nullable (the default)."""
    return dataclasses.replace(_as_field(f), required=False)


def unique(f: Field | FieldType) -> Field:
    """Add a UNIQUE constraint to a field."""
    return dataclasses.replace(_as_field(f), unique=True)


def index(f: Field | FieldType) -> Field:
    """Add an index on a field."""
    return dataclasses.replace(_as_field(f), index=True)
