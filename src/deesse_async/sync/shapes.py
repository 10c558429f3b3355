"""Statements sqlglot keeps as an untyped ``Command``, judged by their exact token shape.

Their tokens are reduced to a shape (names -> ``<name>``, string literals -> ``<str>``)
and only the shapes listed here are trusted; the sentinel treats anything else as
destructive.
"""

from __future__ import annotations

from typing import Final

from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import TokenType

from .risk import Risk

__all__ = ["command_verdict"]

_COMMAND_SHAPES: Final[dict[str, tuple[Risk, str]]] = {
    "RENAME TABLE <name> TO <name>": ("unsafe", "RENAME TABLE {0} to {1} can break queries."),
    "ALTER TABLE <name> RENAME CONSTRAINT <name> TO <name>": (
        "unsafe",
        "Renaming constraint {1} on {0} can break code.",
    ),
    "ALTER TABLE <name> VALIDATE CONSTRAINT <name>": (
        "unsafe",
        "VALIDATE {1} on {0} fails if rows violate it.",
    ),
    "ALTER TYPE <name> ADD VALUE <str>": ("safe", "Adding '{1}' to enum type {0} is additive."),
    "ALTER TYPE <name> ADD VALUE <str> BEFORE <str>": ("safe", "Adding '{1}' to {0} is additive."),
    "ALTER TYPE <name> ADD VALUE <str> AFTER <str>": ("safe", "Adding '{1}' to {0} is additive."),
    "ALTER TYPE <name> RENAME VALUE <str> TO <str>": (
        "unsafe",
        "Renaming '{1}' of {0} can break code.",
    ),
}
_KEYWORDS: Final = frozenset(
    "TABLE TYPE TO RENAME CONSTRAINT VALIDATE ADD VALUE BEFORE AFTER".split()
)
# IF [NOT] EXISTS and ONLY never change a statement's risk, so the shape leaves them out.
_NOISE: Final = frozenset({"IF", "NOT", "EXISTS", "ONLY"})


def command_verdict(head: str, text: str, dialect: str) -> tuple[Risk, str] | None:
    """(risk, reason) of the command ``head text`` when its shape is a trusted one.

    ``dialect`` is the sqlglot dialect that tokenizes ``text``.
    """
    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(text)
    except SqlglotError:
        return None
    shape, values = [head], []
    for token in tokens:
        word, kind = token.text.upper(), token.token_type
        if kind == TokenType.STRING:
            shape.append("<str>")
            values.append(token.text)
        elif kind == TokenType.IDENTIFIER or (
            kind == TokenType.VAR and word not in _KEYWORDS | _NOISE
        ):
            if shape[-1] == ".":  # the next part of a dotted name
                shape.pop()
                values[-1] += f".{token.text}"
            else:
                shape.append("<name>")
                values.append(token.text)
        elif word not in _NOISE:
            shape.append(word)
    found = _COMMAND_SHAPES.get(" ".join(shape))
    return None if found is None else (found[0], found[1].format(*values))
