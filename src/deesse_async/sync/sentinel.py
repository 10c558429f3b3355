"""Judge migration SQL by the risk it poses to data already in the database.

The public face of the risk classifier: every statement is parsed with sqlglot and
judged from its syntax tree (``statement_risk.py``), never from its text, so a table
called ``drop_log`` or a string literal holding ``'DROP TABLE x'`` cannot fool the
sentinel; Alembic's SQLite table rebuilds are judged as a whole (``rebuilds.py``).
Whatever sqlglot cannot type is treated as destructive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..dialects import DIALECTS, Dialect
from .rebuilds import classify_batches
from .risk import Classification, Risk
from .statement_risk import parse, reading

__all__ = ["Classification", "Risk", "classify", "classify_many"]


def _dialect(dialect: Dialect | str) -> Dialect:
    if isinstance(dialect, Dialect):
        return dialect
    found = next((d for d in DIALECTS.values() if d.name == dialect), None)
    if found is None:
        # The only place an unsupported dialect is rejected.
        known = ", ".join(sorted(DIALECTS))
        raise ValueError(f"Unsupported SQL dialect {dialect!r}; expected one of: {known}.")
    return found


def classify(sql: str, dialect: Dialect | str, *, from_type: str | None = None) -> Classification:
    """Classify ``sql`` (one or more statements) by its worst risk to existing data.

    ``dialect`` is a ``Dialect`` or its name: ``"postgresql"``, ``"sqlite"`` or
    ``"mysql"`` (MariaDB included); ``from_type`` is the old SQL type of a column whose
    type the statement changes, optionally followed by its old nullability
    (``"VARCHAR(10) NOT NULL"``): MySQL's ``MODIFY`` restates the whole column, and only
    what differs from the old one counts.

    >>> classify("ALTER TABLE posts DROP COLUMN body", "postgresql").risk
    'destructive'
    >>> classify("ALTER TABLE t ALTER COLUMN c TYPE BIGINT", "postgresql", from_type="INT").risk
    'safe'
    >>> classify("ALTER TABLE t MODIFY c BIGINT NOT NULL", "mysql", from_type="INT NOT NULL").risk
    'safe'
    """
    ctx = reading(_dialect(dialect), from_type)
    return classify_batches([parse(sql, ctx)], ctx, None)[0]


def classify_many(
    statements: Sequence[str],
    dialect: Dialect | str,
    *,
    old_columns: Mapping[str, Sequence[str]] | None = None,
) -> list[Classification]:
    """Classify each SQL string, recognising Alembic's SQLite table-rebuild sequence.

    In ``CREATE TABLE _alembic_tmp_T``, ``INSERT INTO _alembic_tmp_T (...) SELECT ... FROM
    T``, ``DROP TABLE T``, ``ALTER TABLE _alembic_tmp_T RENAME TO T`` the drop is safe only
    when ``old_columns`` (table -> column names) knows T and every old column is copied.

    >>> steps = [
    ...     "CREATE TABLE _alembic_tmp_t (id INTEGER, name TEXT)",
    ...     "INSERT INTO _alembic_tmp_t (id, name) SELECT t.id, t.name FROM t",
    ...     "DROP TABLE t",
    ...     "ALTER TABLE _alembic_tmp_t RENAME TO t",
    ... ]
    >>> [c.risk for c in classify_many(steps, "sqlite", old_columns={"t": ["id", "name"]})]
    ['safe', 'safe', 'safe', 'safe']
    """
    ctx = reading(_dialect(dialect))
    return classify_batches([parse(sql, ctx) for sql in statements], ctx, old_columns)
