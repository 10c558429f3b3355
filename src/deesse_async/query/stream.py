"""``stream``: every row of a query, read ``chunk_size`` rows at a time.

Memory stays flat whatever the number of rows: one chunk (with its nested relations) is
in memory at a time. Chunks are keyset reads (``keyset.py``): each one borrows a
connection, reads the rows after the previous chunk's last row, and gives the connection
back before a single row is handed out. Nothing is held between chunks, so leaving the
loop early (``break``, an exception, a cancelled request) has nothing to release.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from types import TracebackType
from typing import Any

from .._types import Row
from ..errors import QueryError
from .keyset import KeysetReader, key_columns
from .options import show
from .planner import Query

__all__ = ["MAX_CHUNK_SIZE", "RowStream", "check_chunk_size"]

MAX_CHUNK_SIZE = 100_000


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

    __slots__ = ("_chunk_size", "_limit", "_open", "_query")

    def __init__(self, query: Query, chunk_size: int, limit: int | None) -> None:
        self._query = query
        self._chunk_size = chunk_size
        self._limit = limit
        self._open: list[AsyncGenerator[Any, None]] = []
        if query.values.placeholders:
            raise QueryError("stream() takes values, not placeholders")
        key_columns(query.planner.schema, query.node, "stream")  # refuse a bad order now

    async def _chunks(self) -> AsyncGenerator[list[Row], None]:
        q = self._query
        keys = key_columns(q.planner.schema, q.node, "stream")
        reader = KeysetReader(q, keys)
        await reader.open()
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
        self._open = [g for g in self._open if getattr(g, "ag_frame", None) is not None]
        self._open.append(gen)
        return gen

    def __aiter__(self) -> AsyncIterator[Row]:
        return self._start(self._rows())

    def chunks(self) -> AsyncIterator[list[Row]]:
        """The rows a chunk at a time (lists of at most ``chunk_size`` rows).

        >>> # async for rows in db.query.users.stream(chunk_size=1000).chunks(): ...
        """
        return self._start(self._chunks())

    async def aclose(self) -> None:
        """Close the loops started on this stream (they hold no connection between
        chunks; this ends them at once rather than at garbage collection)."""
        gens, self._open = self._open, []
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
