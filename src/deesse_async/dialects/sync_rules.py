"""What the schema sync reads from a dialect as data: type rules and CHECK spellings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

__all__ = ["CheckSpelling", "TypeRules"]

CheckSpelling: TypeAlias = Literal["as_written", "normalised", "probed"]
"""How a database keeps a CHECK constraint's text (``Dialect.check_spelling``)."""


@dataclass(frozen=True, slots=True)
class TypeRules:
    """How the schema sync's sentinel reads column types on one backend (rules as data).

    ``spelling``: the sqlglot dialect that writes types in the sentinel's reasons (None:
    sqlglot's generic spelling); ``decimal_default``: (precision, scale) of a DECIMAL
    written without them (None: unbounded); ``text_chars``: the characters a TEXT type of
    fixed size holds, by sqlglot type name (a type not listed holds what its length says).
    """

    spelling: str | None
    decimal_default: tuple[int, int] | None = None
    text_chars: Mapping[str, int] = field(default_factory=dict)
