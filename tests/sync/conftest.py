"""Schema sync tests: several versions of the same collections against one database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from deesse_async import Collection, Database, define_config
from deesse_async.runtime.schema_connections import schema_connection

Version = Callable[[Sequence[Collection]], Database]


@pytest.fixture
async def version(database_url: str) -> AsyncIterator[Version]:
    """``version([Posts])``: a Database on the test's database URL (closed afterwards).

    Call it once per schema version; each call is a separate ``define_config``.
    """
    opened: list[Database] = []

    def make(collections: Sequence[Collection]) -> Database:
        db = define_config(provider=database_url, collections=list(collections))
        opened.append(db)
        return db

    yield make
    for db in opened:
        await db.close()


def _snapshot(conn: sa.Connection) -> dict[str, Any]:
    inspector = sa.inspect(conn)
    out: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        if table == "deesse_tables":  # the sync's own bookkeeping (sync/registry.py)
            continue
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ],
            "uniques": sorted(str(u["name"]) for u in inspector.get_unique_constraints(table)),
            "indexes": sorted(str(i["name"]) for i in inspector.get_indexes(table)),
            "foreign_keys": sorted(str(f["name"]) for f in inspector.get_foreign_keys(table)),
        }
    return out


async def snapshot(db: Database) -> dict[str, Any]:
    """Tables with their columns (name, type, nullable), uniques, indexes and FKs."""
    async with schema_connection(db.url, write=False) as conn:
        return await conn.run_sync(_snapshot)


async def fetch(db: Database, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a raw query (independent of the collections' current shape)."""
    async with schema_connection(db.url, write=False) as conn:
        return [tuple(row) for row in (await conn.exec_driver_sql(sql)).all()]


def risks(plan: Any) -> list[str]:
    """The risk of every statement, in order."""
    return [s.risk for s in plan.statements]
