"""Every network wait is bounded (issue 7, defect 8).

A real listening socket that accepts connections and never says a word: connecting,
CRUD (a pool that opens its connection on first use) and ``db.plan()`` must each fail
with ``ConnectionError`` within about ``connect_timeout``, on PostgreSQL and MariaDB.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import pytest

from deesse_async import ConnectionError, define_config
from tests.blog import Tags

pytestmark = pytest.mark.anyio

CONNECT_TIMEOUT = 0.5
POOL_TIMEOUT = 1.0
SLACK = 1.5  # scheduling on a busy 2-core machine
# Without a bound these calls hang for minutes; the test gives up long before that.
GIVE_UP = 15


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A port on 127.0.0.1 that accepts every connection and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # kept open, never written to

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


async def _bounded(call: Callable[[], Awaitable[Any]], bound: float) -> str:
    """Run ``call``: it must raise ConnectionError within ``bound`` (+ slack) seconds."""
    started = time.monotonic()
    with anyio.fail_after(GIVE_UP), pytest.raises(ConnectionError) as info:
        await call()
    elapsed = time.monotonic() - started
    assert elapsed < bound + SLACK, f"took {elapsed:.1f}s: {info.value}"
    return str(info.value)


URLS = {
    "postgresql": "postgresql://app:s3cr3t@127.0.0.1:{port}/shop",
    "mysql": "mysql://app:s3cr3t@127.0.0.1:{port}/shop",
}
TLS = {"postgresql": "?sslmode=require", "mysql": "?ssl_mode=REQUIRED"}


@pytest.mark.parametrize("scheme", URLS)
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_connect_is_bounded(silent_port: int, scheme: str, tls: bool) -> None:
    url = URLS[scheme].format(port=silent_port) + (TLS[scheme] if tls else "")
    db = define_config(provider=url, collections=[Tags], connect_timeout=CONNECT_TIMEOUT)
    message = await _bounded(db.connect, CONNECT_TIMEOUT)
    assert f"127.0.0.1:{silent_port}/shop" in message
    assert "s3cr3t" not in message
    assert not db.is_connected


@pytest.mark.parametrize("scheme", URLS)
async def test_crud_is_bounded(silent_port: int, scheme: str) -> None:
    """The pool opens connections on first use: CRUD meets the silent server itself."""
    db = define_config(
        provider=URLS[scheme].format(port=silent_port),
        collections=[Tags],
        connect_timeout=CONNECT_TIMEOUT,
        pool_timeout=POOL_TIMEOUT,
        pool_min_size=0,
    )
    async with db:
        await _bounded(lambda: db.tags.create({"name": "x"}), POOL_TIMEOUT)
        await _bounded(lambda: db.tags.read(1), POOL_TIMEOUT)
        await _bounded(lambda: db.query.tags.find_many(), POOL_TIMEOUT)
        await _bounded(db.tags.count, POOL_TIMEOUT)


@pytest.mark.parametrize("scheme", URLS)
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_plan_and_push_are_bounded(silent_port: int, scheme: str, tls: bool) -> None:
    url = URLS[scheme].format(port=silent_port) + (TLS[scheme] if tls else "")
    db = define_config(provider=url, collections=[Tags], connect_timeout=CONNECT_TIMEOUT)
    message = await _bounded(db.plan, CONNECT_TIMEOUT)
    assert "s3cr3t" not in message
    await _bounded(lambda: db.push(), CONNECT_TIMEOUT)
