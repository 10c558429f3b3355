"""What the development engine says in the terminal, and its y/N question.

Everything goes to one ``rich`` console on stderr (where uvicorn logs too), one line per
event. The question reads the terminal in a worker thread, so the app's event loop keeps
serving while it waits for an answer.
"""

from __future__ import annotations

import os
import re
import select
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence

import anyio
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .reload import PlannedChange, ReloadResult

__all__ = [
    "ask_yes_no",
    "change_line",
    "console",
    "discard_pending_input",
    "grouped_rows",
    "held_back_panel",
    "in_background",
    "one_line",
    "report_applied",
    "report_error",
    "say",
    "statement_line",
    "stdin_is_tty",
]

RISK_STYLES = {"safe": "green", "unsafe": "yellow", "destructive": "bold red"}
_POLL = 0.1  # how often the reading thread checks whether the question was withdrawn


def console() -> Console:
    """The engine's console: stderr, colours only on a terminal."""
    return Console(stderr=True, highlight=False)


def say(out: Console, message: str, *, style: str = "") -> None:
    """One engine line: ``deesse · message`` (``message`` is rich markup)."""
    body = f"[{style}]{message}[/{style}]" if style else message
    out.print(f"[bold cyan]deesse[/bold cyan] · {body}")


def statement_line(change: PlannedChange) -> Text:
    """``  safe         ALTER TABLE … -- reason`` with the risk in its colour."""
    line = Text("  ")
    line.append(f"{change.risk:<12}", style=RISK_STYLES.get(change.risk, ""))
    line.append(one_line(change.sql))
    if change.reason:
        line.append(f"  -- {change.reason}", style="dim")
    return line


def change_line(risk: str, what: str, reason: str) -> Text:
    """``statement_line`` for one change of ``grouped_rows`` (a rebuild is one line)."""
    line = Text("  ")
    line.append(f"{risk:<12}", style=RISK_STYLES.get(risk, ""))
    line.append(what)
    if reason:
        line.append(f"  -- {reason}", style="dim")
    return line


def one_line(sql: str) -> str:
    """SQL on one line (``CREATE TABLE`` comes pretty-printed over several)."""
    return " ".join(sql.split())


def report_applied(out: Console, result: ReloadResult) -> None:
    """The short report of an applied plan: a header, then one line per statement."""
    count = len(result.statements)
    noun = "statement" if count == 1 else "statements"
    say(out, f"applied {count} {noun} in {result.seconds:.1f}s", style="green")
    for risk, what, reason, _ in grouped_rows(result.statements):
        out.print(change_line(risk, what, reason))
    for hint in result.hints:
        out.print(Text(f"  hint: {hint}", style="dim"))


def report_error(out: Console, result: ReloadResult) -> None:
    """A broken collection file or a refused plan: the summary, then the broken line."""
    say(out, f"[bold red]could not sync:[/bold red] {escape(result.error or 'unknown error')}")
    if result.detail:
        out.print(Text(result.detail, style="dim"))
    # The plan that was refused (the error says more); a SQLite rebuild is one line.
    for risk, what, reason, _ in grouped_rows(result.statements):
        out.print(change_line(risk, what, reason))
    if result.statements:
        say(out, "still watching (fix the data or the collections, then save)", style="dim")
    else:
        say(out, "nothing was applied; still watching (fix the file and save again)", style="dim")


_RANK = {"safe": 0, "unsafe": 1, "destructive": 2}
_REBUILD = re.compile(r'^CREATE TABLE [`"]?_alembic_tmp_(?P<table>[^\s`"(]+)', re.IGNORECASE)


def _rebuild_end(statements: Sequence[PlannedChange], start: int, table: str) -> int:
    """Where the SQLite rebuild of ``table`` that starts at ``start`` ends (exclusive)."""
    rename = re.compile(rf'^ALTER TABLE [`"]?_alembic_tmp_{re.escape(table)}[`"]? RENAME TO ')
    for n in range(start + 1, len(statements)):
        if rename.match(one_line(statements[n].sql)):
            end = n + 1
            # The table's indexes come back right after the rename: part of the rebuild.
            on_table = re.compile(rf'^CREATE (UNIQUE )?INDEX \S+ ON [`"]?{re.escape(table)}\b')
            while end < len(statements) and on_table.match(one_line(statements[end].sql)):
                end += 1
            return end
    return start + 1


def grouped_rows(statements: Sequence[PlannedChange]) -> list[tuple[str, str, str, str]]:
    """(risk, what, reason, rows) per change: a SQLite table rebuild is one row.

    The rebuild's row takes the risk and reason of its worst statement: for one that loses
    data, the reason names the column and how many values ("Loses 2 values of
    tasks.color. ..."). The statements themselves: ``deesse plan --sql``.
    """
    out: list[tuple[str, str, str, str]] = []
    n = 0
    while n < len(statements):
        match = _REBUILD.match(statements[n].sql.lstrip())
        end = _rebuild_end(statements, n, match["table"]) if match else n + 1
        group = statements[n:end]
        worst = max(group, key=lambda c: _RANK.get(c.risk, 0))
        counts = [c.affected_rows for c in group if c.affected_rows is not None]
        rows = str(max(counts)) if counts else ""
        what, reason = one_line(worst.sql), worst.reason
        if len(group) > 1:
            what = f"rebuild {match['table'] if match else '?'} ({len(group)} statements)"
            # A safe rebuild's reasons only describe its steps (copy table, rename back).
            reason = "" if worst.risk == "safe" else reason
        out.append((worst.risk, what, reason, rows))
        n = end
    return out


