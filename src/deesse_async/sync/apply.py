"""Applying a ``SyncPlan``: in order, and honest about what ran when it stops half-way.

PostgreSQL and SQLite run the whole plan in one transaction: a refused statement rolls
everything back. MySQL/MariaDB commit every DDL statement as it runs, so a plan that
stops half-way (the database refuses a statement, the task is cancelled, Ctrl-C) stays
half-applied. There, two promises hold however the plan stops:

- the error (and the ``deesse_async.sync`` log) lists exactly the statements that ran,
  and the one that was running when the stop came, if any;
- a table never keeps less protection than before: a CHECK the plan dropped on the way
  (say, to replace a select's choices) is put back when the plan stops before its
  replacement is in place.

Between two statements a pending cancellation is taken, so a cancelled push stops at a
statement boundary whenever the cancellation comes while a statement is not running.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import anyio.lowlevel
import sqlalchemy as sa
from sqlalchemy.util.concurrency import await_only, in_greenlet

from ..dialects import Dialect, dialect_for
from ..errors import SchemaSyncError

if TYPE_CHECKING:
    from ..drivers.url import DatabaseURL
    from .plan import SyncPlan

__all__ = ["apply_plan", "foreign_key_check"]

logger = logging.getLogger("deesse_async.sync")

# MySQL spells a dropped CHECK `ALTER TABLE t DROP CHECK ck_x` (MariaDB also CONSTRAINT).
_DROP_CHECK = re.compile(
    r"^\s*ALTER\s+TABLE\s+[`\"]?(?P<table>[^`\"\s]+)[`\"]?\s+DROP\s+(?:CHECK|CONSTRAINT)\s+"
    r"[`\"]?(?P<name>ck_[^`\"\s]+)",
    re.IGNORECASE,
)
_NO_PARAMETERS = {"no_parameters": True}


def _flat(sql: str) -> str:
    return " ".join(sql.split())


def foreign_key_check(conn: sa.Connection, dialect: Dialect) -> None:
    """Refuse to commit rows whose foreign keys point nowhere: a SQLite rebuild runs with
    key checks off (``Dialect.foreign_key_check_sql``; a no-op where there is none).

    After both a pushed plan and applied migrations, before their commit.
    """
    if dialect.foreign_key_check_sql is None:
        return
    broken = conn.exec_driver_sql(dialect.foreign_key_check_sql).all()
    if broken:
        tables = sorted({str(row[0]) for row in broken})
        raise SchemaSyncError(
            f"the plan would leave {len(broken)} row(s) in {', '.join(tables)} whose foreign "
            "keys point to missing rows; the whole plan was rolled back, nothing changed. "
            "Delete or fix those rows and push again."
        )


class _Checks:
    """The CHECK constraints a non-transactional plan drops, as they were before it ran."""

    def __init__(self, conn: sa.Connection, plan: SyncPlan) -> None:
        tables = sorted({m["table"] for s in plan.statements if (m := _DROP_CHECK.match(s.sql))})
        self.before: dict[tuple[str, str], str] = {}
        for table in tables:
            for check in sa.inspect(conn).get_check_constraints(table):
                if str(check.get("name") or "").startswith("ck_"):
                    self.before[(table, str(check["name"]))] = str(check["sqltext"])

    def restore(self, conn: sa.Connection) -> tuple[list[str], list[str]]:
        """Put back every CHECK that is gone: (statements that ran, statements that failed)."""
        done: list[str] = []
        failed: list[str] = []
        quote = conn.dialect.identifier_preparer.quote
        inspector = sa.inspect(conn)  # a new inspector: the old one caches what it read
        present: dict[str, set[str]] = {}
        for (table, name), sqltext in sorted(self.before.items()):
            if table not in present:
                checks = inspector.get_check_constraints(table)
                present[table] = {str(c.get("name")) for c in checks}
            if name in present[table]:
                continue
            sql = f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} CHECK ({sqltext})"
            try:
                conn.exec_driver_sql(sql, execution_options=_NO_PARAMETERS)
                done.append(sql)
            except sa.exc.DBAPIError as exc:
                failed.append(f"{sql} ({exc.orig})")
        return done, failed


def _listing(statements: list[str]) -> str:
    return "\n".join(f"  {_flat(s)}" for s in statements) or "  (none)"


def _restored(checks: _Checks | None, conn: sa.Connection) -> str:
    if checks is None:
        return ""
    try:
        done, failed = checks.restore(conn)
    except sa.exc.DBAPIError as exc:  # the connection itself is gone
        return f"\nthe CHECK constraints dropped on the way could not be put back: {exc.orig}"
    text = f"\nso that no table keeps less protection, put back:\n{_listing(done)}" if done else ""
    if failed:
        text += f"\ncould NOT put back (do it by hand):\n{_listing(failed)}"
    return text


def _rejected(
    plan: SyncPlan, index: int, cause: str, url: DatabaseURL, dialect: Dialect, restored: str
) -> SchemaSyncError:
    statement = plan.statements[index].sql
    applied = [s.sql for s in plan.statements[:index]]
    pending = [s.sql for s in plan.statements[index + 1 :]]
    rolled_back = dialect.transactional_ddl
    if rolled_back:
        outcome = "the whole plan was rolled back, nothing changed"
    else:
        outcome = (
            f"{dialect.display_name} cannot roll back DDL; these statements stay applied:\n"
            f"{_listing(applied)}\nand {len(pending)} later statement(s) did not run{restored}"
        )
    message = (
        f"{url.display} rejected `{_flat(statement)}`: {cause}\n{outcome}.\n"
        "Fix the data (or the collections) and push again."
    )
    return SchemaSyncError(
        message, statement=statement, applied=applied, pending=pending, rolled_back=rolled_back
    )


def _stopped(
    plan: SyncPlan, done: int, running: bool, url: DatabaseURL, dialect: Dialect, why: str
) -> str:
    """What a non-transactional plan left behind when it was cancelled or interrupted."""
    applied = [s.sql for s in plan.statements[:done]]
    text = (
        f"the schema plan on {url.display} was stopped ({why}) after {done} of "
        f"{len(plan.statements)} statements; {dialect.display_name} cannot roll back DDL, "
        f"these stay applied:\n{_listing(applied)}"
    )
    if running:
        text += (
            "\nand this one was running when the stop came (it may or may not have been "
            f"applied):\n{_listing([plan.statements[done].sql])}"
        )
    return text + "\nRun `deesse plan` to see what is left, then push again."


def _take_cancellation() -> None:
    # A cancellation that came while a statement ran is raised here, between statements,
    # rather than in the middle of the next one (whose fate would then be unknown).
    if in_greenlet():
        await_only(anyio.lowlevel.checkpoint_if_cancelled())


def apply_plan(conn: sa.Connection, plan: SyncPlan, url: DatabaseURL) -> None:
    """Run the plan's statements on ``conn`` (inside its transaction), in order."""
    dialect = dialect_for(conn.dialect.name)
    transactional = dialect.transactional_ddl
    checks = None if transactional else _Checks(conn, plan)
    done, running = 0, False
    try:
        for index, statement in enumerate(plan.statements):
            if statement.risk == "unsafe":
                flat = _flat(statement.sql)
                logger.warning("applying an unsafe change: %s -- %s", flat, statement.reason)
            running = True
            # Sent without parameters, so '%' in the SQL means itself on every driver.
            conn.exec_driver_sql(statement.sql, execution_options=_NO_PARAMETERS)
            done, running = index + 1, False
            _take_cancellation()
    except sa.exc.DBAPIError as exc:
        raise _rejected(plan, done, str(exc.orig), url, dialect, _restored(checks, conn)) from None
    except Exception as exc:  # not the database's refusal (say, an event hook): same report
        if done == len(plan.statements):
            raise
        cause = f"{type(exc).__name__}: {exc}"
        raise _rejected(plan, done, cause, url, dialect, _restored(checks, conn)) from exc
    except BaseException as exc:  # cancelled, Ctrl-C: the connection may be unusable
        if not transactional and (done or running):
            report = _stopped(plan, done, running, url, dialect, type(exc).__name__)
            logger.error("%s", report)
            exc.add_note(report)
        raise
    foreign_key_check(conn, dialect)
