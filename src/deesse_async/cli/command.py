"""One ``deesse`` subcommand, and the options several subcommands share."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console

__all__ = ["Command", "add_app_argument", "add_url_argument"]


@dataclass(frozen=True, slots=True)
class Command:
    """One ``deesse`` subcommand."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Console], int]


def add_app_argument(parser: argparse.ArgumentParser) -> None:
    """Add the ``--app module:attribute`` option to a ``deesse`` subcommand."""
    parser.add_argument(
        "--app",
        metavar="MODULE:ATTR",
        help="where the Database is, e.g. myapp.db:db (default: $DEESSE_APP, then "
        "[tool.deesse] app in ./pyproject.toml)",
    )


def add_url_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--url``: the database to work on instead of the app's ``provider``."""
    parser.add_argument(
        "--url",
        metavar="URL",
        help="database URL to use instead of the app's provider (same collections), "
        "e.g. a scratch database or production",
    )
