"""``deesse dev``: the development sync engine without a server (sync/engine.py)."""

from __future__ import annotations

import argparse

from rich.console import Console

from ..sync.discover import app_path
from ..sync.engine import run_dev
from .command import Command, add_app_argument, add_url_argument

__all__ = ["DEV", "configure_dev", "run_dev_command"]


# `deesse dev`. Discovery of the app (--app, $DEESSE_APP, [tool.deesse] app) is shared with
# the other sync commands (sync/discover.py).
def configure_dev(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``deesse dev``."""
    add_app_argument(parser)
    add_url_argument(parser)
    parser.add_argument(
        "--watch",
        action="append",
        metavar="FOLDER",
        help="folder to watch, recursively; repeatable (default: the collections' folders)",
    )
    parser.add_argument(
        "--debounce",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="quiet time after the last change before a sync (default: 15)",
    )


def run_dev_command(args: argparse.Namespace, console: Console) -> int:
    """Run ``deesse dev`` (its output goes to stderr, like under a server)."""
    return run_dev(app_path(args.app), watch=args.watch, debounce=args.debounce, url=args.url)


DEV = Command(
    "dev",
    "watch the collections and keep the database in sync, without a server",
    configure_dev,
    run_dev_command,
)
