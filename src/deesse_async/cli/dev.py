"""``deesse dev``: the development sync engine (sync/engine.py) without a server."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import anyio
from rich.console import Console
from rich.markup import escape

from .._types import WatchPaths
from ..sync.engine import DevEngine, dev_engine_config, memory_refusal
from ..sync.project import AppLocation, app_path, find_database, import_root
from ..sync.prompt import console, say
from .command import Command, add_app_argument, add_url_argument

__all__ = ["DEV", "configure_dev", "run_dev", "run_dev_command"]


# Discovery of the app (--app, $DEESSE_APP, [tool.deesse] app) is shared with the other
# sync commands (sync/project.py).
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


def run_dev(
    app: str,
    *,
    watch: WatchPaths | None = None,
    debounce: float = 15.0,
    out: Console | None = None,
    interactive: bool | None = None,
    url: str | None = None,
) -> int:
    """``deesse dev``: the engine without a server, until Ctrl+C. Returns the exit code.

    The app is imported here once, to find its database and collection folders; every
    later re-load happens in a fresh interpreter, as under a server. ``url`` (``--url``)
    syncs the app's collections to that database instead of the app's provider.

    >>> # run_dev("myapp.db:db", debounce=1.0)
    """
    out = out or console()
    try:
        db = find_database(app, url=url)  # from the current folder, as uvicorn does
    except Exception as exc:
        say(out, f"[bold red]cannot load {escape(app)}:[/bold red] {escape(str(exc))}")
        return 1
    refusal = memory_refusal(db)
    if refusal is not None:
        say(out, f"[bold red]deesse dev cannot run:[/bold red] {escape(refusal)}")
        return 1
    module_name = app.partition(":")[0]
    location = AppLocation(app, import_root(module_name, sys.modules[module_name]))
    config = dev_engine_config(db, location, watch=watch, debounce=debounce)
    dev_engine = DevEngine(replace(config, interactive=interactive, url=url), out=out)
    try:
        anyio.run(dev_engine.run)
    except KeyboardInterrupt:
        say(out, "stopped", style="dim")
    return 0


DEV = Command(
    "dev",
    "watch the collections and keep the database in sync, without a server",
    configure_dev,
    run_dev_command,
)
