"""Build a ``SyncPlan``: compare, render, judge every statement, count affected rows.

Runs on a synchronous SQLAlchemy connection (through ``AsyncConnection.run_sync``); the
``Dialect`` serving it answers what differs per database. The sentinel judges the SQL;
what the comparison knows is handed to it: the old type of a changed column, the columns
a SQLite rebuild must copy, the direct ALTER a rebuild stands for (``rebuilds.py``), and
which ``NOT NULL`` MySQL's ``MODIFY`` merely restates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa
import sqlglot
from alembic.operations import ops
from sqlglot import exp

from ..dialects import Dialect, dialect_for
from .datacheck import find_conflicts, fitting_narrowings
from .diff import compare
from .plan import PlanChange, PlannedStatement, SyncPlan
from .rebuilds import Fits, judge_rebuild
from .render import Change, render_changes
from .risk import RANK, Classification, Risk, fitting
from .sentinel import classify, classify_many
from .summary import summarise

if TYPE_CHECKING:
    from ..compile.schema import Schema
    from ..drivers.url import DatabaseURL
    from .registry import TableFilter

__all__ = ["build_plan"]


# --------------------------------------------------------------------------- judging


def _without_restated_not_null(sql: str, read: str) -> str:
    """MySQL's MODIFY with the NOT NULL the column already had removed, for judging only."""

    def drop(node: exp.Expr) -> exp.Expr | None:
        kind = node.args.get("kind") if isinstance(node, exp.ColumnConstraint) else None
        if isinstance(kind, exp.NotNullColumnConstraint) and not kind.args.get("allow_null"):
            return None
        return node

    try:
        tree = sqlglot.parse_one(sql, read=read).transform(drop)
    except sqlglot.errors.SqlglotError:
        return sql  # the sentinel then judges the statement as written
    return tree.sql(dialect=read) if tree is not None else sql


def _judge(
    change: Change, dialect: Dialect, old_columns: Mapping[str, Sequence[str]], fits: Fits
) -> list[Classification]:
    if change.intents:
        return judge_rebuild(change, dialect, old_columns, fits)
    judged = list(change.statements)
    if change.keeps_not_null:
        judged = [_without_restated_not_null(s, dialect.sqlglot_name) for s in judged]
    if change.from_type is not None:
        fit = bool(change.lossy_columns) and all(
            (change.table, c) in fits for c in change.lossy_columns or ()
        )
        return [fitting(classify(s, dialect, from_type=change.from_type), fit) for s in judged]
    return classify_many(judged, dialect, old_columns=old_columns)


def _count(conn: sa.Connection, table: str, columns: Sequence[str]) -> int:
    t = sa.table(table, *(sa.column(c) for c in columns))
    query = sa.select(sa.func.count()).select_from(t)
    if columns:
        query = query.where(sa.or_(*(t.c[c].is_not(None) for c in columns)))
    return int(conn.execute(query).scalar_one())


def _affected(conn: sa.Connection, change: Change) -> int:
    if change.rows is not None:  # counted exactly when the change was found
        return change.rows
    return _count(conn, change.table, change.lossy_columns or ())


# --------------------------------------------------------------------------- planning


def _ensure_schema(
    conn: sa.Connection, dialect: Dialect, url: DatabaseURL
) -> list[PlannedStatement]:
    """PostgreSQL ``?schema=``: create a missing schema first (inside the transaction)."""
    exists, current = dialect.schema_exists_sql, dialect.current_schema_sql
    if exists is None or current is None or not url.schema:
        return []
    if conn.execute(sa.text(exists), {"name": url.schema}).first() is not None:
        return []
    create = sa.schema.CreateSchema(url.schema, if_not_exists=True)
    sql = str(create.compile(dialect=conn.dialect))
    conn.execute(create)
    # The engine read its default schema when it connected, before the schema existed.
    conn.dialect.default_schema_name = conn.exec_driver_sql(current).scalar()
    return [PlannedStatement(sql, "safe", f"CREATE SCHEMA {url.schema} is additive.")]


def build_plan(
    conn: sa.Connection, schema: Schema, url: DatabaseURL, tables: TableFilter | None = None
) -> SyncPlan:
    """Compare, render, judge and count, on a synchronous connection (via ``run_sync``).

    ``tables``: which live tables are ours (sync/registry.py; default: the default rule).
    """
    dialect = dialect_for(conn.dialect.name)
    statements = _ensure_schema(conn, dialect, url)
    rows: list[int | None] = [None] * len(statements)
    grouped = [PlanChange(s.sql, s.risk, (n,)) for n, s in enumerate(statements)]
    comparison = compare(conn, schema, tables)
    table_ops = {
        op.table_name: op.ops for op in comparison.ops if isinstance(op, ops.ModifyTableOps)
    }
    changes = render_changes(conn, comparison)
    fits = fitting_narrowings(conn, comparison.ops, comparison.live_columns)
    for change in changes:
        summary = summarise(conn, change, table_ops)
        first = len(statements)
        for sql, verdict in zip(
            change.statements, _judge(change, dialect, comparison.live_columns, fits), strict=True
        ):
            lossy = verdict.risk == "destructive" and change.lossy_columns is not None
            reason = verdict.reason
            if lossy and change.loss:  # the data first, then why
                reason = f"{change.loss}. {reason}"
            elif lossy and summary.loss:
                reason = f"Loses {summary.loss}. {reason}"
            statements.append(PlannedStatement(sql, verdict.risk, reason))
            rows.append(_affected(conn, change) if lossy else None)
        indexes = tuple(range(first, len(statements)))
        risks: list[Risk] = [statements[n].risk for n in indexes] or ["safe"]
        grouped.append(PlanChange(summary.text, max(risks, key=RANK.__getitem__), indexes))
    created = [c.created_table for c in changes if c.created_table]
    conflicts = find_conflicts(conn, comparison.ops, comparison.live_columns, comparison.retypes)
    return SyncPlan(statements, rows, comparison.hints, created, dialect.name, conflicts, grouped)
