"""``plan_schema(db)`` and ``push_schema(db)``: the schema sync's two entry points.

``plan_schema`` builds the plan (``plan_builder.py``: compare, render, classify each
statement with the sentinel, count the rows a destructive statement touches).
``push_schema`` builds it inside the transaction that then applies it (``apply.py``): all
or nothing where DDL is transactional; statement by statement where each DDL statement
commits itself, with an error that says what was applied when one fails.

alembic and sqlglot are imported inside the functions: ``import deesse_async`` loads
this module, and an app that never plans should not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from ..errors import (
    DatabaseError,
    DataConflictError,
    DataLossError,
    DeesseError,
    SchemaSyncError,
)
from .plan import SyncPlan

if TYPE_CHECKING:
    from ..drivers.url import DatabaseURL
    from ..runtime.database import BaseDatabase as Database

__all__ = ["plan_schema", "push_schema"]


def _data_loss_error(plan: SyncPlan) -> DataLossError:
    lost = plan.data_loss
    changes = [c for c in plan.grouped() if c.risk == "destructive"]
    message = (
        f"the schema plan loses data in {len(changes)} change{'s' * (len(changes) != 1)} and "
        "was not applied (nothing changed):\n"
        + plan.summary(risks=("destructive",))
        + "\nreview them (the SQL: plan.statements, or `deesse plan --sql`), then call "
        "push(accept_data_loss=True) or run `deesse push --accept-data-loss` to apply the "
        "whole plan"
    )
    return DataLossError(message, [s.sql for s, _ in lost], plan=plan)


def _conflict_error(plan: SyncPlan) -> DataConflictError:
    count = len(plan.conflicts)
    lines = "\n".join(f"  {c.message}" for c in plan.conflicts)
    message = (
        f"the schema plan would fail on the data already in the database ({count} "
        f"problem{'s' * (count != 1)}); nothing was applied:\n{lines}\n"
        "Fix the data (or the collections) and push again."
    )
    return DataConflictError(message, conflicts=plan.conflicts, plan=plan)


def _wrap(exc: Exception, url: DatabaseURL) -> DeesseError:
    cause = getattr(exc, "orig", None) or exc
    return DatabaseError(f"schema sync on {url.display} failed: {cause}")


async def plan_schema(db: Database) -> SyncPlan:
    """Compare ``db``'s collections with its database; nothing is changed."""
    from alembic.util import CommandError

    from ..runtime.schema_connections import schema_connection
    from .plan_builder import build_plan
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

    Raises ``DataConflictError`` (and applies nothing) when rows already stored would
    make the plan fail (``plan.conflicts``), whatever ``accept_data_loss`` says;
    ``DataLossError`` (and applies nothing) when the plan is destructive and
    ``accept_data_loss`` is False; ``SchemaSyncError`` when the database rejects a
    statement, or, given ``expected`` (a plan someone approved), when the plan made
    inside the transaction has other statements: then nothing is applied. With
    ``safe_only`` only the safe statements that stand alone are applied (sync/safe.py).
    """
    from alembic.util import CommandError

    from ..runtime.schema_connections import schema_connection
    from .apply import apply_plan
    from .plan_builder import build_plan
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
            # Before the data-loss question: accepting the loss would not make it apply.
            if plan.conflicts:
                raise _conflict_error(plan)
            if plan.has_data_loss and not accept_data_loss:
                raise _data_loss_error(plan)
            if not plan.is_empty:
                await conn.run_sync(apply_plan, plan, db.url)
            await conn.run_sync(record_tables, db.schema)  # which tables are ours
            await conn.commit()
    except (sa.exc.SQLAlchemyError, CommandError) as exc:
        raise _wrap(exc, db.url) from None
    return plan
