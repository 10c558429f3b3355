"""Helpers for the development engine tests: a small app written to disk, DB inspection.

The engine re-loads collections in fresh interpreters, so the tests write a real package
(collections module + app module) into ``tmp_path`` and edit it on disk like a developer.
"""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import sqlalchemy as sa

from deesse_async.drivers.url import parse_url
from deesse_async.runtime.schema_connections import admin_connection
from deesse_async.sync.engine import DevEngineConfig
from deesse_async.sync.project import lock_key

NOTES = """\
from deesse_async import collection, field, text

Notes = collection(slug="notes", fields={{
{fields}
}})
{extra}
"""
TITLE = '    "title": field(type=text(max=100)),'
SUBTITLE = '    "subtitle": field(type=text(max=50)),'
TAGS = 'Tags = collection(slug="tags", fields={"name": field(type=text(max=40))})'

MAIN = """\
from deesse_async import define_config

from . import collections as c

db = define_config(
    provider={url!r},
    collections=[v for v in vars(c).values() if type(v).__name__ == "Collection"],
)
"""

ASGI = """\
import os

from fastapi import FastAPI

from .main import db

app = FastAPI(lifespan=db.lifespan(dev_sync=True, debounce=float(os.environ["DEBOUNCE"])))


@app.get("/notes/count")
async def count_notes() -> dict[str, int]:
    return {"count": await db.notes.count()}
"""


def notes_source(*fields: str, extra: str = "") -> str:
    """The collections module: ``notes`` with ``fields`` (lines), plus ``extra`` code."""
    return NOTES.format(fields="\n".join(fields), extra=extra)


def write_app(root: Path, collections: str, url: str) -> str:
    """Write a fresh uniquely named package on ``url`` into ``root``; returns its name."""
    package = f"devapp_{uuid.uuid4().hex[:8]}"
    folder = root / package
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "collections.py").write_text(collections)
    (folder / "main.py").write_text(MAIN.format(url=url))
    (folder / "asgi.py").write_text(ASGI)
    return package


def dev_engine_config(root: Path, package: str, url: str, **options: object) -> DevEngineConfig:
    """The configuration ``DevEngine.for_database`` would derive for the written app."""
    parsed = parse_url(url)
    values: dict[str, object] = {
        "app_path": f"{package}.main:db",
        "database": parsed.identity,
        "lock_key": lock_key(parsed),
        "watch": (root / package,),
        "recursive": False,
        "debounce": 0.3,
        "import_root": root,
        "project_root": root,
        "interactive": False,
        **options,
    }
    return DevEngineConfig(**values)  # type: ignore[arg-type]


async def columns(url: str, table: str) -> set[str] | None:
    """The live columns of ``table`` (None when the table does not exist)."""
    async with admin_connection(parse_url(url)) as conn:

        def read(c: sa.Connection) -> set[str] | None:
            inspector = sa.inspect(c)
            if table not in inspector.get_table_names():
                return None
            return {col["name"] for col in inspector.get_columns(table)}

        return await conn.run_sync(read)


async def eventually(
    check: Callable[[], Awaitable[bool]],
    within: float,
    what: str,
    *,
    context: Callable[[], str] = str,
    interval: float = 0.1,
) -> float:
    """Poll ``check`` until true; returns the seconds it took, fails after ``within`` s.

    ``context()`` is appended to the failure message (say, the server's output by then).
    """
    start = anyio.current_time()
    while not await check():
        if anyio.current_time() - start > within:
            raise AssertionError(f"not within {within:.1f}s: {what}\n{context()}")
        await anyio.sleep(interval)
    return anyio.current_time() - start


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def plain(text: str) -> str:
    """``text`` without terminal colour and cursor codes."""
    return _ANSI.sub("", text)
