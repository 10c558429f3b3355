"""The y/N question: answered, withdrawn, cancelled; and through a real pseudo-terminal.

The terminal test runs the engine (``run_dev``, what ``deesse dev`` runs) in a child whose
stdin/stdout/stderr are a pty, edits the collections on disk and types the answers.
"""

from __future__ import annotations

import io
import os
import select
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest
from rich.console import Console

from deesse_async.sync.plan import PlanChange, PlannedStatement, SyncPlan
from deesse_async.sync.prompt import ask_yes_no, change_line, change_rows, held_back_panel
from deesse_async.sync.reload import ReloadResult
from tests.sync.devapp import SUBTITLE, TITLE, notes_source, plain, write_app


def _console() -> Console:
    return Console(file=io.StringIO(), width=200, force_terminal=False)


@pytest.mark.parametrize(
    ("typed", "expected"), [(b"y\n", True), (b"YES\n", True), (b"n\n", False), (b"\n", False)]
)
def test_the_answer_is_yes_only_for_y(typed: bytes, expected: bool) -> None:
    read, write = os.pipe()
    try:
        os.write(write, typed)
        assert anyio.run(lambda: ask_yes_no(_console(), "Apply?", fd=read)) is expected
    finally:
        os.close(read)
        os.close(write)


def test_end_of_input_means_no() -> None:
    read, write = os.pipe()
    os.close(write)
    try:
        assert anyio.run(lambda: ask_yes_no(_console(), "Apply?", fd=read)) is False
    finally:
        os.close(read)


def test_a_withdrawn_or_cancelled_question_frees_its_thread_at_once() -> None:
    read, write = os.pipe()
    threads_before = set(threading.enumerate())

    async def scenario() -> tuple[bool | None, float]:
        out = _console()
        started = anyio.current_time()
        answer = await ask_yes_no(out, "Apply?", fd=read, until=lambda: anyio.sleep(0.2))
        with anyio.move_on_after(0.2):  # cancelled from outside, nobody typing
            await ask_yes_no(out, "Apply?", fd=read)
        return answer, anyio.current_time() - started

    try:
        answer, took = anyio.run(scenario)
    finally:
        os.close(read)
        os.close(write)
    assert answer is None
    assert took < 1.5
    time.sleep(0.3)  # the reading threads notice within 0.1 s
    assert set(threading.enumerate()) - threads_before == set()


def test_the_warning_lists_sql_risk_reason_and_rows() -> None:
    statements = [
        PlannedStatement("ALTER TABLE notes ADD COLUMN subtitle VARCHAR(50)", "safe", "new field"),
        PlannedStatement("ALTER TABLE notes DROP COLUMN title", "destructive", "field removed"),
    ]
    result = ReloadResult(plan=SyncPlan(statements, [None, 3]))
    out = _console()
    command = "deesse push --accept-data-loss --app app.main:db"
    out.print(
        held_back_panel(result, database="sqlite:///x.db", command=command, interactive=False)
    )
    out.print(change_line(change_rows(result.plan)[1]))
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "destructive schema change held back" in text
    assert "ALTER TABLE notes DROP COLUMN title" in text
    assert "field removed" in text and " 3 " in text
    assert command in text
    assert "destructive" in text.splitlines()[-1]


def test_the_warning_shows_one_row_per_change_with_the_plans_summary() -> None:
    # Two statements that are one change (say, an index dropped with its column): the
    # box shows the plan's summary of that change, whatever the statements look like.
    statements = [
        PlannedStatement("DROP INDEX ix_notes_title", "safe", "index of a removed field"),
        PlannedStatement("ALTER TABLE notes DROP COLUMN title", "destructive", "Loses 3 values"),
        PlannedStatement("CREATE TABLE tags (id INTEGER)", "safe", "new collection"),
    ]
    changes = [
        PlanChange("drop column notes.title (3 values)", "destructive", (0, 1)),
        PlanChange("CREATE TABLE tags (id INTEGER)", "safe", (2,)),
    ]
    plan = SyncPlan.from_dict(SyncPlan(statements, [None, 3, None], changes=changes).to_dict())
    out = _console()
    out.print(
        held_back_panel(ReloadResult(plan=plan), database="d", command=None, interactive=True)
    )
    text = out.file.getvalue()  # type: ignore[attr-defined]
    rows = [line for line in text.splitlines() if line.startswith(("│ destructive", "│ safe"))]
    assert len(rows) == 2
    assert "drop column notes.title (3 values)" in rows[0] and "Loses 3 values" in rows[0]
    assert rows[0].rstrip(" │").endswith(" 3")
    assert "DROP INDEX" not in text and "DROP COLUMN" not in text


# --- a real terminal --------------------------------------------------------------------


