"""The development engine in this process: debounce, broken files, the one-engine lock.

The database is always real; the seams faked are the file-event stream and the clock's
owner (short debounces). Re-loads run in real fresh interpreters.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import AsyncGenerator, Callable
from dataclasses import replace
from pathlib import Path

import anyio
import pytest
from rich.console import Console
from watchfiles import Change

from deesse_async.sync.engine import DevEngine
from deesse_async.sync.watch import Debouncer, PythonSourceFilter
from tests.sync.devapp import (
    TAGS,
    TITLE,
    columns,
    dev_engine_config,
    eventually,
    notes_source,
    write_app,
)

pytestmark = pytest.mark.anyio
# The engine's logic does not depend on the dialect: one backend keeps these fast (the
# uvicorn test in test_asgi.py runs on all three).
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])


def recording_console() -> Console:
    return Console(file=io.StringIO(), width=200, force_terminal=False, highlight=False)


def output(out: Console) -> str:
    file = out.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def fake_changes(
    bursts: list[list[str]], gap: float = 0.03, pause: float = 0.0
) -> Callable[[anyio.Event], AsyncGenerator[set[str], None]]:
    """A change stream: each burst's paths ``gap`` s apart, ``pause`` s between bursts."""

    async def stream(stop: anyio.Event) -> AsyncGenerator[set[str], None]:
        for burst in bursts:
            for path in burst:
                await anyio.sleep(gap)
                yield {path}
            await anyio.sleep(pause)
        await stop.wait()

    return stream


async def test_a_burst_of_changes_is_one_batch_after_the_last_change() -> None:
    debouncer = Debouncer(0.3)
    stream = fake_changes([["a.py", "b.py", "a.py", "c.py", "b.py"]], gap=0.05)
    last_change = 0.0

    async def pump() -> None:
        nonlocal last_change
        async for paths in stream(anyio.Event()):
            debouncer.add(paths)
            last_change = anyio.current_time()

    async with anyio.create_task_group() as tg:
        tg.start_soon(pump)
        with anyio.fail_after(5):
            batch = await debouncer.next_batch()
        handed_over = anyio.current_time()
        assert batch == {"a.py", "b.py", "c.py"}
        assert handed_over - last_change >= 0.3 - 0.01  # quiet period measured from the LAST
        with anyio.move_on_after(0.5) as scope:
            await debouncer.next_batch()
        assert scope.cancelled_caught, "a burst must give exactly one batch"
        tg.cancel_scope.cancel()


def test_only_python_sources_count() -> None:
    keep = PythonSourceFilter()
    kept = [
        p
        for p in (
            "/p/app/collections.py",
            "/p/app/.collections.py.swp",
            "/p/app/collections.py~",
            "/p/app/.#collections.py",
            "/p/app/4913",
            "/p/app/__pycache__/collections.cpython-311.pyc",
            "/p/app/__pycache__/x.py",
            "/p/.deesse/engine.py",
            "/p/app/notes.txt",
            "/p/app/models/users.py",
        )
        if keep(Change.modified, p)
    ]
    assert kept == ["/p/app/collections.py", "/p/app/models/users.py"]


