"""The ``deesse`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio
from rich.console import Console

from . import __version__
from .errors import DeesseError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deesse", description="deesse_async: collections, relational queries, schema sync."
    )
    parser.add_argument("--version", action="version", version=f"deesse-async {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="create a small blog in a SQLite file here, seed it and show CRUD"
    )
    demo.add_argument(
        "--db",
        type=Path,
        default=Path("deesse_demo.db"),
        help="SQLite file to create (default: ./deesse_demo.db; replaced on every run)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``deesse`` command line; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    console = Console()
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "demo":
            from .demo import run_demo

            anyio.run(run_demo, args.db, console)
    except DeesseError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
