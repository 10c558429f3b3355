"""``Slots``: a small pool of raw driver connections, lean on the hot path.

A borrow takes the most recently returned idle connection with no await at all; a
return hands the connection straight to the oldest waiter, or back to the idle stack.
No task is created and nothing is sent to the server on either side: the library owns
its connections' state (callers never get a raw connection, nothing sets session state),
so there is nothing to reset; a connection given back inside a transaction is rolled back
by the adapter first, and a broken one is dropped. Connections that died while idle (a
server restart closes their sockets) are skipped at the next borrow, and one idle for
longer than ``max_idle`` seconds is closed instead of lent.

Waiting for a free connection is bounded by the caller (``asyncio.timeout`` around
``acquire``); a waiter cancelled just as a connection was handed to it gives it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from ..errors import ConnectionError

__all__ = ["Slots"]

C = TypeVar("C")


class Slots(Generic[C]):
    """Up to ``max_size`` connections made by ``connect()``; LIFO reuse."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[C]],
        *,
        max_size: int,
        is_closed: Callable[[C], bool],
        terminate: Callable[[C], None],
        close: Callable[[C], Awaitable[None]],
        max_idle: float = 300.0,
    ) -> None:
        self._connect = connect
        self._max = max_size
        self._is_closed = is_closed
        self._terminate = terminate
        self._close = close
        self._max_idle = max_idle
        self._idle: deque[tuple[C, float]] = deque()
        self._waiters: deque[asyncio.Future[C | None]] = deque()
        self._size = 0  # connections open or being opened
        self._closed = False

    @property
    def size(self) -> int:
        """Connections open or being opened."""
        return self._size

    async def fill(self, count: int) -> None:
        """Open ``count`` connections now (the pool's minimum size)."""
        for _ in range(min(count, self._max)):
            self._size += 1
            try:
                conn = await self._connect()
            except BaseException:
                self._size -= 1
                raise
            self._idle.append((conn, time.monotonic()))

    def try_acquire(self) -> C | None:
        """An idle connection at once, or ``None`` (then ``acquire`` opens or waits)."""
        return self._take_idle() if not self._waiters else None

    async def acquire(self) -> C:
        """An idle connection, a new one while under the limit, else the next returned."""
        while True:
            conn = self._take_idle()
            if conn is not None:
                return conn
            if self._closed:
                raise _closed()
            if self._size < self._max:
                self._size += 1
                try:
                    return await self._connect()
                except BaseException:
                    self._size -= 1
                    self._wake()
                    raise
            waiter: asyncio.Future[C | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    given = waiter.result()
                    if given is not None:  # handed over as we were cancelled: give it back
                        self.release(given)
                    else:
                        self._wake()  # pass the freed slot on
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)
                raise
            if handed is not None:
                return handed
            # None: a slot was freed (a connection was dropped); open one in it.

    def _take_idle(self) -> C | None:
        now = time.monotonic()
        while self._idle:
            conn, since = self._idle.pop()
            if self._is_closed(conn):
                self._size -= 1
                continue
            if now - since > self._max_idle:
                self._size -= 1
                with contextlib.suppress(Exception):
                    self._terminate(conn)
                continue
            return conn
        return None

    def release(self, conn: C, *, broken: bool = False) -> None:
        """Give ``conn`` back (not in a transaction); ``broken`` drops it."""
        if broken or self._closed or self._is_closed(conn):
            with contextlib.suppress(Exception):
                self._terminate(conn)
            self._size -= 1
            self._wake()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append((conn, time.monotonic()))

    def _wake(self) -> None:
        """Tell the oldest waiter a slot is free (it opens a connection itself)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        """Close the idle connections; those in use are closed when given back."""
        self._closed = True
        idle, self._idle = list(self._idle), deque()
        self._size -= len(idle)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(_closed())
        self._waiters.clear()
        for conn, _ in idle:
            try:
                await self._close(conn)
            except Exception:
                with contextlib.suppress(Exception):
                    self._terminate(conn)


def _closed() -> ConnectionError:
    return ConnectionError(
        "the database was closed while this operation waited for a connection; open it "
        "again (`async with db:` or `await db.connect()`)"
    )
