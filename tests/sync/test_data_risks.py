"""Data-aware risks: plans that the rows already stored would make fail are refused first.

Each test stores rows that break the next version of a collection, and checks on every
backend that ``plan()`` names the rows, that ``push()`` refuses with ``DataConflictError``
before any statement runs (schema, CHECKs and rows unchanged, even with
``accept_data_loss=True``), and that the same plan applies once the data is fixed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from deesse_async import (
    Collection,
    Database,
    DataConflictError,
    Field,
    SyncPlan,
    collection,
    date,
    field,
    integer,
    required,
    select,
    text,
    unique,
)
from deesse_async.runtime.schema_connections import schema_connection
from tests.sync.conftest import Version, fetch, snapshot

pytestmark = pytest.mark.anyio

TITLE = required(field(type=text(max=100)))


def tasks(**fields: Field) -> Collection:
    return collection(slug="tasks", fields={"title": TITLE, **fields})


async def seed(db: Database, *rows: dict[str, Any]) -> None:
    for row in rows:
        await db.tasks.create({"title": "t", **row})


def _checks(conn: sa.Connection) -> dict[str, list[tuple[str, str]]]:
    inspector = sa.inspect(conn)
    return {
        t: sorted((str(c["name"]), " ".join(str(c["sqltext"]).split()))
                  for c in inspector.get_check_constraints(t))
        for t in sorted(inspector.get_table_names())
    }  # fmt: skip


async def state(db: Database) -> tuple[Any, ...]:
    """Schema (with CHECK constraints) and every row of tasks: what a refusal keeps."""
    async with schema_connection(db.url, write=False) as conn:
        checks = await conn.run_sync(_checks)
    rows = await fetch(db, "SELECT * FROM tasks ORDER BY id")
    return await snapshot(db), checks, rows


async def refused(db: Database, *expected: str) -> DataConflictError:
    """plan() names the conflict, push() refuses it and changes nothing."""
    plan = await db.plan()
    messages = [c.message for c in plan.conflicts]
    for text_ in expected:
        assert any(text_ in m for m in messages), messages
    assert all(f"  {m}" in plan.summary() for m in messages)  # what `deesse plan` prints
    assert SyncPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan  # --json too
    before = await state(db)
    with pytest.raises(DataConflictError) as info:
        await db.push(accept_data_loss=True)  # accepting a loss does not make it apply
    error = info.value
    for text_ in expected:
        assert text_ in str(error)
    assert error.applied == [] and error.statement is None and error.rolled_back
    assert error.conflicts == plan.conflicts
    assert await state(db) == before
    return error


async def test_new_required_field_without_default_over_rows(version: Version) -> None:
    v1 = version([tasks()])
    await v1.push()
    await seed(v1, {}, {}, {})
    v2 = version([tasks(due_on=required(field(type=date())))])
    error = await refused(
        v2, "will fail: 3 rows would have NULL in tasks.due_on", "give the field a literal default"
    )
    assert [(c.table, c.column, c.rows, c.kind) for c in error.conflicts] == [
        ("tasks", "due_on", 3, "not_null")
    ]
    plan = await v2.plan()
    for n in (1, 2, 3):  # the data is fixed: no rows left without a due date
        await v1.tasks.delete(n)
    assert (await v2.plan()).statements == plan.statements
    await v2.push()
    assert (await v2.plan()).is_empty


async def test_set_not_null_over_nulls(version: Version) -> None:
    v1 = version([tasks(body=field(type=text(max=50)))])
    await v1.push()
    await seed(v1, {"body": "x"}, {}, {})
    v2 = version([tasks(body=required(field(type=text(max=50))))])
    await refused(v2, "will fail: 2 rows have NULL in tasks.body", "fill those values")
    plan = await v2.plan()
    await v1.tasks.update(2, {"body": "y"})
    await v1.tasks.update(3, {"body": "z"})
    assert not (await v2.plan()).conflicts
    applied = await v2.push()
    assert applied.statements == plan.statements
    assert await fetch(v2, "SELECT body FROM tasks ORDER BY id") == [("x",), ("y",), ("z",)]
    assert (await v2.plan()).is_empty


async def test_new_unique_over_duplicates(version: Version) -> None:
    v1 = version([tasks(code=field(type=text(max=20)))])
    await v1.push()
    await seed(v1, *({"code": c} for c in ("a", "a", "a", "b", "b", "c")), {})
    v2 = version([tasks(code=unique(field(type=text(max=20))))])
    await refused(v2, "will fail: 2 duplicate values in tasks.code ('a' in 3 rows, 'b' in 2 rows)")
    plan = await v2.plan()
    for n, code in ((2, "a2"), (3, "a3"), (5, "b2")):
        await v1.tasks.update(n, {"code": code})
    applied = await v2.push()
    assert applied.statements == plan.statements
    assert "uq_tasks_code" in (await snapshot(v2))["tasks"]["uniques"]
    assert (await v2.plan()).is_empty


async def test_narrowed_text_over_longer_values(version: Version) -> None:
    v1 = version([tasks(note=field(type=text(max=100)))])
    await v1.push()
    await seed(v1, {"note": "é" * 60}, {"note": "x" * 51}, {"note": "short"}, {})
    v2 = version([tasks(note=field(type=text(max=50)))])
    await refused(v2, "will fail: 2 rows are longer than 50 characters in tasks.note")
    plan = await v2.plan()
    await v1.tasks.update(1, {"note": "é" * 50})  # 50 characters, 100 bytes in UTF-8: fits
    await v1.tasks.update(2, {"note": "x" * 50})
    assert not (await v2.plan()).conflicts
    # Every value fits now: the narrowing loses nothing, so it needs no data-loss consent.
    assert not (await v2.plan()).has_data_loss
    applied = await v2.push()
    assert [s.sql for s in applied.statements] == [s.sql for s in plan.statements]
    notes = await fetch(v2, "SELECT note FROM tasks ORDER BY id")
    assert notes == [("é" * 50,), ("x" * 50,), ("short",), (None,)]
    assert (await v2.plan()).is_empty


async def test_removed_choice_still_in_use(version: Version) -> None:
    old = select("draft", "published", "archived")
    v1 = version([tasks(status=field(type=old))])
    await v1.push()
    await seed(v1, {"status": "archived"}, {"status": "draft"}, {"status": "archived"}, {})
    v2 = version([tasks(status=field(type=select("draft", "published")))])
    error = await refused(v2, "will fail: 2 rows hold 'archived' in tasks.status")
    assert "change those rows to an allowed choice" in str(error)
    # MariaDB would have dropped the CHECK, then failed to add the new one: state() above
    # compared the CHECK constraints too.
    plan = await v2.plan()
    await v1.tasks.update(1, {"status": "published"})
    await v1.tasks.update(3, {"status": "draft"})
    # No row holds the removed choice now: shortening its VARCHAR loses nothing.
    assert not (await v2.plan()).has_data_loss
    applied = await v2.push()
    assert [s.sql for s in applied.statements] == [s.sql for s in plan.statements]
    assert (await v2.plan()).is_empty
    async with schema_connection(v2.url, write=False) as conn:
        assert [name for name, _ in (await conn.run_sync(_checks))["tasks"]] == ["ck_tasks_status"]


async def test_narrowed_number_range_over_values_outside(version: Version) -> None:
    v1 = version([tasks(priority=field(type=integer(min=0, max=10)))])
    await v1.push()
    await seed(v1, {"priority": 7}, {"priority": 9}, {"priority": 7}, {"priority": 1}, {})
    v2 = version([tasks(priority=field(type=integer(min=0, max=5)))])
    await refused(
        v2,
        "will fail: 3 rows hold values outside the new range in tasks.priority",
        "(7 in 2 rows, 9 in 1 row)",
    )
    plan = await v2.plan()
    for n in (1, 2, 3):
        await v1.tasks.update(n, {"priority": 5})
    applied = await v2.push()
    assert applied.statements == plan.statements
    assert (await v2.plan()).is_empty


async def test_several_conflicts_are_all_named(version: Version) -> None:
    v1 = version([tasks(body=field(type=text(max=50)), code=field(type=text(max=20)))])
    await v1.push()
    await seed(v1, {"code": "a"}, {"code": "a"})
    v2 = version(
        [
            tasks(
                body=required(field(type=text(max=50))),
                code=unique(field(type=text(max=20))),
                rank=required(field(type=integer())),
            )
        ]
    )
    error = await refused(
        v2,
        "2 rows have NULL in tasks.body",
        "1 duplicate value in tasks.code ('a' in 2 rows)",
        "2 rows would have NULL in tasks.rank",
    )
    assert len(error.conflicts) == 3
    assert "3 problems" in str(error)


async def test_a_plan_without_conflicts_over_rows_applies(version: Version) -> None:
    v1 = version([tasks(status=field(type=select("draft", "published")))])
    await v1.push()
    await seed(v1, {"status": "draft"}, {})
    wider = select("draft", "published", "archived")
    v2 = version([tasks(status=field(type=wider), code=unique(field(type=text(max=20))))])
    plan = await v2.plan()
    assert plan.conflicts == [] and plan.statements
    await v2.push()
    assert (await v2.plan()).is_empty


async def test_removing_an_unused_choice_needs_no_data_loss_consent(version: Version) -> None:
    """Removing a choice no row holds shortens the column: checked, judged unsafe, applied."""
    v1 = version([tasks(status=field(type=select("todo", "done", "archived")))])
    await v1.push()
    await seed(v1, {"status": "todo"}, {"status": "done"}, {})
    v2 = version([tasks(status=field(type=select("todo", "done")))])
    plan = await v2.plan()
    assert not plan.conflicts and not plan.has_data_loss
    assert any("Every value stored now fits" in s.reason for s in plan.statements)
    await v2.push()  # no accept_data_loss: nothing is lost
    assert await fetch(v2, "SELECT status FROM tasks ORDER BY id") == [
        ("todo",),
        ("done",),
        (None,),
    ]
    assert (await v2.plan()).is_empty
