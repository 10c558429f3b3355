"""``SyncPlan``: the SQL that brings a database to its collections, judged and applied.

``plan_schema(db)`` builds the plan (``build.py``: compare, render, classify each statement
with the sentinel, count the rows a destructive statement touches). ``push_schema(db)``
builds it inside the transaction that then applies it: all or nothing on PostgreSQL and
SQLite (transactional DDL); statement by statement on MySQL/MariaDB, whose DDL commits
itself, with an error that says what was applied when one fails.

This module stays light (``import deesse_async`` loads it): alembic and sqlglot are
imported when a plan is built.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, cast

import sqlalchemy as sa

from ..errors import DatabaseError, DataLossError, DeesseError, SchemaSyncError

if TYPE_CHECKING:
    from ..runtime.database import Database
    from ..runtime.url import DatabaseURL

__all__ = ["PlannedStatement", "Risk", "SyncPlan", "plan_schema", "push_schema"]

Risk = Literal["safe", "unsafe", "destructive"]
RISKS: tuple[Risk, ...] = ("safe", "unsafe", "destructive")
PLAN_FORMAT = 1
logger = logging.getLogger("deesse_async.sync")


class PlannedStatement(NamedTuple):
    """One statement of a plan: ``sql, risk, reason = statement`` or ``statement.risk``."""

    sql: str
    risk: Risk
    reason: str


@dataclass(frozen=True)
class SyncPlan:
    """The statements that bring the database to the collections, each with its risk.

    ``affected_rows[i]`` is the number of rows whose data ``statements[i]`` destroys
    (rows of a dropped table, non-NULL values of a dropped or converted column), or
    None for statements that destroy nothing. ``hints`` explain probable mistakes, such
    as a rename written as drop + add.

    >>> plan = SyncPlan([PlannedStatement("DROP TABLE tags", "destructive", "...")], [3])
    >>> plan.has_data_loss, plan.data_loss[0][1]
    (True, 3)
    """

    statements: list[PlannedStatement] = field(default_factory=list)
    affected_rows: list[int | None] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    created_tables: list[str] = field(default_factory=list)
    dialect: str = ""

    @property
    def is_empty(self) -> bool:
        """True when the database already matches the collections."""
        return not self.statements

    @property
    def has_data_loss(self) -> bool:
        """True when a statement is destructive (``push`` then needs ``accept_data_loss``)."""
        return any(s.risk == "destructive" for s in self.statements)

    @property
    def data_loss(self) -> list[tuple[PlannedStatement, int | None]]:
        """The destructive statements with the number of rows each affects."""
        rows = self.affected_rows + [None] * (len(self.statements) - len(self.affected_rows))
        return [
            (s, n) for s, n in zip(self.statements, rows, strict=True) if s.risk == "destructive"
        ]

    @property
    def unsafe(self) -> list[PlannedStatement]:
        """Statements that lose no data but can fail or break code (applied with a warning)."""
        return [s for s in self.statements if s.risk == "unsafe"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; ``SyncPlan.from_dict`` reads it back."""
        rows = self.affected_rows + [None] * (len(self.statements) - len(self.affected_rows))
        return {
            "format": PLAN_FORMAT,
            "dialect": self.dialect,
            "statements": [
                {"sql": s.sql, "risk": s.risk, "reason": s.reason, "affected_rows": n}
                for s, n in zip(self.statements, rows, strict=True)
            ],
            "hints": list(self.hints),
            "created_tables": list(self.created_tables),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncPlan:
        """Rebuild a plan from ``to_dict()`` output (e.g. ``deesse plan --json``)."""
        try:
            if data["format"] != PLAN_FORMAT:
                raise ValueError(f"format {data['format']!r} is not {PLAN_FORMAT}")
            items = list(data["statements"])
            statements = [_statement(item) for item in items]
            rows = [_rows(item.get("affected_rows")) for item in items]
            hints = [str(h) for h in data.get("hints", [])]
            created = [str(t) for t in data.get("created_tables", [])]
            return cls(statements, rows, hints, created, str(data.get("dialect", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DeesseError(
                f"not a SyncPlan dict ({exc}); produce it with SyncPlan.to_dict() or "
                "`deesse plan --json`"
            ) from None

    def describe(self, statements: Sequence[PlannedStatement] | None = None) -> str:
        """Plain text, one line per statement: risk, SQL on one line, affected rows."""
        chosen = self.statements if statements is None else list(statements)
        rows = dict(zip(self.statements, self.affected_rows, strict=False))
        lines = []
        for s in chosen:
            count = rows.get(s)
            suffix = f"  ({count} row{'s' * (count != 1)} affected)" if count is not None else ""
            lines.append(f"  [{s.risk}] {' '.join(s.sql.split())}{suffix}")
        return "\n".join(lines)


def _statement(item: Mapping[str, Any]) -> PlannedStatement:
    risk = item["risk"]
    if risk not in RISKS:
        raise ValueError(f"unknown risk {risk!r}")
    return PlannedStatement(str(item["sql"]), cast(Risk, risk), str(item["reason"]))


def _rows(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"affected_rows {value!r} is not an integer")
    return value


# --------------------------------------------------------------------------- applying


def _data_loss_error(plan: SyncPlan) -> DataLossError:
    lost = plan.data_loss
    message = (
        f"the schema plan has {len(lost)} destructive statement{'s' * (len(lost) != 1)} and "
        "was not applied (nothing changed):\n"
        + plan.describe([s for s, _ in lost])
        + "\nreview them, then call push(accept_data_loss=True) or run "
        "`deesse push --accept-data-loss` to apply the whole plan"
    )
    return DataLossError(message, [s.sql for s, _ in lost], plan=plan)


def _rejected(
    plan: SyncPlan, index: int, cause: str, rolled_back: bool, url: DatabaseURL
) -> SchemaSyncError:
    statement = plan.statements[index].sql
    applied = [s.sql for s in plan.statements[:index]]
    pending = [s.sql for s in plan.statements[index + 1 :]]
    flat = " ".join(statement.split())
    if rolled_back:
        outcome = "the whole plan was rolled back, nothing changed"
    else:
        done = "\n".join(f"  {' '.join(s.split())}" for s in applied) or "  (none)"
        outcome = (
            f"{url.backend} cannot roll back DDL; these statements stay applied:\n{done}\n"
            f"and {len(pending)} later statement(s) did not run"
        )
    message = (
        f"{url.display} rejected `{flat}`: {cause}\n{outcome}.\n"
        "Fix the data (or the collections) and push again."
    )
    return SchemaSyncError(
        message, statement=statement, applied=applied, pending=pending, rolled_back=rolled_back
    )


def foreign_key_check(conn: sa.Connection) -> None:
    """SQLite: refuse to commit rows whose foreign keys point nowhere (checks run off)."""
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        tables = sorted({str(row[0]) for row in broken})
        raise SchemaSyncError(
            f"the plan would leave {len(broken)} row(s) in {', '.join(tables)} whose foreign "
            "keys point to missing rows; the whole plan was rolled back, nothing changed. "
            "Delete or fix those rows and push again."
        )


def apply_plan(conn: sa.Connection, plan: SyncPlan, url: DatabaseURL) -> None:
    """Run the plan's statements on ``conn`` (inside its transaction), in order."""
    rolled_back = url.backend != "mysql"
    for index, statement in enumerate(plan.statements):
        if statement.risk == "unsafe":
            flat = " ".join(statement.sql.split())
            logger.warning("applying an unsafe change: %s -- %s", flat, statement.reason)
        try:
            # Sent without parameters, so '%' in the SQL means itself on every driver.
            conn.exec_driver_sql(statement.sql, execution_options={"no_parameters": True})
        except sa.exc.DBAPIError as exc:
            raise _rejected(plan, index, str(exc.orig), rolled_back, url) from None
    if url.backend == "sqlite":
        foreign_key_check(conn)


def _wrap(exc: Exception, url: DatabaseURL) -> DeesseError:
    cause = getattr(exc, "orig", None) or exc
    return DatabaseError(f"schema sync on {url.display} failed: {cause}")


async def plan_schema(db: Database) -> SyncPlan:
    """Compare ``db``'s collections with its database; nothing is changed."""
    from alembic.util import CommandError

    from ..runtime.admin import schema_connection
    from .build import build_plan
    from .registry import table_filter

    try:
        async with schema_connection(db.url, write=False) as conn:
            tables = await conn.run_sync(table_filter, db.schema, db.manage)
            return await conn.run_sync(build_plan, db.schema, db.url, tables)
    except (sa.exc.SQLAlchemyError, CommandError) as exc:
        raise _wrap(exc, db.url) from None


async def push_schema(
    db: Database,
    *,
    accept_data_loss: bool = False,
    expected: SyncPlan | None = None,
    safe_only: bool = False,
) -> SyncPlan:
    """Plan and apply in one transaction; returns the applied plan.

    Raises ``DataLossError`` (and applies nothing) when the plan is destructive and
    ``accept_data_loss`` is False; ``SchemaSyncError`` when the database rejects a
    statement, or, given ``expected`` (a plan someone approved), when the plan made
    inside the transaction has other statements: then nothing is applied. With
    ``safe_only`` only the safe statements that stand alone are applied (sync/safe.py).
    """
    from alembic.util import CommandError

    from ..runtime.admin import schema_connection
    from .build import build_plan
    from .registry import record_tables, table_filter
    from .safe import safe_part

    try:
        async with schema_connection(db.url, write=True) as conn:
            tables = await conn.run_sync(table_filter, db.schema, db.manage)
            plan = await conn.run_sync(build_plan, db.schema, db.url, tables)
            if expected is not None and plan.statements != expected.statements:
                raise SchemaSyncError(
                    "the database or the collections changed since the plan was approved; "
                    "nothing was applied: plan again"
                )
            if safe_only:
                plan = safe_part(plan)
            if plan.has_data_loss and not accept_data_loss:
                raise _data_loss_error(plan)
            if not plan.is_empty:
                await conn.run_sync(apply_plan, plan, db.url)
            await conn.run_sync(record_tables, db.schema)  # which tables are ours
            await conn.commit()
    except (sa.exc.SQLAlchemyError, CommandError) as exc:
        raise _wrap(exc, db.url) from None
    return plan
