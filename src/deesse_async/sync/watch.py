"""What the development engine watches: ``.py`` file changes, debounced into batches.

    watchfiles events ─▶ ``PythonSourceFilter`` ─▶ ``ChangeStream`` (sets of paths)
    ─▶ ``Debouncer`` ─▶ one batch ``delay`` s after the LAST change ─▶ one sync round

``DevEngine`` (sync/engine.py) takes any ``ChangeStream``: tests hand it a fake one.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from pathlib import Path

import anyio
from watchfiles import Change, DefaultFilter, awatch

from .._types import WatchPaths

__all__ = ["ChangeStream", "Debouncer", "PythonSourceFilter", "WatchPaths", "watch_python_files"]

ChangeStream = Callable[[anyio.Event], AsyncGenerator[set[str], None]]
"""Given a stop event, yields sets of changed paths until the event is set."""


class PythonSourceFilter(DefaultFilter):
    """Only ``.py`` files, minus editors' temp and swap files, caches and ``.deesse/``.

    watchfiles' defaults already drop ``*.swp``, ``*~``, ``.#*`` (Emacs locks) and
    ``__pycache__``; Vim's ``4913`` probe file is not ``.py``.

    >>> keep = PythonSourceFilter()
    >>> [keep(Change.modified, p) for p in ("/a/models.py", "/a/.models.py.swp", "/a/4913")]
    [True, False, False]
    """

    ignore_dirs = (*DefaultFilter.ignore_dirs, ".deesse")

    def __call__(self, change: Change, path: str) -> bool:
        return path.endswith(".py") and super().__call__(change, path)


def watch_python_files(paths: Sequence[Path], *, recursive: bool = True) -> ChangeStream:
    """The real change stream: ``watchfiles.awatch`` on ``paths``, ``.py`` files only.

    >>> # async for changed in watch_python_files([Path("app")])(stop_event): ...
    """

    async def changes(stop: anyio.Event) -> AsyncGenerator[set[str], None]:
        # rust_timeout bounds how long a cancellation that did not set `stop` first (Ctrl+C
        # in `deesse dev`) waits for the watching thread: half a second.
        async for batch in awatch(
            *paths,
            watch_filter=PythonSourceFilter(),
            stop_event=stop,
            recursive=recursive,
            rust_timeout=500,
        ):
            yield {path for _, path in batch}

    return changes


class Debouncer:
    """Collects changed paths; ``next_batch()`` hands them over ``delay`` s after the last one.

    A burst of saves (an editor writing several files, a formatter rewriting one) becomes
    one batch, hence one sync. Create it in async code (it holds an ``anyio.Event``).

    >>> # debouncer.add({"app/collections.py"}); batch = await debouncer.next_batch()
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._pending: set[str] = set()
        self._last = 0.0
        self._wakeup = anyio.Event()

    @property
    def pending(self) -> frozenset[str]:
        """Paths changed since the last batch was handed over."""
        return frozenset(self._pending)

    def add(self, paths: Iterable[str]) -> None:
        """Record changes (restarts the quiet period)."""
        self._pending.update(paths)
        self._last = anyio.current_time()
        wakeup, self._wakeup = self._wakeup, anyio.Event()
        wakeup.set()

    async def changed(self) -> None:
        """Return at the next ``add()``."""
        await self._wakeup.wait()

    async def next_batch(self) -> frozenset[str]:
        """Wait for changes, then for ``delay`` s without any, and return them."""
        while True:
            if not self._pending:
                await self.changed()
                continue
            remaining = self._last + self.delay - anyio.current_time()
            if remaining <= 0:
                batch = frozenset(self._pending)
                self._pending.clear()
                return batch
            with anyio.move_on_after(remaining):
                await self.changed()
