"""What the development engine says in the terminal, and its y/N question.

Everything goes to one ``rich`` console on stderr (where uvicorn logs too), one line per
event. The question reads the terminal in a worker thread, so the app's event loop keeps
serving while it waits for an answer.
"""

from __future__ import annotations

import os
import select
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import NamedTuple

import anyio
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .plan import PlanChange, Risk, SyncPlan
from .reload import ReloadResult

__all__ = [
    "RISK_STYLES",
    "ChangeRow",
    "ask_yes_no",
    "change_line",
    "change_rows",
    "console",
    "discard_pending_input",
    "held_back_panel",
    "in_background",
    "report_applied",
    "report_error",
    "say",
    "stdin_is_tty",
]

RISK_STYLES: dict[Risk, str] = {"safe": "green", "unsafe": "yellow", "destructive": "bold red"}
_POLL = 0.1  # how often the reading thread checks whether the question was withdrawn


def console() -> Console:
    """The engine's console: stderr, colours only on a terminal."""
    return Console(stderr=True, highlight=False)


def say(out: Console, message: str, *, style: str = "") -> None:
    """One engine line: ``deesse · message`` (``message`` is rich markup)."""
    body = f"[{style}]{message}[/{style}]" if style else message
    out.print(f"[bold cyan]deesse[/bold cyan] · {body}")


def change_line(row: ChangeRow) -> Text:
    """``  destructive  drop column notes.title (3 values)  -- reason``, risk in its colour."""
    line = Text("  ")
    line.append(f"{row.risk:<12}", style=RISK_STYLES[row.risk])
    line.append(row.summary)
    if row.reason:
        line.append(f"  -- {row.reason}", style="dim")
    return line


def report_applied(out: Console, result: ReloadResult) -> None:
    """The short report of an applied plan: a header, then one line per change."""
    count = len(result.plan.statements)
    noun = "statement" if count == 1 else "statements"
    say(out, f"applied {count} {noun} in {result.seconds:.1f}s", style="green")
    for row in change_rows(result.plan):
        out.print(change_line(row))
    for hint in result.plan.hints:
        out.print(Text(f"  hint: {hint}", style="dim"))


def report_error(out: Console, result: ReloadResult) -> None:
    """A broken collection file or a refused plan: the summary, then the broken line."""
    say(out, f"[bold red]could not sync:[/bold red] {escape(result.error or 'unknown error')}")
    if result.detail:
        out.print(Text(result.detail, style="dim"))
    # The plan that was refused (the error says more); a SQLite rebuild is one line.
    for row in change_rows(result.plan):
        out.print(change_line(row))
    if result.plan.statements:
        say(out, "still watching (fix the data or the collections, then save)", style="dim")
    else:
        say(out, "nothing was applied; still watching (fix the file and save again)", style="dim")


class ChangeRow(NamedTuple):
    """One change of a plan as the engine shows it: one line, or one row of the box."""

    risk: Risk
    summary: str  # PlanChange.summary: "drop column notes.title (3 values)"
    reason: str  # why the risk: the reason of the change's riskiest statement
    rows: int | None  # the rows (or values) it loses


_RANK: dict[Risk, int] = {"safe": 0, "unsafe": 1, "destructive": 2}


def change_rows(plan: SyncPlan) -> list[ChangeRow]:
    """One row per change of ``plan`` (``plan.grouped()``): a SQLite table rebuild is one.

    The summary is the plan's own (sync/summary.py); the reason is that of the change's
    riskiest statement, left out for a safe rebuild, whose reasons only describe its steps
    (copy the table, rename it back). The statements themselves: ``deesse plan --sql``.

    >>> from deesse_async.sync.plan import PlannedStatement
    >>> change_rows(SyncPlan([PlannedStatement("DROP TABLE tags", "destructive", "gone")], [3]))
    [ChangeRow(risk='destructive', summary='DROP TABLE tags', reason='gone', rows=3)]
    """
    counts = plan.affected_rows + [None] * (len(plan.statements) - len(plan.affected_rows))
    return [_row(plan, change, counts) for change in plan.grouped()]


def _row(plan: SyncPlan, change: PlanChange, counts: list[int | None]) -> ChangeRow:
    worst = max((plan.statements[n] for n in change.statements), key=lambda s: _RANK[s.risk])
    lost = [n for n in (counts[i] for i in change.statements) if n is not None]
    reason = worst.reason if len(change.statements) == 1 or change.risk != "safe" else ""
    return ChangeRow(change.risk, change.summary, reason, max(lost) if lost else None)


def held_back_panel(
    result: ReloadResult, *, database: str, command: str | None, interactive: bool
) -> Panel:
    """The boxed warning for a plan that loses data: change, risk, reason, rows.

    The reason of a destructive change names the data it loses; a SQLite table rebuild
    (four or more statements) is shown as the one change it is (``change_rows``).
    """
    table = Table(box=None, pad_edge=False, show_edge=False, expand=False)
    table.add_column("risk", no_wrap=True)
    table.add_column("change", overflow="fold")
    table.add_column("reason", overflow="fold")
    table.add_column("rows", justify="right", no_wrap=True)
    for row in change_rows(result.plan):
        rows = "" if row.rows is None else str(row.rows)
        table.add_row(Text(row.risk, style=RISK_STYLES[row.risk]), row.summary, row.reason, rows)
    parts: list[Text | Table] = [
        Text(f"The collections changed in a way that loses data in {database}:\n"),
        table,
    ]
    parts.extend(Text(f"hint: {hint}", style="dim") for hint in result.plan.hints)
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
