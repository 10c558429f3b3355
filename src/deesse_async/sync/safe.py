"""The part of a plan that ``deesse push --safe`` applies: safe statements that stand alone.

A statement that is not safe holds back every statement on the same table, not only
itself: later statements may depend on it (an index on a column whose ``ADD COLUMN`` is
unsafe), and on SQLite the statements of one table rebuild (``CREATE TABLE
_alembic_tmp_x``, copy, ``DROP TABLE x``, rename) make sense only together. Statements
on other tables (a new collection, a new index elsewhere) still go in. When a held
statement's table cannot be told from its SQL, nothing goes in.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .plan import SyncPlan

__all__ = ["safe_part", "statement_table"]

_REBUILD_PREFIX = "_alembic_tmp_"
_NAME = r"((?:[`\"\[]?[\w$]+[`\"\]]?\.)?[`\"\[]?[\w$]+[`\"\]]?)"
_TARGET = re.compile(
    r"^\s*(?:"
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?\S+\s+ON\s+"
    r"|DROP\s+INDEX\s+(?:IF\s+EXISTS\s+)?\S+\s+ON\s+"
    r"|ALTER\s+TABLE\s+(?:ONLY\s+)?(?:IF\s+EXISTS\s+)?"
    r"|(?:CREATE|DROP)\s+TABLE\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?"
    r"|INSERT\s+INTO\s+"
    r")" + _NAME,
    re.IGNORECASE,
)


def statement_table(sql: str) -> str | None:
    """The table a DDL statement acts on (a rebuild's copy counts as its table), or None.

    >>> statement_table('ALTER TABLE "_alembic_tmp_posts" RENAME TO posts')
    'posts'
    >>> statement_table("CREATE UNIQUE INDEX ix_a ON shop.items (name)")
    'items'
    """
    match = _TARGET.match(sql)
    if match is None:
        return None
    name = match.group(1).split(".")[-1].strip('`"[]')
    return name.removeprefix(_REBUILD_PREFIX)


def safe_part(plan: SyncPlan) -> SyncPlan:
    """The plan without its unsafe and destructive statements and what depends on them."""
    held = {statement_table(s.sql) for s in plan.statements if s.risk != "safe"}
    # A table whose rows would make a statement fail (a UNIQUE over duplicates) is held
    # whole: its statements wait for the data to be fixed; the rest still goes in.
    held |= {c.table for c in plan.conflicts}
    if None in held:
        # A held statement on a table we cannot name: anything might depend on it.
        return replace(plan, statements=[], affected_rows=[], created_tables=[])
    rows = plan.affected_rows + [None] * (len(plan.statements) - len(plan.affected_rows))
    kept = [
        (s, n)
        for s, n in zip(plan.statements, rows, strict=True)
        if s.risk == "safe" and statement_table(s.sql) not in held
    ]
    return replace(
        plan,
        statements=[s for s, _ in kept],
        affected_rows=[n for _, n in kept],
        created_tables=[t for t in plan.created_tables if t not in held],
        conflicts=[],
    )