class Terminal:
    """The parent side of a pty, with a transcript and bounded waits."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.transcript = ""

    def expect(self, text: str, timeout: float = 15.0, after: int = 0) -> int:
        """Read until ``text`` appears after position ``after``; returns where it ends."""
        deadline = time.monotonic() + timeout
        while (found := plain(self.transcript).find(text, after)) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{text!r} not seen; terminal showed:\n{self.output}")
            ready, _, _ = select.select([self.fd], [], [], min(remaining, 0.2))
            if ready:
                try:
                    self.transcript += os.read(self.fd, 65536).decode(errors="replace")
                except OSError:  # EIO: the child closed the terminal
                    raise AssertionError(f"{text!r} not seen; exited:\n{self.output}") from None
        return found + len(text)

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def read_for(self, seconds: float) -> None:
        """Collect whatever the child prints during ``seconds``."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.fd], [], [], min(remaining, 0.1))
            if ready:
                try:
                    self.transcript += os.read(self.fd, 65536).decode(errors="replace")
                except OSError:
                    return

    @property
    def output(self) -> str:
        return plain(self.transcript)


DEV = (
    "import sys; from deesse_async.cli.dev import run_dev; sys.exit(run_dev({app!r}, debounce=0.3))"
)


@contextmanager
def engine_on_a_terminal(root: Path, app_path: str) -> Iterator[Terminal]:
    """``run_dev(app_path)`` in a child on a pty; stopped with Ctrl+C (SIGINT), then killed."""
    controller, child_side = os.openpty()
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "-c", DEV.format(app=app_path)],
        cwd=root,
        env=env,
        stdin=child_side,
        stdout=child_side,
        stderr=child_side,
        start_new_session=True,
    )
    os.close(child_side)
    terminal = Terminal(controller)
    try:
        yield terminal
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        os.close(controller)


def _columns(db_file: Path, table: str) -> set[str]:
    with sqlite3.connect(db_file) as conn:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_a_person_at_the_terminal_answers_no_then_yes(tmp_path: Path) -> None:
    db_file = tmp_path / "dev.db"
    package = write_app(tmp_path, notes_source(TITLE, SUBTITLE), f"sqlite:///{db_file}")
    source = tmp_path / package / "collections.py"
    with engine_on_a_terminal(tmp_path, f"{package}.main:db") as terminal:
        seen = terminal.expect("applied 1 statement")  # the startup check creates notes
        with sqlite3.connect(db_file) as conn:
            conn.execute(
                "INSERT INTO notes (title, created_at, updated_at) VALUES ('kept', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        source.write_text(notes_source(SUBTITLE))  # drop the title field: loses data

        start, seen = seen, terminal.expect("[y/N]", after=seen)
        warning = terminal.output[start:seen]
        assert "destructive schema change held back" in warning
        assert "title" in warning  # SQLite drops a column by rebuilding the table
        terminal.type("n\n")
        seen = terminal.expect("nothing applied", after=seen)
        assert "title" in _columns(db_file, "notes")

        source.write_text(notes_source(SUBTITLE) + "\n# saved again\n")
        seen = terminal.expect("[y/N]", after=seen)
        terminal.type("y\n")
        terminal.expect("applied", after=seen)
        assert _columns(db_file, "notes") == {"id", "subtitle", "created_at", "updated_at"}


# --- input typed before the question ----------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_an_answer_typed_before_the_question_is_discarded() -> None:
    controller, terminal = os.openpty()
    try:
        os.write(controller, b"y\n")  # a stray keypress while nothing was asked
        time.sleep(0.05)

        async def ask() -> bool | None:
            # Withdrawn after 0.5 s: only the stray "y" could have answered it.
            return await ask_yes_no(
                _console(), "Apply?", fd=terminal, until=lambda: anyio.sleep(0.5)
            )

        assert anyio.run(ask) is None

        async def ask_then_type() -> bool | None:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_type_later, controller, b"y\n")
                return await ask_yes_no(_console(), "Apply?", fd=terminal)

        assert anyio.run(ask_then_type) is True
    finally:
        os.close(controller)
        os.close(terminal)


async def _type_later(fd: int, text: bytes) -> None:
    await anyio.sleep(0.3)
    os.write(fd, text)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_a_stray_y_typed_before_the_warning_applies_nothing(tmp_path: Path) -> None:
    db_file = tmp_path / "dev.db"
    package = write_app(tmp_path, notes_source(TITLE, SUBTITLE), f"sqlite:///{db_file}")
    source = tmp_path / package / "collections.py"
    with engine_on_a_terminal(tmp_path, f"{package}.main:db") as terminal:
        seen = terminal.expect("applied 1 statement")
        with sqlite3.connect(db_file) as conn:
            conn.execute(
                "INSERT INTO notes (title, created_at, updated_at) VALUES ('kept', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        terminal.type("y\n")  # typed in the server's terminal while nothing is asked
        time.sleep(0.2)
        source.write_text(notes_source(SUBTITLE))  # drop the title field: loses data
        seen = terminal.expect("[y/N]", after=seen)
        terminal.read_for(1.5)  # an answer already waiting would have been read by now
        assert "applied" not in terminal.output[seen:]
        assert "title" in _columns(db_file, "notes")
        with sqlite3.connect(db_file) as conn:
            assert conn.execute("SELECT title FROM notes").fetchall() == [("kept",)]

        terminal.type("y\n")  # the answer to the question on screen
        terminal.expect("applied", after=seen)
        assert _columns(db_file, "notes") == {"id", "subtitle", "created_at", "updated_at"}