def held_back_panel(
    result: ReloadResult, *, database: str, command: str | None, interactive: bool
) -> Panel:
    """The boxed warning for a plan that loses data: change, risk, reason, rows.

    The reason of a destructive change names the data it loses; a SQLite table rebuild
    (four or more statements) is shown as the one change it is.
    """
    table = Table(box=None, pad_edge=False, show_edge=False, expand=False)
    table.add_column("risk", no_wrap=True)
    table.add_column("change", overflow="fold")
    table.add_column("reason", overflow="fold")
    table.add_column("rows", justify="right", no_wrap=True)
    for risk, what, reason, rows in grouped_rows(result.statements):
        table.add_row(Text(risk, style=RISK_STYLES.get(risk, "")), what, reason, rows)
    parts: list[Text | Table] = [
        Text(f"The collections changed in a way that loses data in {database}:\n"),
        table,
    ]
    parts.extend(Text(f"hint: {hint}", style="dim") for hint in result.hints)
    if not interactive:
        how = f"\nNothing was applied. To apply it: {command}" if command else ""
        parts.append(Text(f"{how}\nOr change the collections back: the next save re-checks."))
    return Panel(
        Group(*parts),
        title="[bold red]deesse: destructive schema change held back[/bold red]",
        border_style="red",
        expand=False,
    )


def stdin_is_tty() -> bool:
    """Whether a person can answer: stdin is a terminal (uvicorn's workers keep it) and
    this process is not a background job on it (``uvicorn app:app &``)."""
    try:
        if sys.stdin is None or not os.isatty(fd := sys.stdin.fileno()):
            return False
    except (OSError, ValueError):  # closed or replaced stdin
        return False
    return not in_background(fd)


def in_background(fd: int) -> bool:
    """True when terminal ``fd`` controls this process and another job is in front.

    A background job that reads its terminal gets SIGTTIN, one that flushes it SIGTTOU:
    both stop the whole server. Without job control on ``fd`` (not our controlling
    terminal) there is no such signal.
    """
    try:
        return os.tcgetpgrp(fd) != os.getpgrp()
    except OSError:  # not our controlling terminal: no job control
        return False


def discard_pending_input(fd: int) -> None:
    """Throw away what was typed on terminal ``fd`` and not read yet.

    A ``y`` + Enter pressed in the server's terminal while nothing was asked (or a second
    line typed to an earlier question) waits in the terminal's input queue; read after
    the question, it would answer it. Only what is typed after the question may count.
    A pipe or file is left alone: its input was not typed at a question.
    """
    if not os.isatty(fd) or in_background(fd):
        return
    try:
        import termios
    except ImportError:  # pragma: no cover - no termios (Windows): nothing to flush with
        return
    try:
        termios.tcflush(fd, termios.TCIFLUSH)
    except termios.error:  # the terminal went away: the read that follows says so
        return


def _read_line(fd: int, withdrawn: threading.Event) -> str | None:
    # select() with a short timeout rather than a blocking read: a withdrawn question must
    # free its thread promptly, or shutdown would wait for someone to press Enter.
    while not withdrawn.is_set():
        ready, _, _ = select.select([fd], [], [], _POLL)
        if ready:
            return os.read(fd, 4096).decode(errors="replace")
    return None


async def ask_yes_no(
    out: Console,
    question: str,
    *,
    fd: int | None = None,
    until: Callable[[], Awaitable[object]] | None = None,
) -> bool | None:
    """Ask ``question [y/N]`` on the terminal; True only for ``y``/``yes`` typed after it.

    Input typed on the terminal before the question appeared is discarded first.

    Returns None when ``until`` (say, "the files changed again") finishes before an answer
    comes. Cancelling the caller withdraws the question too; no thread outlives it by more
    than a tenth of a second.
    """
    fd = sys.stdin.fileno() if fd is None else fd
    withdrawn = threading.Event()
    answer: str | None = None
    # Just before the question appears: a key pressed before it was seen is no answer,
    # and one typed the moment it shows must count (so not after printing it).
    discard_pending_input(fd)
    out.print(Text(f"{question} [y/N] ", style="bold"), end="")
    try:
        async with anyio.create_task_group() as tg:
            if until is not None:
                tg.start_soon(_withdraw_when, until, tg.cancel_scope)
            answer = await anyio.to_thread.run_sync(
                _read_line, fd, withdrawn, abandon_on_cancel=True
            )
            tg.cancel_scope.cancel()
    finally:
        withdrawn.set()
    if answer is None:
        out.print()
        return None
    return answer.strip().lower() in ("y", "yes")


async def _withdraw_when(until: Callable[[], Awaitable[object]], scope: anyio.CancelScope) -> None:
    await until()
    scope.cancel()
