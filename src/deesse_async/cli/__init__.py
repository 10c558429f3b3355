"""The ``deesse`` command: a registry of subcommands, each implemented in its own module.

A subcommand is a ``Command``: its name, help, a function adding its arguments and a
function running it (returning the exit code). Add one by appending to ``_commands()``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from .. import __version__
from ..errors import DeesseError
from .command import Command
from .demo import DEMO
from .dev import DEV
from .sync import SYNC_COMMANDS
from .types import TYPES

__all__ = ["Command", "main"]


def _commands() -> list[Command]:
    return [*SYNC_COMMANDS, TYPES, DEV, DEMO]


def _parser(commands: Sequence[Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deesse", description="deesse_async: collections, relational queries, schema sync."
    )
    parser.add_argument("--version", action="version", version=f"deesse-async {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in commands:
        command.configure(subparsers.add_parser(command.name, help=command.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``deesse`` command line; returns the process exit code."""
    commands = {c.name: c for c in _commands()}
    parser = _parser(list(commands.values()))
    args = parser.parse_args(argv)
    console = Console()
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return commands[args.command].run(args, console)
    except DeesseError as exc:
        # No traceback: the message says what was wrong and what to do next.
        errors = Console(stderr=True)
        errors.print(f"[bold red]error:[/bold red] {escape(str(exc))}", soft_wrap=True)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
