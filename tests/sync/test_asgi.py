"""``db.lifespan()`` under a real server: uvicorn in a subprocess, edits on disk, HTTP load.

Also: the lifespan leaves no thread, task or child process behind when it shuts down in
the middle of a re-load.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import Process
from rich.console import Console
from starlette.applications import Starlette

from deesse_async import define_config
from deesse_async.asgi import dev_sync_enabled
from deesse_async.sync.engine import DevEngine
from deesse_async.sync.project import AppLocation, collection_folders, locate_app
from tests.sync.devapp import (
    SUBTITLE,
    TAGS,
    TITLE,
    columns,
    eventually,
    free_port,
    notes_source,
    plain,
    write_app,
)

DEBOUNCE = 0.5
# The edit must be live within the debounce plus this. A round (a fresh interpreter
# importing the app, planning with its data checks, applying) takes 1-2 s on a quiet
# 2-core machine and 3-5 s on a loaded one; this bounds "it happens while serving", it
# does not measure speed (the engine prints each round's time).
SYNC_BUDGET = 8.0


@dataclass
class Server:
    process: Process
    port: int
    log: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return plain("".join(self.log))

    async def drain(self) -> None:
        assert self.process.stdout is not None
        async for chunk in self.process.stdout:
            self.log.append(chunk.decode(errors="replace"))

    async def stop(self) -> int:
        """SIGINT (uvicorn's graceful shutdown), then kill after a bounded wait."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            with anyio.move_on_after(15):
                return await self.process.wait()
            self.process.kill()
        return await self.process.wait()


@asynccontextmanager
async def uvicorn(root: Path, package: str, **env: str) -> AsyncIterator[Server]:
    """``uvicorn <package>.asgi:app`` on a free loopback port; always stopped afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", f"{package}.asgi:app", "--port", str(port)]
    command += ["--host", "127.0.0.1", "--no-access-log", "--lifespan", "on"]
    process = await anyio.open_process(
        command,
        cwd=root,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **env},
        stdin=subprocess.DEVNULL,  # no terminal: a destructive plan is only reported
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    server = Server(process, port)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.drain)
            try:
                yield server
            finally:
                with anyio.CancelScope(shield=True):
                    await server.stop()
    finally:
        await process.aclose()


async def hammer(client: httpx.AsyncClient, statuses: list[int | str]) -> None:
    """Read from the database over HTTP until cancelled; record every outcome."""
    while True:
        try:
            response = await client.get("/notes/count")
            statuses.append(response.status_code)
        except httpx.HTTPError as exc:
            statuses.append(repr(exc))
        await anyio.sleep(0.01)


@pytest.mark.anyio
async def test_uvicorn_app_follows_collection_edits_while_serving(
    tmp_path: Path, database_url: str
) -> None:
    package = write_app(tmp_path, notes_source(TITLE), database_url)
    source = anyio.Path(tmp_path / package / "collections.py")
    statuses: list[int | str] = []
    async with uvicorn(tmp_path, package, DEBOUNCE=str(DEBOUNCE)) as server:
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:

            async def serving() -> bool:
                try:
                    return (await client.get("/notes/count")).status_code == 200
                except httpx.HTTPError:
                    return server.process.returncode is not None  # died: stop polling

            # Ready when the startup check created the table and the app answers.
            await eventually(
                lambda: _true("applied 1 statement" in server.output),
                30,
                "the startup check",
                context=lambda: server.output,
            )
            await eventually(serving, 10, "uvicorn serving /notes/count")
            assert server.process.returncode is None, server.output
            async with anyio.create_task_group() as load:
                for _ in range(3):
                    load.start_soon(hammer, client, statuses)
                await _new_collection_is_created(source, database_url, server)
                await _nullable_column_is_added(source, database_url, server)
                await _destructive_edit_is_held_back(source, database_url, server)
                load.cancel_scope.cancel()
            assert (await client.get("/notes/count")).status_code == 200
        code = await server.stop()
    assert code == 0, server.output
    assert "Application shutdown complete" in server.output
    assert len(statuses) > 20
    assert set(statuses) == {200}, [s for s in statuses if s != 200][:5]


async def _new_collection_is_created(source: anyio.Path, url: str, server: Server) -> None:
    await source.write_text(notes_source(TITLE, extra=TAGS))
    await eventually(
        lambda: _has_table(url, "tags"),
        DEBOUNCE + SYNC_BUDGET,
        "tags created",
        context=lambda: server.output,
    )


async def _nullable_column_is_added(source: anyio.Path, url: str, server: Server) -> None:
    await source.write_text(notes_source(TITLE, SUBTITLE, extra=TAGS))
    await eventually(
        lambda: _has_column(url, "notes", "subtitle"),
        DEBOUNCE + SYNC_BUDGET,
        "notes.subtitle added",
        context=lambda: server.output,
    )


async def _destructive_edit_is_held_back(source: anyio.Path, url: str, server: Server) -> None:
    package = source.parent.name
    await source.write_text(notes_source(SUBTITLE, extra=TAGS))
    await eventually(
        lambda: _true("held back" in server.output),
        DEBOUNCE + SYNC_BUDGET + 2,
        "the warning",
        context=lambda: server.output,
    )
    output = server.output
    assert "destructive" in output and "title" in output  # SQLite rebuilds the table
    assert f"deesse push --accept-data-loss --app {package}.main:db" in output
    assert await _has_column(url, "notes", "title"), "nothing may be applied"


async def _has_table(url: str, table: str) -> bool:
    return await columns(url, table) is not None


async def _has_column(url: str, table: str, column: str) -> bool:
    return column in (await columns(url, table) or ())


async def _true(value: bool) -> bool:
    return value


def _child_processes() -> set[int]:
    children: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            text = (task / "children").read_text().split()
        except FileNotFoundError:  # that thread ended while we listed them
            continue
        children.update(int(pid) for pid in text)
    return children


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_shutdown_during_a_reload_leaves_nothing_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    package = write_app(tmp_path, notes_source(TITLE), url)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no project marker above tmp_path: .deesse/ goes here
    threads_before = set(threading.enumerate())
    children_before = _child_processes()
    seen: dict[str, object] = {}

    async def scenario() -> None:
        db = importlib.import_module(f"{package}.main").db
        lifespan = db.lifespan(dev_sync=True, debounce=0.1)
        async with lifespan(object()):
            assert db.is_connected
            # The startup check's fresh interpreter is running now (it needs ~1 s).
            await eventually(lambda: _true(bool(_child_processes() - children_before)), 10, "")
            seen["children during"] = _child_processes() - children_before
        seen["connected after"] = db.is_connected
        seen["tasks after"] = asyncio.all_tasks() - {asyncio.current_task()}
        seen["children after"] = _child_processes() - children_before

    started = time.monotonic()
    anyio.run(scenario)
    assert time.monotonic() - started < 10
    assert seen["children during"]
    assert seen["children after"] == set()
    assert seen["tasks after"] == set()
    assert seen["connected after"] is False
    deadline = time.monotonic() + 2
    while set(threading.enumerate()) - threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(threading.enumerate()) - threads_before == set()
    for name in [m for m in sys.modules if m.startswith(package)]:
        del sys.modules[name]
    assert (tmp_path / ".deesse" / ".gitignore").exists()


@pytest.fixture
def imported_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    """The written app imported in this process: ``(package, module holding db)``."""
    package = write_app(tmp_path, notes_source(TITLE), f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("DEESSE_APP", raising=False)
    yield package, importlib.import_module(f"{package}.main")
    for name in [m for m in sys.modules if m.startswith(package)]:
        del sys.modules[name]


def test_the_engine_finds_the_app_path_and_the_collection_folders(
    tmp_path: Path, imported_app: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    package, main = imported_app
    app = locate_app(main.db)
    assert app == AppLocation(f"{package}.main:db", tmp_path.resolve())
    assert collection_folders(main.db) == [(tmp_path / package).resolve()]
    engine = DevEngine.for_database(main.db, out=Console(file=io.StringIO()))
    assert engine is not None
    assert engine.config.watch == ((tmp_path / package).resolve(),)
    assert not engine.config.recursive  # exactly the collections' folder
    monkeypatch.setenv("DEESSE_APP", "elsewhere:db")
    assert locate_app(main.db) == AppLocation("elsewhere:db", None)


def test_a_memory_database_turns_dev_sync_off_with_a_reason() -> None:
    db = define_config(provider="sqlite://:memory:", collections=[])
    out = Console(file=io.StringIO(), width=200)
    assert DevEngine.for_database(db, out=out) is None
    assert "dev sync is off" in out.file.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("given", "env", "expected"),
    [
        (True, "", True),
        (False, "development", False),
        (None, "development", True),
        (None, "", False),
        (None, "production", False),
    ],
)
def test_dev_sync_defaults_to_deesse_env_development(
    given: bool | None, env: str, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEESSE_ENV", env)
    assert dev_sync_enabled(given) is expected


@pytest.mark.anyio
async def test_the_default_lifespan_only_opens_and_closes_the_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEESSE_ENV", raising=False)
    db = define_config(provider=f"sqlite:///{tmp_path / 'app.db'}", collections=[])
    app = Starlette(lifespan=db.lifespan())
    async with app.router.lifespan_context(app):
        assert db.is_connected
    assert not db.is_connected
    assert not (tmp_path / ".deesse").exists()
