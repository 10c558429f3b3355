"""Build a ``SyncPlan``: compare, render, judge every statement, count affected rows.

Runs on a synchronous SQLAlchemy connection (through ``AsyncConnection.run_sync``). The
sentinel judges the SQL; what the comparison knows is handed to it: the old type of a
changed column, the columns a SQLite rebuild must copy, the direct ALTER a rebuild
stands for, and which ``NOT NULL`` MySQL's ``MODIFY`` merely restates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa
import sqlglot
from alembic.operations import ops
from sqlglot import exp

from .datacheck import find_conflicts, fitting_narrowings
from .diff import compare
from .plan import RISKS, PlanChange, PlannedStatement, Risk, SyncPlan
from .render import Change, render_changes
from .sentinel import Classification, classify, classify_many
from .summary import summarise

if TYPE_CHECKING:
    from ..compile.schema import Schema
    from ..drivers.url import DatabaseURL
    from .registry import TableFilter

__all__ = ["build_plan"]

_RANK = {risk: rank for rank, risk in enumerate(RISKS)}
Fits = set[tuple[str, str]]  # (table, column) narrowed where every stored value fits
_SQLGLOT = {"postgresql": "postgres", "sqlite": "sqlite", "mysql": "mysql"}


# --------------------------------------------------------------------------- judging


def _without_widening_casts(sql: str, widened: set[str]) -> str:
    """The rebuild's INSERT with CASTs to a wider type removed, for judging only."""
    if not widened or not sql.upper().startswith("INSERT INTO _ALEMBIC_TMP_"):
        return sql
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.SqlglotError:
        return sql  # judged as written: the CASTs then count as conversions

    def unwrap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Cast) and isinstance(node.this, exp.Column):
            if node.this.name in widened:
                return node.this
        return node

    return tree.transform(unwrap).sql(dialect="sqlite") if tree is not None else sql


def _worse(current: Classification, intent: Classification, table: str) -> Classification:
    if _RANK[intent.risk] <= _RANK[current.risk]:
        return current
    return Classification(intent.risk, f"Rebuilding {table}: {intent.reason}")


_FITS = " Every value stored now fits the new type (read before planning): nothing is lost."


def _fitting(verdict: Classification, fits: bool) -> Classification:
    """A narrowing the data was checked against loses nothing: unsafe, not destructive."""
    if fits and verdict.risk == "destructive":
        return Classification("unsafe", verdict.reason + _FITS)
    return verdict


def _judge_rebuild(
    change: Change, backend: str, old_columns: Mapping[str, Sequence[str]], fits: Fits
) -> list[Classification]:
    intents = [
        (
            i,
            _fitting(
                classify(i.sql, backend, from_type=i.from_type), (change.table, i.column) in fits
            ),
        )
        for i in change.intents
    ]
    # Casts that lose nothing: to a wider type, or to a narrower one every value fits.
    widened = {
        i.column
        for i, c in intents
        if i.column and (c.risk == "safe" or (change.table, i.column) in fits)
    }
    judged = [_without_widening_casts(s, widened) for s in change.judge_as or change.statements]
    results = classify_many(judged, backend, old_columns=old_columns)
    upper = [s.upper() for s in change.statements]
    insert = next((n for n, s in enumerate(upper) if s.startswith("INSERT INTO")), 0)
    drop = next((n for n, s in enumerate(upper) if s.startswith("DROP TABLE")), insert)
    # Of equal risks the first reason wins: say why the copy can fail before what is dropped.
    for _, verdict in sorted(intents, key=lambda pair: " DROP " in pair[0].sql.upper()):
        at = drop if verdict.risk == "destructive" else insert
        results[at] = _worse(results[at], verdict, change.table)
    return results


def _without_restated_not_null(sql: str, backend: str) -> str:
    """MySQL's MODIFY with the NOT NULL the column already had removed, for judging only."""
    dialect = _SQLGLOT[backend]

    def drop(node: exp.Expr) -> exp.Expr | None:
        kind = node.args.get("kind") if isinstance(node, exp.ColumnConstraint) else None
        if isinstance(kind, exp.NotNullColumnConstraint) and not kind.args.get("allow_null"):
            return None
        return node

    try:
        tree = sqlglot.parse_one(sql, read=dialect).transform(drop)
    except sqlglot.errors.SqlglotError:
        return sql  # the sentinel then judges the statement as written
    return tree.sql(dialect=dialect) if tree is not None else sql


def _judge(
    change: Change, backend: str, old_columns: Mapping[str, Sequence[str]], fits: Fits
) -> list[Classification]:
    if change.intents:
        return _judge_rebuild(change, backend, old_columns, fits)
    judged = list(change.statements)
    if change.keeps_not_null:
        judged = [_without_restated_not_null(s, backend) for s in judged]
    if change.from_type is not None:
        fit = bool(change.lossy_columns) and all(
            (change.table, c) in fits for c in change.lossy_columns or ()
        )
        return [_fitting(classify(s, backend, from_type=change.from_type), fit) for s in judged]
    return classify_many(judged, backend, old_columns=old_columns)


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


def _ensure_pg_schema(conn: sa.Connection, url: DatabaseURL) -> list[PlannedStatement]:
    """PostgreSQL ``?schema=``: create a missing schema first (inside the transaction)."""
    if conn.dialect.name != "postgresql" or not url.schema:
        return []
    exists = sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :name")
    if conn.execute(exists, {"name": url.schema}).first() is not None:
        return []
    create = sa.schema.CreateSchema(url.schema, if_not_exists=True)
    sql = str(create.compile(dialect=conn.dialect))
    conn.execute(create)
    # The engine read its default schema when it connected, before the schema existed.
    conn.dialect.default_schema_name = conn.exec_driver_sql("SELECT current_schema()").scalar()
    return [PlannedStatement(sql, "safe", f"CREATE SCHEMA {url.schema} is additive.")]


def build_plan(
    conn: sa.Connection, schema: Schema, url: DatabaseURL, tables: TableFilter | None = None
) -> SyncPlan:
    """Compare, render, judge and count, on a synchronous connection (via ``run_sync``).

    ``tables``: which live tables are ours (sync/registry.py; default: the default rule).
    """
    backend = url.backend
    statements = _ensure_pg_schema(conn, url)
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
            change.statements, _judge(change, backend, comparison.live_columns, fits), strict=True
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
        grouped.append(PlanChange(summary.text, max(risks, key=_RANK.__getitem__), indexes))
    created = [c.created_table for c in changes if c.created_table]
    conflicts = find_conflicts(conn, comparison.ops, comparison.live_columns, comparison.retypes)
    return SyncPlan(statements, rows, comparison.hints, created, backend, conflicts, grouped)
