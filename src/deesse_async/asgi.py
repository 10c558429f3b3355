"""``db.lifespan()``: the ASGI lifespan that opens the pool and, in development, syncs.

``FastAPI(lifespan=db.lifespan())`` and ``Starlette(lifespan=db.lifespan())`` both take
it. Startup opens the pool; with dev sync on, the development engine (``DevEngine``,
sync/engine.py) starts in a task group on the app's own event loop; shutdown stops its
file watcher, cancels it (killing a re-load in progress, withdrawing an open question)
and closes the pool.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio

from ._types import WatchPaths

if TYPE_CHECKING:
    from .runtime.database import BaseDatabase as Database

__all__ = ["DEV_ENV", "Lifespan", "WatchPaths", "dev_sync_enabled", "lifespan"]

Lifespan: TypeAlias = Callable[[Any], AbstractAsyncContextManager[None]]
"""What Starlette and FastAPI take as ``lifespan=``: app -> async context manager."""

DEV_ENV = "DEESSE_ENV"


def dev_sync_enabled(dev_sync: bool | None) -> bool:
    """``dev_sync`` if given, else whether ``DEESSE_ENV=development``."""
    if dev_sync is not None:
        return dev_sync
    return os.environ.get(DEV_ENV, "").strip().lower() == "development"


def lifespan(
    db: Database,
    *,
    dev_sync: bool | None = None,
    watch: WatchPaths | None = None,
    debounce: float = 15.0,
) -> Lifespan:
    """The ASGI lifespan of ``db`` (``Database.lifespan`` calls this).

    >>> # app = FastAPI(lifespan=db.lifespan(dev_sync=True, watch=["app/collections"]))
    """
    if debounce < 0:
        raise ValueError(f"debounce must be >= 0 seconds, got {debounce!r}")
    watch = None if watch is None else list(watch)

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        await db.connect()
        try:
            if not dev_sync_enabled(dev_sync):
                yield
                return
            async with _dev_engine(db, watch, debounce):
                yield
        finally:
            # Shielded: a cancelled shutdown must still return the pool's connections.
            with anyio.CancelScope(shield=True):
                await db.close()

    return run


@asynccontextmanager
async def _dev_engine(
    db: Database, watch: WatchPaths | None, debounce: float
) -> AsyncIterator[None]:
    from rich.markup import escape

    from .sync.engine import DevEngine
    from .sync.prompt import console, say

    out = console()
    try:
        # Scanning sys.modules and resolving paths touches the file system: not on the loop.
        dev_engine = await anyio.to_thread.run_sync(
            lambda: DevEngine.for_database(db, watch=watch, debounce=debounce, out=out)
        )
    except Exception as exc:  # a development aid must never stop the app from starting
        say(out, f"[bold red]dev sync is off after an error:[/bold red] {escape(repr(exc))}")
        dev_engine = None
    if dev_engine is None:
        yield
        return
    async with anyio.create_task_group() as tg:
        tg.start_soon(dev_engine.run)
        try:
            yield
        finally:
            # Stop the watcher thread first: a cancelled wait for file events would
            # otherwise only end at watchfiles' next timeout.
            dev_engine.stop()
            tg.cancel_scope.cancel()
