"""``deesse types``: typed rows and a typed database for mypy and pyright (docs/types.md).

Finds the app's ``Database`` as the other subcommands do (``--app``, ``$DEESSE_APP``,
``[tool.deesse] app``) and writes the module ``compile/typestubs.py`` renders from its
collections: to stdout, or to ``-o FILE``; ``--check`` tells CI whether that file is
up to date.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ..compile.typestubs import render_types
from ..errors import ConfigError
from ..sync.project import app_path, find_database
from .command import Command, add_app_argument

__all__ = ["TYPES", "generate_types"]


def _configure(parser: argparse.ArgumentParser) -> None:
    add_app_argument(parser)
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the module to FILE, e.g. myapp/db_types.py (default: stdout)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if FILE is missing or differs from what would be written",
    )


def _command(app: str, output: str | None) -> str:
    return shlex.join(["deesse", "types", "--app", app, *(["-o", output] if output else [])])


def generate_types(app: str | None, output: str | None = None) -> str:
    """The typed module for the app's collections (what ``deesse types`` writes).

    >>> # text = generate_types("myapp.db:db", "myapp/db_types.py")
    """
    path = app_path(app)
    return render_types(find_database(path).schema, _command(path, output))


def _run(args: argparse.Namespace, console: Console) -> int:
    if args.check and args.output is None:
        raise ConfigError("--check compares with a file: give it with -o FILE")
    text = generate_types(args.app, args.output)
    if args.output is None:
        # Plain print: the module is read by programs, rich must not wrap or style it.
        print(text, end="")
        return 0
    target = Path(args.output)
    current = target.read_text(encoding="utf-8") if target.is_file() else None
    if args.check:
        if current == text:
            console.print(f"[green]✓[/green] {escape(args.output)} is up to date")
            return 0
        state = "is missing" if current is None else "is out of date"
        command = _command(app_path(args.app), args.output)
        console.print(
            f"[red]✗ {escape(args.output)} {state}:[/red] run `{escape(command)}` and "
            "commit the result",
            soft_wrap=True,
        )
        return 1
    if not target.parent.is_dir():
        raise ConfigError(
            f"cannot write {args.output}: the folder {target.parent} does not exist; "
            "create it or choose another -o path"
        )
    if current == text:
        console.print(f"[green]✓[/green] {escape(args.output)} is up to date (unchanged)")
        return 0
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {args.output}: {exc.strerror}") from None
    console.print(
        f"[green]✓[/green] wrote {escape(args.output)}: import its `typed` and write "
        "`db = typed(app_db)` for typed rows (docs/types.md)",
        soft_wrap=True,
    )
    return 0


TYPES = Command(
    name="types",
    help="write TypedDict rows and a typed db for mypy and pyright",
    configure=_configure,
    run=_run,
)
