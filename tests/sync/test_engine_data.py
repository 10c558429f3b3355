"""The development engine with data that breaks an edit: it says which rows, asks nothing.

The engine re-loads in a fresh interpreter that plans with the same data checks as
``push()``: a plan the rows would make fail is reported as "could not sync" with the
rows named, and never offered at the y/N question (a "y" could not make it apply).
"""

from __future__ import annotations

import io
from pathlib import Path

import anyio
import pytest
from rich.console import Console

from deesse_async import collection, define_config, field, text
from deesse_async.sync.engine import DevEngine
from tests.sync.devapp import columns, dev_engine_config, notes_source, write_app

pytestmark = pytest.mark.anyio

SUBTITLE = '    "subtitle": field(type=text(max=50)),'
REQUIRED = '    "subtitle": required(field(type=text(max=50))),'
TITLE = '    "title": field(type=text(max=100)),'


def console() -> Console:
    return Console(file=io.StringIO(), width=200, force_terminal=False, highlight=False)


def text_of(out: Console) -> str:
    file = out.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


@pytest.mark.parametrize("backend", ["sqlite"])  # the engine is dialect-blind; see test_data_risks
@pytest.mark.parametrize("also_destructive", [False, True], ids=["unsafe", "with a drop"])
async def test_an_edit_the_rows_would_break_is_reported_not_asked(
    tmp_path: Path, database_url: str, also_destructive: bool
) -> None:
    package = write_app(tmp_path, notes_source(TITLE, SUBTITLE), database_url)
    out = console()
    engine = DevEngine(
        dev_engine_config(tmp_path, package, database_url, interactive=True), out=out
    )
    assert (await engine.sync("startup check")).applied
    notes = collection(
        slug="notes",
        fields={"title": field(type=text(max=100)), "subtitle": field(type=text(max=50))},
    )
    db = define_config(provider=database_url, collections=[notes])
    async with db:
        for title in ("a", "b"):
            await db.notes.create({"title": title})
    fields = (REQUIRED,) if also_destructive else (TITLE, REQUIRED)
    source = notes_source(*fields).replace("import collection,", "import collection, required,")
    await anyio.Path(tmp_path / package / "collections.py").write_text(source)
    with anyio.fail_after(60):  # interactive=True: a question would wait here for ever
        result = await engine.sync("collections.py changed")
    assert not result.applied
    shown = text_of(out)
    assert "could not sync" in shown
    assert "will fail: 2 rows have NULL in notes.subtitle" in shown
    assert "[y/N]" not in shown and "held back" not in shown
    # The refused SQLite rebuild is one line, the plan's own summary of the change (the
    # child hands over plan.changes), not its four statements.
    assert "rebuild notes: " in shown and "make subtitle required" in shown
    assert "statements)" not in shown and "_alembic_tmp_" not in shown
    assert await columns(database_url, "notes") == {
        "id", "title", "subtitle", "created_at", "updated_at"
    }  # fmt: skip
