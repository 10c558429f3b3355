"""Messages about data loss name the data: the column or table, and how much of it.

``DataLossError`` and the dev engine's warning box used to show only statements (on
SQLite, ``DROP TABLE u (1 row affected)`` for a dropped *column*, the column being in
``reason`` only). Now each change is one line that names what it loses; a SQLite table
rebuild is one change, its statements still in ``plan.statements`` and ``describe()``.
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from deesse_async import DataLossError, SyncPlan, collection, field, required, text
from deesse_async.sync.prompt import held_back_panel
from deesse_async.sync.reload import ReloadResult
from tests.sync.conftest import Version

pytestmark = pytest.mark.anyio

TITLE = required(field(type=text(max=100)))
WITH_COLOR = collection(slug="tasks", fields={"title": TITLE, "color": field(type=text())})
WITHOUT = collection(slug="tasks", fields={"title": TITLE})
NOTES = collection(slug="notes", fields={"body": field(type=text())})


def box(plan_dict: dict[str, object]) -> str:
    """The engine's warning box for a plan, as the child process hands it over (JSON)."""
    result = ReloadResult(plan=SyncPlan.from_dict(plan_dict))
    out = Console(file=io.StringIO(), width=200, color_system=None)
    out.print(held_back_panel(result, database="db", command="x", interactive=False))
    return out.file.getvalue()  # type: ignore[attr-defined]


async def test_dropped_column_names_the_column_and_its_values(
    version: Version, backend: str
) -> None:
    v1 = version([WITH_COLOR])
    await v1.push()
    for color in ("red", "blue", None):
        await v1.tasks.create({"title": "t", "color": color})
    v2 = version([WITHOUT])
    plan = await v2.plan()
    if backend == "sqlite":
        summary = "rebuild tasks: drop column color (2 values)"
        assert len(plan.statements) >= 4  # create copy, copy rows, drop, rename
    else:
        summary = "drop column tasks.color (2 values)"
    destructive = [c for c in plan.grouped() if c.risk == "destructive"]
    assert [c.summary for c in destructive] == [summary]
    assert [n for c in plan.grouped() for n in c.statements] == list(range(len(plan.statements)))
    with pytest.raises(DataLossError) as info:
        await v2.push()
    message = str(info.value)
    assert f"[destructive] {summary}" in message
    assert "plan.statements, or `deesse plan --sql`" in message
    assert info.value.statements == [s.sql for s, _ in plan.data_loss]
    assert "2 values of tasks.color" in plan.data_loss[0][0].reason
    shown = box(plan.to_dict())
    assert "Loses 2 values of tasks.color" in shown
    assert summary in shown  # the plan's own summary of the change, on every backend
    assert "_alembic_tmp_" not in shown  # a SQLite rebuild's statements are one change
    assert "_alembic_tmp_" in plan.describe() or backend != "sqlite"  # the SQL on request


async def test_dropped_table_names_the_table_and_its_rows(version: Version) -> None:
    v1 = version([WITHOUT, NOTES])
    await v1.push()
    await v1.notes.create({"body": "keep me"})
    v2 = version([WITHOUT])
    plan = await v2.plan()
    assert [c.summary for c in plan.grouped()] == ["drop table notes (1 row)"]
    with pytest.raises(DataLossError, match=r"\[destructive\] drop table notes \(1 row\)"):
        await v2.push()
    shown = box(plan.to_dict())
    assert "Loses 1 row of notes" in shown and "drop table notes (1 row)" in shown


async def test_safe_changes_summarise_as_their_sql(version: Version) -> None:
    v1 = version([WITHOUT])
    await v1.push()
    v2 = version([WITH_COLOR])
    plan = await v2.plan()
    summary = plan.summary()
    assert summary.startswith("  [safe] ")
    assert "color" in summary
    again = SyncPlan.from_dict(plan.to_dict())
    assert again == plan and again.grouped() == plan.grouped()
