"""``stream``: every row of a query, read ``chunk_size`` rows at a time.

Memory stays flat whatever the number of rows: one chunk (with its nested relations) is
in memory at a time. Two ways to read (``mode=``):

- ``"cursor"``: the query is one statement read through a server-side cursor
  (PostgreSQL), in one read-only repeatable-read transaction (or the caller's), so the
  stream is one snapshot, in any order; each chunk's relations are loaded beside it. The
  connection is held from the first row to the end of the loop.
- ``"keyset"`` (``keyset.py``): each chunk borrows a connection, reads the rows after the
  previous chunk's last row, and gives the connection back before a single row is handed
  out. Nothing is held between chunks; each chunk is its own snapshot. Every backend,
  and behind a transaction-mode pooler.
- ``"auto"`` (the default): a cursor where the backend has them, except behind a pooler
  (a long transaction would hold one of its few server connections) and on a replica
  (a long statement there meets recovery conflicts); keyset chunks elsewhere.

Leaving the loop early (``break``, an exception, a cancelled request) ends the cursor and
gives its connection back: at once for an exception or a cancellation, and for a
``break`` as soon as the loop's iterator is dropped (or at the end of ``async with``).
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from types import TracebackType
from typing import Any, Literal

from .._types import Row
from ..errors import QueryError
from .keyset import KeysetReader, key_columns
from .options import show
from .planner import Query

__all__ = ["MAX_CHUNK_SIZE", "MODES", "RowStream", "StreamMode", "check_chunk_size"]

MAX_CHUNK_SIZE = 100_000
StreamMode = Literal["auto", "cursor", "keyset"]
MODES: tuple[StreamMode, ...] = ("auto", "cursor", "keyset")


def check_chunk_size(chunk_size: Any) -> int:
    """``chunk_size``: an int in [1, ``MAX_CHUNK_SIZE``]."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise QueryError(f"expected a positive integer, got {show(chunk_size)}", path="chunk_size")
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise QueryError(
            f"must be between 1 and {MAX_CHUNK_SIZE}, got {chunk_size}", path="chunk_size"
        )
    return chunk_size


class RowStream:
    """The rows of a query, read a chunk at a time: ``async for row in stream``.

    Also an async context manager (``async with q.stream() as rows: async for row in
    rows``) that closes what its loops left open. Each ``async for`` reads from the
    start again; ``chunks()`` gives the rows a chunk (a list) at a time.

    >>> # async for user in db.query.users.stream(with_={"posts": True}, chunk_size=500):
    >>> #     ...
    """

    __slots__ = ("_chunk_size", "_limit", "_mode", "_open", "_query")

    def __init__(
        self, query: Query, chunk_size: int, limit: int | None, mode: StreamMode = "auto"
    ) -> None:
        self._query = query
        self._chunk_size = chunk_size
        self._limit = limit
        # The loops started and not finished (weakly: a loop left by ``break`` and
        # dropped is closed by the event loop, which gives its cursor's connection back).
        self._open: weakref.WeakSet[AsyncGenerator[Any, None]] = weakref.WeakSet()
        if query.values.placeholders:
            raise QueryError("stream() takes values, not placeholders")
        dialect = query.planner.dialect
        if mode not in MODES:
            raise QueryError(f"unknown mode {show(mode)}; modes: {', '.join(MODES)}", path="mode")
        if mode == "cursor" and not dialect.server_cursors:
            raise QueryError(
                f"{dialect.display_name} has no server-side cursors that other statements "
                "can run beside; use mode='keyset' (or 'auto')",
                path="mode",
            )
        if mode == "keyset" or not dialect.server_cursors:
            mode = "keyset"
            key_columns(query.planner.schema, query.node, "stream")  # refuse a bad order now
        self._mode: StreamMode = mode

    async def _chunks(self) -> AsyncGenerator[list[Row], None]:
        q = self._query
        reader = KeysetReader(q, ())
        await reader.open()  # before_read hooks and read rules: once per loop
        if self._mode != "keyset":
            async with q.executor.acquire_read() as conn:
                if self._mode == "cursor" or not (conn.pooled or conn.replica):
                    cursor = reader.cursor_chunks(conn, self._chunk_size, self._limit)
                    async with aclosing(cursor) as chunks:
                        async for rows in chunks:
                            yield rows
                    return
        reader.keys = key_columns(q.planner.schema, q.node, "stream")
        remaining, last, first = self._limit, None, True
        while remaining is None or remaining > 0:
            size = self._chunk_size if remaining is None else min(self._chunk_size, remaining)
            rows, key_values = await reader.fetch(last, size, first=first)
            if rows:
                yield rows
            if len(rows) < size:
                return
            last, first = key_values[-1], False
            if remaining is not None:
                remaining -= len(rows)

    async def _rows(self) -> AsyncGenerator[Row, None]:
        chunks = self._chunks()
        try:
            async for rows in chunks:
                for row in rows:
                    yield row
        finally:
            await chunks.aclose()

    def _start(self, gen: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
        self._open.add(gen)
        return gen

    def __aiter__(self) -> AsyncIterator[Row]:
        return self._start(self._rows())

    def chunks(self) -> AsyncIterator[list[Row]]:
        """The rows a chunk at a time (lists of at most ``chunk_size`` rows).

        >>> # async for rows in db.query.users.stream(chunk_size=1000).chunks(): ...
        """
        return self._start(self._chunks())

    async def aclose(self) -> None:
        """Close the loops started on this stream and not finished: a cursor's
        connection goes back to the pool now rather than when the loop is dropped."""
        gens = list(self._open)
        self._open.clear()
        for gen in gens:
            await gen.aclose()

    async def __aenter__(self) -> RowStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
