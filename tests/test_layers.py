"""The structure holds: dialect knowledge lives in dialects/ and drivers/ only.

The import layers themselves are checked by import-linter (``lint-imports``,
pyproject.toml). This test is the other half of STYLE.md §4: outside ``dialects/`` and
``drivers/`` no code names a backend, so adding one means adding a dialect class and a
driver, not editing the planner, the runtime or the schema sync. Comments and docstrings
may name backends (they say *why*); identifiers and string literals may not.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

import deesse_async

PACKAGE = Path(deesse_async.__file__).parent
ALLOWED = ("dialects", "drivers")
BACKEND = re.compile(r"postgres|sqlite|mysql|mariadb|asyncpg|aiosqlite|asyncmy", re.IGNORECASE)
# Python 3.12 splits f-strings into parts; 3.11 keeps them whole as STRING tokens.
CODE_TOKENS = {tokenize.NAME, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in ALLOWED)


def backend_names(source: str) -> list[str]:
    """``line: token`` for each identifier or non-docstring literal naming a backend."""
    found = []
    previous = tokenize.NEWLINE
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        docstring = tok.type == tokenize.STRING and previous in (
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
            tokenize.NL,
        )
        if tok.type in CODE_TOKENS and not docstring:
            if BACKEND.search(tok.string):
                found.append(f"{tok.start[0]}: {tok.string}")
        if tok.type not in (tokenize.COMMENT, tokenize.NL):
            previous = tok.type
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_backend_names_outside_dialects_and_drivers(path: Path) -> None:
    found = backend_names(path.read_text())
    assert not found, f"{path.relative_to(PACKAGE)} names a backend: ask the Dialect instead\n" + (
        "\n".join(found)
    )


def test_the_check_sees_code_but_not_prose() -> None:
    source = (
        '"""SQLite keeps ..."""\n'
        "# PostgreSQL: why\n"
        'x = dialect.name == "sqlite"\n'
        "import sqlalchemy.dialects.postgresql\n"
        'def f():\n    """MySQL docstring."""\n    return f"{a}mariadb"\n'
    )
    assert [line.split(":")[0] for line in backend_names(source)] == ["3", "4", "7"]
