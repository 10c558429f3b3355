"""The schema subcommands of ``deesse``: ``schema``, ``plan``, ``push``, ``migrate``.

Each finds the application's ``Database`` (``--app``, ``$DEESSE_APP`` or pyproject.toml;
``--url`` points its collections at another database) and calls the public API; this
module only parses arguments and prints.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from ..database import Database
from ..dialects import DIALECTS
from ..errors import ConfigError, DataLossError
from ..sync.migrations import (
    apply_migrations,
    generate_migration,
    migrations_folder,
    stamp_migrations,
)
from ..sync.project import find_database
from ..sync.prompt import RISK_STYLES
from ..sync.render import create_ddl
from .command import Command, add_app_argument, add_url_argument

if TYPE_CHECKING:
    from ..sync.plan import SyncPlan

__all__ = ["SYNC_COMMANDS", "changes_table", "plan_table", "print_plan"]


def _database(app: str | None, url: str | None = None) -> Database:
    db = find_database(app, url=url)
    if not isinstance(db, Database):  # a BaseDatabase built by hand has no schema sync
        raise ConfigError(f"{app} is not a Database made by define_config(...)")
    return db


def plan_table(plan: SyncPlan, title: str) -> Table:
    """The plan as a rich table: statement, risk, reason and affected rows."""
    table = Table(title=title, show_lines=True, title_justify="left")
    table.add_column("#", justify="right", style="dim")
    table.add_column("risk")
    table.add_column("statement", overflow="fold")
    table.add_column("reason", overflow="fold")
    table.add_column("rows", justify="right")
    rows = plan.affected_rows + [None] * (len(plan.statements) - len(plan.affected_rows))
    for number, (statement, count) in enumerate(zip(plan.statements, rows, strict=True), 1):
        style = RISK_STYLES[statement.risk]
        table.add_row(
            str(number),
            f"[{style}]{statement.risk}[/{style}]",
            escape(statement.sql),
            escape(statement.reason),
            "" if count is None else str(count),
        )
    return table


def changes_table(plan: SyncPlan, title: str) -> Table:
    """The plan as one row per change (a SQLite rebuild is one), naming the data lost."""
    table = Table(title=title, show_lines=True, title_justify="left")
    table.add_column("#", justify="right", style="dim")
    table.add_column("risk")
    table.add_column("change", overflow="fold")
    table.add_column("statements", justify="right", style="dim")
    for number, change in enumerate(plan.grouped(), 1):
        style = RISK_STYLES[change.risk]
        first, last = change.statements[0] + 1, change.statements[-1] + 1
        where = str(first) if first == last else f"{first}-{last}"
        table.add_row(
            str(number), f"[{style}]{change.risk}[/{style}]", escape(change.summary), where
        )
    return table


def print_plan(plan: SyncPlan, console: Console, title: str, *, sql: bool = True) -> None:
    """Print the plan (its statements, or with ``sql=False`` its changes), hints, conflicts."""
    if plan.is_empty:
        console.print("[green]✓[/green] the database matches the collections: nothing to do")
    elif sql:
        console.print(plan_table(plan, title))
    else:
        console.print(changes_table(plan, title))
        console.print("[dim]the SQL of each statement: deesse plan --sql[/dim]")
    for hint in plan.hints:
        console.print(f"[cyan]hint:[/cyan] {escape(hint)}", soft_wrap=True)
    for conflict in plan.conflicts:
        console.print(f"[bold red]✗ {escape(conflict.message)}[/bold red]", soft_wrap=True)
    if plan.conflicts:
        console.print("[red]push refuses this plan until the data is fixed[/red]")


# --------------------------------------------------------------------------- schema


def _configure_schema(parser: argparse.ArgumentParser) -> None:
    add_app_argument(parser)
    parser.add_argument(
        "--dialect", choices=sorted(DIALECTS), help="SQL dialect (default: the app's database)"
    )


def _run_schema(args: argparse.Namespace, console: Console) -> int:
    db = _database(args.app)
    dialect = DIALECTS[args.dialect] if args.dialect else db.dialect
    for statement in create_ddl(db.metadata, dialect.sa_dialect):
        console.print(f"{statement};\n", markup=False, highlight=False, soft_wrap=True)
    return 0


# --------------------------------------------------------------------------- plan / push


def _configure_plan(parser: argparse.ArgumentParser) -> None:
    add_app_argument(parser)
    add_url_argument(parser)
    parser.add_argument(
        "--json", action="store_true", help="print the plan as JSON (SyncPlan.to_dict())"
    )
    parser.add_argument(
        "--sql", action="store_true", help="one row per SQL statement (default: per change)"
    )


def _run_plan(args: argparse.Namespace, console: Console) -> int:
    db = _database(args.app, url=args.url)
    plan = anyio.run(db.plan)
    if args.json:
        # Plain print: the output is read by programs, rich must not wrap or style it.
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        print_plan(plan, console, f"deesse plan: {db.url.display}", sql=args.sql)
    return 0


def _configure_push(parser: argparse.ArgumentParser) -> None:
    add_app_argument(parser)
    add_url_argument(parser)
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "--accept-data-loss",
        action="store_true",
        help="apply the plan even when it has destructive statements",
    )
    how.add_argument(
        "--safe",
        action="store_true",
        help="apply only the safe statements; exit 1 listing the others (for CI/CD)",
    )


async def _push(db: Database, accept: bool) -> SyncPlan:
    try:
        return await db.push(accept_data_loss=accept)
    finally:
        await db.close()


async def _push_safe(db: Database) -> tuple[SyncPlan, SyncPlan]:
    """Apply the safe part; then the plan of what is left (planned again, not guessed)."""
    from ..sync.push import push_schema

    try:
        await db.connect()  # an in-memory database lives while the pool is open
        applied = await push_schema(db, safe_only=True)
        return applied, await db.plan()
    finally:
        await db.close()


def _run_push_safe(db: Database, console: Console) -> int:
    applied, rest = anyio.run(_push_safe, db)
    count = len(applied.statements)
    if count:
        # Without its hints: they are about the held-back part, printed with it below.
        title = f"deesse push --safe: applied {count} safe statement(s)"
        print_plan(replace(applied, hints=[]), console, title)
    if rest.is_empty:
        if not count:
            print_plan(rest, console, "")
        return 0
    held = len(rest.statements)
    print_plan(rest, console, f"held back: {held} statement(s) that are not safe, or depend on one")
    console.print(
        f"[yellow]{held} statement(s) not applied.[/yellow] Review them, then run `deesse "
        "push` (unsafe) or `deesse push --accept-data-loss` (destructive).",
        soft_wrap=True,
    )
    return 1


def _refused(error: DataLossError, console: Console) -> int:
    # One line per change: the summary names the data and how much of it is lost.
    changes = error.plan.grouped() if error.plan else []
    lines = [f"[red]•[/red] {escape(c.summary)}" for c in changes if c.risk == "destructive"]
    body = "\n".join(lines or [escape(s) for s in error.statements])
    console.print(
        Panel(
            body,
            title="[bold red]push would lose data: nothing was applied[/bold red]",
            border_style="red",
        )
    )
    console.print("the SQL: `deesse plan --sql`", markup=False)
    console.print("run `deesse push --accept-data-loss` to apply", markup=False)
    return 1


def _run_push(args: argparse.Namespace, console: Console) -> int:
    db = _database(args.app, url=args.url)
    if args.safe:
        return _run_push_safe(db, console)
    try:
        plan = anyio.run(_push, db, args.accept_data_loss)
    except DataLossError as error:
        return _refused(error, console)
    if not plan.is_empty:
        count = len(plan.statements)
        print_plan(plan, console, f"deesse push: applied {count} statement{'s' * (count != 1)}")
        if plan.unsafe:
            console.print("[yellow]applied unsafe statements: check the reasons above[/yellow]")
    else:
        print_plan(plan, console, "")
    return 0


# --------------------------------------------------------------------------- migrate


def _configure_migrate(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    generate = actions.add_parser("generate", help="write a revision for the schema changes")
    generate.add_argument("-m", "--message", required=True, help="what the revision does")
    apply = actions.add_parser("apply", help="upgrade the database to the newest revision")
    apply.add_argument("--revision", default="head", help="target revision (default: head)")
    stamp = actions.add_parser(
        "stamp", help="adopt a database made by `push`: record the newest revision as applied"
    )
    stamp.add_argument("--revision", default="head", help="revision to record (default: head)")
    for action in (generate, apply, stamp):
        add_app_argument(action)
        add_url_argument(action)
        action.add_argument(
            "--dir", help="migrations folder (default: [tool.deesse] migrations, ./migrations)"
        )


def _run_stamp(db: Database, folder: Path, revision: str, console: Console) -> int:
    plan = anyio.run(db.plan)
    if set(plan.created_tables) >= set(db.metadata.tables):
        console.print(
            f"[red]nothing to adopt:[/red] none of the collections' tables exist in "
            f"{escape(db.url.display)}; run `deesse migrate apply` to create them",
            soft_wrap=True,
        )
        return 1
    stamped = stamp_migrations(db, folder, revision)
    console.print(
        f"[green]✓[/green] {escape(db.url.display)} is now at revision {', '.join(stamped)} "
        "(nothing was run); `deesse migrate apply` applies later revisions",
        soft_wrap=True,
    )
    if not plan.is_empty:
        console.print(
            f"[yellow]note:[/yellow] the database differs from the collections by "
            f"{len(plan.statements)} statement(s) (`deesse plan` shows them): generate a "
            "revision for them",
            soft_wrap=True,
        )
    return 0


def _run_migrate(args: argparse.Namespace, console: Console) -> int:
    db = _database(args.app, url=args.url)
    folder = migrations_folder(args.dir)
    if args.action == "stamp":
        return _run_stamp(db, folder, args.revision, console)
    if args.action == "generate":
        path = generate_migration(db, args.message, folder)
        if path is None:
            console.print("[green]✓[/green] no schema changes: no revision written")
        else:
            console.print(f"[green]✓[/green] wrote {escape(str(path))}", soft_wrap=True)
        return 0
    applied = apply_migrations(db, folder, args.revision)
    if applied:
        console.print(f"[green]✓[/green] applied {', '.join(applied)}")
    else:
        console.print("[green]✓[/green] the database is at the newest revision already")
    return 0


SYNC_COMMANDS = [
    Command("schema", "print the CREATE statements of the collections", _configure_schema,
            _run_schema),
    Command("plan", "show what push would change, with each statement's risk", _configure_plan,
            _run_plan),
    Command("push", "bring the database to the collections (development)", _configure_push,
            _run_push),
    Command("migrate", "versioned migrations for production (generate, apply, stamp)",
            _configure_migrate, _run_migrate),
]  # fmt: skip
