"""A plan that stops half-way on MySQL/MariaDB (whose DDL commits itself, statement by
statement): the error and the log list exactly what ran, and no table keeps less
protection than before.

The stop is made deterministic with a SQLAlchemy cursor event on the real connection:
a row inserted by "another client" just before a statement (the race the data check
cannot see), or a cancellation requested right after the N-th statement.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from deesse_async import Collection, Field, SchemaSyncError, collection, field, select, text
from deesse_async.runtime.schema_connections import schema_connection
from tests.sync.conftest import Version, fetch, snapshot

pytestmark = [pytest.mark.anyio]

INSERT = (
    "INSERT INTO tasks (title, status, created_at, updated_at) "
    "VALUES ('b', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)
OLD = select("draft", "published", "archived")
NEW = select("draft", "published")


def tasks(**fields: Field) -> Collection:
    return collection(slug="tasks", fields={"title": field(type=text(max=100)), **fields})


Hook = Callable[[Any, Any, str], None]


@contextmanager
def on_statement(when: str, hook: Hook) -> Iterator[None]:
    """Call ``hook(connection, cursor, sql)`` before/after every statement any engine runs."""

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        hook(conn, cursor, statement)

    event.listen(sa.engine.Engine, f"{when}_cursor_execute", listener)
    try:
        yield
    finally:
        event.remove(sa.engine.Engine, f"{when}_cursor_execute", listener)


async def checks(db: Any) -> list[tuple[str, str]]:
    def read(conn: sa.Connection) -> list[tuple[str, str]]:
        found = sa.inspect(conn).get_check_constraints("tasks")
        return sorted((str(c["name"]), " ".join(str(c["sqltext"]).split())) for c in found)

    async with schema_connection(db.url, write=False) as conn:
        return await conn.run_sync(read)


# PostgreSQL and SQLite roll the whole plan back (tested in test_push).
@pytest.mark.backends("mysql")
async def test_a_refused_check_puts_the_old_one_back(version: Version) -> None:
    v1 = version([tasks(status=field(type=OLD))])
    await v1.push()
    await v1.tasks.create({"title": "a", "status": "draft"})
    before = await checks(v1)
    v2 = version([tasks(status=field(type=NEW))])
    plan = await v2.plan()
    assert plan.conflicts == []  # no row holds 'archived' yet
    adds = [s.sql for s in plan.statements if "ADD CONSTRAINT" in s.sql]
    assert len(adds) == 1

    def race(conn: Any, cursor: Any, sql: str) -> None:
        # Another client stores 'archived' between the data check and the new CHECK.
        if sql == adds[0]:
            cursor.execute(INSERT.format("archived"))

    with on_statement("before", race), pytest.raises(SchemaSyncError) as info:
        await v2.push()
    error = info.value
    assert not error.rolled_back and error.statement == adds[0]
    assert "CONSTRAINT `ck_tasks_status` failed" in str(error)  # MariaDB refused the new CHECK
    drops = [s.sql for s in plan.statements[: plan.statements.index(next(
        s for s in plan.statements if s.sql == adds[0]))]]  # fmt: skip
    assert error.applied == drops and any("DROP CONSTRAINT ck_tasks_status" in s for s in drops)
    assert "put back" in str(error) and "ck_tasks_status" in str(error)
    assert await checks(v1) == before  # the old CHECK is in force again
    with pytest.raises(sa.exc.DBAPIError, match="ck_tasks_status"):  # and it is enforced
        async with schema_connection(v1.url, write=True) as conn:
            await conn.exec_driver_sql(INSERT.format("nope"))
    assert (
        (await v2.plan())
        .conflicts[0]
        .message.startswith("will fail: 1 row holds 'archived' in tasks.status")
    )


# PostgreSQL and SQLite roll the whole plan back (tested in test_push).
@pytest.mark.backends("mysql")
async def test_a_cancelled_push_reports_exactly_what_was_applied(
    version: Version, caplog: pytest.LogCaptureFixture
) -> None:
    v1 = version([tasks()])
    await v1.push()
    added: dict[str, Field] = {f"c{n}": field(type=text(max=10)) for n in range(5)}
    v2 = version([tasks(**added)])
    plan = await v2.plan()
    sql = [s.sql for s in plan.statements]
    assert len(sql) == 5
    ran: list[str] = []

    with anyio.CancelScope() as scope:

        def cancel_after_two(conn: Any, cursor: Any, statement: str) -> None:
            if statement in sql:
                ran.append(statement)
                if len(ran) == 2:
                    scope.cancel()  # say, the dev server shuts down mid-push

        with on_statement("after", cancel_after_two), caplog.at_level(logging.ERROR):
            await v2.push()
    assert scope.cancelled_caught
    assert ran == sql[:2]  # the third statement never started
    reports = [r.getMessage() for r in caplog.records if r.name == "deesse_async.sync"]
    assert len(reports) == 1
    report = reports[0]
    assert "after 2 of 5 statements" in report
    listed = [line.strip() for line in report.splitlines() if line.startswith("  ")]
    assert listed == [" ".join(s.split()) for s in sql[:2]]
    columns = [c[0] for c in (await snapshot(v2))["tasks"]["columns"]]
    assert [c for c in columns if c in added] == ["c0", "c1"]
    # What is left is planned and applied as usual.
    assert [s.sql for s in (await v2.plan()).statements] == sql[2:]
    await v2.push()
    assert (await v2.plan()).is_empty
    assert await fetch(v2, "SELECT count(*) FROM tasks") == [(0,)]
