"""SQLite table rebuilds, judged as a whole.

Alembic's batch mode alters a SQLite table by rebuilding it: ``CREATE TABLE
_alembic_tmp_T``, ``INSERT INTO _alembic_tmp_T (...) SELECT ... FROM T``, ``DROP TABLE T``,
``ALTER TABLE _alembic_tmp_T RENAME TO T``. Statement by statement the drop looks
destructive; as a sequence it is safe when the copy keeps every old column unchanged
(``classify_batches``). A plan's rebuild also carries ``intents``, the same changes as the
direct ``ALTER TABLE`` statements other databases run; ``judge_rebuild`` puts their
verdicts on the copy (what can fail) and on the drop (what can be lost).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final

import sqlglot
from sqlglot import exp

from ..dialects import Dialect
from .risk import RANK, Classification, fitting, worst
from .statement_risk import (
    REBUILD_PREFIX,
    Reading,
    classify_statement,
    node_name,
    parse,
    reading,
)

if TYPE_CHECKING:
    from .render import Change

__all__ = ["Fits", "classify_batches", "judge_rebuild"]

Fits = set[tuple[str, str]]  # (table, column) narrowed where every stored value fits
_C = Classification
_NO_STATEMENT: Final = _C("safe", "The SQL holds no statement, so there is nothing to run.")
_COPY_HEAD: Final = f"INSERT INTO {REBUILD_PREFIX}".upper()


# --------------------------------------------------------------------------- the sequence


def _tmp_suffix(name: str) -> str:
    folded = name.casefold()
    return folded[len(REBUILD_PREFIX) :] if folded.startswith(REBUILD_PREFIX) else ""


def _rebuild_step(stmt: exp.Expr) -> tuple[str, str] | None:
    """Which step of an Alembic batch rebuild ``stmt`` is, and for which table."""
    suffix = _tmp_suffix(node_name(stmt.this))
    kind = str(stmt.args.get("kind") or "").upper()
    if isinstance(stmt, exp.Create) and kind == "TABLE" and suffix:
        return "create", suffix
    if isinstance(stmt, exp.Insert) and isinstance(stmt.expression, exp.Select) and suffix:
        source = stmt.expression.args.get("from_")
        copies = isinstance(source, exp.From) and node_name(source.this).casefold() == suffix
        return ("insert", suffix) if copies and not stmt.expression.args.get("joins") else None
    if isinstance(stmt, exp.Alter) and suffix and len(stmt.args.get("actions") or []) == 1:
        action = stmt.args["actions"][0]
        target = node_name(action.this).casefold()
        renamed = isinstance(action, exp.AlterRename) and target == suffix
        return ("rename", suffix) if renamed else None
    tables = stmt.args.get("tables") or []
    if isinstance(stmt, exp.Drop) and kind == "TABLE" and len(tables) == 1:
        return "drop", node_name(tables[0]).casefold()
    return None


def _judge_copy(
    table: str, select: exp.Select, old_columns: Mapping[str, Sequence[str]] | None
) -> Classification:
    known = {key.casefold(): list(cols) for key, cols in (old_columns or {}).items()}
    old = known.get(table.casefold())
    what = f"DROP TABLE {table} ends a rebuild of {table}"
    if old is None:
        return _C("destructive", f"{what} whose old columns are unknown, so data may be lost.")
    kept: set[str] = set()
    converted: set[str] = set()
    for projection in (p.unalias() for p in select.expressions):
        if projection.is_star:
            kept.update(column.casefold() for column in old)
        elif isinstance(projection, exp.Column):
            kept.add(projection.name.casefold())
        else:
            converted.update(c.name.casefold() for c in projection.find_all(exp.Column))
    lost = [c for c in old if c.casefold() not in kept | converted]
    changed = [c for c in old if c.casefold() in converted - kept]
    if lost:
        return _C("destructive", f"{what} that does not copy {', '.join(lost)}, losing that data.")
    if changed:
        return _C("destructive", f"{what} that converts {', '.join(changed)}, which can lose data.")
    return _C("safe", f"{what} that copies every column, so the table is rebuilt keeping its data.")


def _rebuild_overrides(
    stmts: Sequence[exp.Expr], old_columns: Mapping[str, Sequence[str]] | None
) -> dict[int, Classification]:
    steps = [_rebuild_step(stmt) for stmt in stmts]
    overrides: dict[int, Classification] = {}
    for index, step in enumerate(steps):
        if step is None or step[0] != "drop":
            continue
        earlier = [i for i in range(index) if steps[i] == ("insert", step[1])]
        insert = earlier[-1] if earlier else -1
        created = ("create", step[1]) in steps[:insert] if insert >= 0 else False
        later = [i for i in range(index + 1, len(steps)) if steps[i] == ("rename", step[1])]
        if not (created and later):
            continue
        table = node_name(stmts[index].args["tables"][0])
        overrides[index] = _judge_copy(table, stmts[insert].expression, old_columns)
        overrides[later[0]] = _C("safe", f"Renaming the copy back to {table} ends its rebuild.")
    return overrides


def classify_batches(
    batches: Sequence[list[exp.Expr] | Classification],
    ctx: Reading,
    old_columns: Mapping[str, Sequence[str]] | None,
) -> list[Classification]:
    """The worst verdict of each batch (one SQL string's statements), where a rebuild's
    drop and rename are judged by what its copy keeps (``old_columns``: table -> columns)."""
    flat = [
        (owner, stmt)
        for owner, batch in enumerate(batches)
        if not isinstance(batch, Classification)
        for stmt in batch
    ]
    overrides = _rebuild_overrides([stmt for _, stmt in flat], old_columns)
    found: list[list[Classification]] = [[] for _ in batches]
    for index, (owner, stmt) in enumerate(flat):
        found[owner].append(overrides.get(index) or classify_statement(stmt, ctx))
    return [
        batch if isinstance(batch, Classification) else (worst(results) or _NO_STATEMENT)
        for batch, results in zip(batches, found, strict=True)
    ]


# --------------------------------------------------------------------------- a plan's rebuild


def _classify(sql: str, dialect: Dialect, from_type: str | None) -> Classification:
    ctx = reading(dialect, from_type)
    return classify_batches([parse(sql, ctx)], ctx, None)[0]


def _without_widening_casts(sql: str, widened: set[str], read: str) -> str:
    """The rebuild's INSERT with CASTs to a wider type removed, for judging only."""
    if not widened or not sql.upper().startswith(_COPY_HEAD):
        return sql
    try:
        tree = sqlglot.parse_one(sql, read=read)
    except sqlglot.errors.SqlglotError:
        return sql  # judged as written: the CASTs then count as conversions

    def unwrap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Cast) and isinstance(node.this, exp.Column):
            if node.this.name in widened:
                return node.this
        return node

    return tree.transform(unwrap).sql(dialect=read) if tree is not None else sql