async def run_engine(engine: DevEngine, scenario: Callable[[], object]) -> None:
    """Run ``engine`` around ``scenario`` (an async callable) and stop it cleanly."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(engine.run)
        try:
            with anyio.fail_after(60):
                await scenario()  # type: ignore[misc]
        finally:
            engine.stop()
            tg.cancel_scope.cancel()


@sqlite_only
async def test_an_engine_syncs_once_per_burst(tmp_path: Path, database_url: str) -> None:
    package = write_app(tmp_path, notes_source(TITLE), database_url)
    source = str(tmp_path / package / "collections.py")
    out = recording_console()
    config = dev_engine_config(tmp_path, package, database_url, debounce=0.3)
    engine = DevEngine(config, out=out, changes=fake_changes([[source] * 6], pause=0.2))

    async def scenario() -> None:
        # The startup check creates the table; the burst then gives one more round.
        await eventually(lambda: _true(engine.syncs >= 2), 15, "a round after the burst")
        await anyio.sleep(1.0)

    await run_engine(engine, scenario)
    assert engine.syncs == 2, output(out)
    assert await columns(database_url, "notes") is not None
    assert output(out).count("collections.py changed") == 1


async def _true(value: bool) -> bool:
    return value


@sqlite_only
async def test_a_broken_collection_file_does_not_stop_the_engine(
    tmp_path: Path, database_url: str
) -> None:
    package = write_app(tmp_path, notes_source(TITLE), database_url)
    source = anyio.Path(tmp_path / package / "collections.py")
    out = recording_console()
    engine = DevEngine(dev_engine_config(tmp_path, package, database_url, debounce=0.2), out=out)

    async def scenario() -> None:
        await eventually(lambda: _true(engine.syncs == 1), 15, "the startup check")
        await source.write_text(notes_source(TITLE) + "\nTags = collection(slug='tags', fields={\n")
        await eventually(lambda: _true("could not sync" in output(out)), 15, "the error report")
        await source.write_text(notes_source(TITLE, extra=TAGS))
        await eventually(
            lambda: _table_exists(database_url, "tags"), 15, "the valid edit to be applied"
        )

    await run_engine(engine, scenario)
    text = output(out)
    assert "SyntaxError" in text
    assert "collections.py, line" in text  # the summary names the broken file
    assert "still watching" in text


async def _table_exists(url: str, table: str) -> bool:
    return await columns(url, table) is not None


async def _run_in(scope: anyio.CancelScope, engine: DevEngine) -> None:
    with scope:
        await engine.run()


@sqlite_only
async def test_one_engine_acts_per_database_the_other_stays_quiet(
    tmp_path: Path, database_url: str
) -> None:
    package = write_app(tmp_path, notes_source(TITLE), database_url)
    config = dev_engine_config(tmp_path, package, database_url, lock_retry=0.1)
    outs = [recording_console(), recording_console()]
    engines = [DevEngine(config, out=o, changes=fake_changes([])) for o in outs]
    scopes = [anyio.CancelScope(), anyio.CancelScope()]
    # An app on ANOTHER database in the same project acts too: the lock is per database.
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    other_package = write_app(tmp_path, notes_source(TITLE), other_url)
    other = DevEngine(
        dev_engine_config(tmp_path, other_package, other_url),
        out=recording_console(),
        changes=fake_changes([]),
    )

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(_run_in, scopes[0], engines[0])
            await eventually(lambda: _true(engines[0].syncs == 1), 15, "the first to act")
            tg.start_soon(_run_in, scopes[1], engines[1])
            tg.start_soon(other.run)
            await eventually(lambda: _true("stays quiet" in output(outs[1])), 10, "a quiet one")
            await eventually(lambda: _true(other.syncs == 1), 15, "the other database's engine")
            await anyio.sleep(0.3)
            assert engines[1].syncs == 0 and not engines[1].leading
            # The leader stops: the quiet one takes over (and says so).
            engines[0].stop()
            scopes[0].cancel()
            await eventually(lambda: _true(engines[1].syncs == 1), 15, "the take-over")
            for engine in (engines[1], other):
                engine.stop()
            tg.cancel_scope.cancel()
    assert output(outs[1]).count("stays quiet") == 1
    assert "takes over" in output(outs[1])
    assert (tmp_path / ".deesse" / ".gitignore").read_text().splitlines()[-1] == "*"


async def _raw(url: str, *statements: str) -> list[tuple[object, ...]]:
    """Run SQL on ``url`` outside the library's collections; the last statement's rows."""
    from deesse_async.drivers.url import parse_url
    from deesse_async.runtime.schema_connections import admin_connection

    rows: list[tuple[object, ...]] = []
    async with admin_connection(parse_url(url)) as conn:
        for sql in statements:
            result = await conn.exec_driver_sql(sql)
            rows = [tuple(r) for r in result.all()] if result.returns_rows else []
    return rows


async def test_another_apps_table_does_not_hold_back_the_engine(
    tmp_path: Path, database_url: str
) -> None:
    await _raw(  # another app's table, with a row
        database_url,
        "CREATE TABLE legacy_orders (id INTEGER PRIMARY KEY, total INTEGER)",
        "INSERT INTO legacy_orders VALUES (1, 42)",
    )
    package = write_app(tmp_path, notes_source(TITLE), database_url)
    source = anyio.Path(tmp_path / package / "collections.py")
    out = recording_console()
    engine = DevEngine(dev_engine_config(tmp_path, package, database_url, debounce=0.2), out=out)

    async def scenario() -> None:
        await eventually(lambda: _true(engine.syncs == 1), 15, "the startup check")
        await source.write_text(notes_source(TITLE, extra=TAGS))
        await eventually(lambda: _table_exists(database_url, "tags"), 15, "tags created")

    await run_engine(engine, scenario)
    text = output(out)
    assert "held back" not in text and "legacy_orders" not in text
    assert await _raw(database_url, "SELECT id, total FROM legacy_orders") == [(1, 42)]


@sqlite_only
async def test_deesse_dev_url_syncs_another_database(tmp_path: Path, database_url: str) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    package = write_app(tmp_path, notes_source(TITLE), other)  # the app's own provider
    out = recording_console()
    config = replace(dev_engine_config(tmp_path, package, database_url), url=database_url)
    engine = DevEngine(config, out=out, changes=fake_changes([]))

    async def scenario() -> None:
        await eventually(lambda: _true(engine.syncs == 1), 20, "the startup check")

    await run_engine(engine, scenario)
    assert "applied 1 statement" in output(out), output(out)
    assert await columns(database_url, "notes") is not None
    assert not (tmp_path / "other.db").exists()


HEADING = '    "heading": field(type=text(max=100), renamed_from="title"),'


@sqlite_only
async def test_the_engine_says_once_that_the_running_app_must_reload(
    tmp_path: Path, database_url: str
) -> None:
    package = write_app(tmp_path, notes_source(TITLE), database_url)
    source = anyio.Path(tmp_path / package / "collections.py")
    out = recording_console()
    # What the running app's code uses: notes as it was when the app started.
    running = {"notes": frozenset({"id", "title", "created_at", "updated_at"})}
    config = dev_engine_config(tmp_path, package, database_url, debounce=0.2, running=running)
    engine = DevEngine(config, out=out)

    async def round_done(count: int) -> None:
        await eventually(lambda: _true(engine.syncs == count), 20, f"round {count}")

    async def scenario() -> None:
        await round_done(1)
        await source.write_text(notes_source(TITLE, extra=TAGS))  # additive: code still fits
        await round_done(2)
        assert "reload" not in output(out)
        await source.write_text(notes_source(HEADING, extra=TAGS))  # a rename: it does not
        await round_done(3)
        await source.write_text(notes_source(HEADING, SUBTITLE_LINE, extra=TAGS))
        await round_done(4)

    await run_engine(engine, scenario)
    text = output(out)
    assert await columns(database_url, "notes") == {
        "id", "heading", "subtitle", "created_at", "updated_at"
    }  # fmt: skip
    assert text.count("must reload") == 1, text
    assert "notes.title" in text and "uvicorn --reload" in text


SUBTITLE_LINE = '    "subtitle": field(type=text(max=50)),'


def test_deesse_dev_takes_app_watch_and_debounce() -> None:
    from deesse_async.cli.dev import DEV

    command = DEV
    parser = argparse.ArgumentParser()
    command.configure(parser)
    args = parser.parse_args(["--app", "app.db:db", "--watch", "a", "--watch", "b"])
    assert (args.app, args.watch, args.debounce) == ("app.db:db", ["a", "b"], 15.0)
    assert parser.parse_args(["--url", "sqlite:///x.db"]).url == "sqlite:///x.db"
    assert parser.parse_args(["--debounce", "0.5"]).debounce == 0.5
    assert command.name == "dev"


SYNTAX_ERROR = """\
Traceback (most recent call last):
  File "{pkg}/sync/reload.py", line 360, in main
    db = load_database(args.app)
  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import
  File "/proj/app/main.py", line 3, in <module>
    from . import collections as c
  File "/proj/app/collections.py", line 8
    Tags = collection(slug='tags', fields={{
                                          ^
SyntaxError: '{{' was never closed
"""

CONFIG_ERROR = """\
Traceback (most recent call last):
  File "/proj/app/collections.py", line 6, in <module>
    X = collection(slug='push', fields={{}})
        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "{pkg}/schema/collection.py", line 141, in _check_slug
    raise ConfigError(
deesse_async.errors.ConfigError: collection slug 'push' is reserved
"""


def test_a_childs_traceback_is_summarised_to_the_users_line() -> None:
    import deesse_async
    from deesse_async.sync.reload import summarise_traceback

    pkg = str(Path(deesse_async.__file__).parent)
    assert summarise_traceback(SYNTAX_ERROR.format(pkg=pkg)) == (
        "SyntaxError: '{' was never closed (/proj/app/collections.py, line 8)",
        "    Tags = collection(slug='tags', fields={\n                                          ^",
    )
    message, excerpt = summarise_traceback(CONFIG_ERROR.format(pkg=pkg)) or ("", "")
    assert message == (
        "ConfigError: collection slug 'push' is reserved (/proj/app/collections.py, line 6)"
    )
    assert excerpt.startswith("    X = collection(slug='push'")
    assert summarise_traceback("") is None