def _worse(current: Classification, intent: Classification, table: str) -> Classification:
    if RANK[intent.risk] <= RANK[current.risk]:
        return current
    return Classification(intent.risk, f"Rebuilding {table}: {intent.reason}")


def judge_rebuild(
    change: Change, dialect: Dialect, old_columns: Mapping[str, Sequence[str]], fits: Fits
) -> list[Classification]:
    """One verdict per statement of a rebuild ``change``: the sequence's own, made worse
    where an intent is riskier (``fits``: narrowings every stored value fits)."""
    intents = [
        (i, fitting(_classify(i.sql, dialect, i.from_type), (change.table, i.column) in fits))
        for i in change.intents
    ]
    # Casts that lose nothing: to a wider type, or to a narrower one every value fits.
    widened = {
        i.column
        for i, c in intents
        if i.column and (c.risk == "safe" or (change.table, i.column) in fits)
    }
    read = dialect.sqlglot_name
    copied = change.judge_as or change.statements
    judged = [_without_widening_casts(s, widened, read) for s in copied]
    ctx = reading(dialect)
    results = classify_batches([parse(s, ctx) for s in judged], ctx, old_columns)
    upper = [s.upper() for s in change.statements]
    insert = next((n for n, s in enumerate(upper) if s.startswith("INSERT INTO")), 0)
    drop = next((n for n, s in enumerate(upper) if s.startswith("DROP TABLE")), insert)
    # Of equal risks the first reason wins: say why the copy can fail before what is dropped.
    for _, verdict in sorted(intents, key=lambda pair: " DROP " in pair[0].sql.upper()):
        at = drop if verdict.risk == "destructive" else insert
        results[at] = _worse(results[at], verdict, change.table)
    return results
