"""``pooler="transaction"``: PostgreSQL through a real PgBouncer in transaction mode.

The query, CRUD and access-rule suites run on the ``pgbouncer`` backend too
(tests/conftest.py); here: what breaks without the option (and the error naming it),
that no prepared statement or setting outlives a transaction on PgBouncer's server
connections, concurrency over fewer server connections than clients, cancellation of
a statement that got a transaction of its own, the schema tools, and bad settings.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from deesse_async import (
    ConfigError,
    DatabaseError,
    collection,
    define_config,
    field,
    integer,
    text,
)
from deesse_async.drivers import asyncpg as asyncpg_adapter
from tests.conftest import POSTGRES_URL, _plain, require_backend
from tests.pgbouncer import SERVER_POOL_SIZE, reconnect

pytestmark = pytest.mark.anyio

CLIENTS = 8  # our pool: four times PgBouncer's server connections


def notes(slug: str = "notes") -> Any:
    return collection(
        slug=slug,
        fields={"title": field(type=text()), "n": field(type=integer())},
    )


@pytest.fixture
async def schema(anyio_backend: str) -> AsyncIterator[str]:
    """A fresh schema on the shared server (made and dropped over a direct connection)."""
    await require_backend("postgresql")
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_plain(POSTGRES_URL))
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
        yield name
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()


async def _server_state(pgbouncer_url: str) -> list[tuple[str, int]]:
    """(search_path, prepared statements) of every PgBouncer server connection: as many
    clients as it has server connections, each holding a transaction, so that each
    reads a different one."""
    clients = [
        await asyncpg.connect(_plain(pgbouncer_url), statement_cache_size=0)
        for _ in range(SERVER_POOL_SIZE)
    ]
    try:
        for c in clients:
            await c.execute("BEGIN")
        states = []
        pids = set()
        for c in clients:
            row = await c.fetchrow(
                "SELECT current_setting('search_path') AS path, pg_backend_pid() AS pid,"
                " (SELECT count(*) FROM pg_prepared_statements) AS prepared"
            )
            assert row is not None
            states.append((row["path"], row["prepared"]))
            pids.add(row["pid"])
        assert len(pids) == SERVER_POOL_SIZE  # each client held its own server connection
        return states
    finally:
        for c in clients:
            await c.close()


async def _workload(db: Any, count: int = 40) -> None:
    async def one(i: int) -> None:
        row = await db.notes.create({"title": f"note {i}", "n": i})
        assert (await db.notes.read(row["id"]))["title"] == f"note {i}"
        await db.notes.update(row["id"], {"n": i * 10})
        found = await db.query.notes.find_many(where={"n": {"gte": i * 10}}, order_by={"n": "asc"})
        assert found[0]["n"] == i * 10
        async with db.transaction() as tx:
            await tx.notes.create({"title": f"tx {i}", "n": -i - 1})
            assert await tx.notes.count(where={"title": f"tx {i}"}) == 1

    await asyncio.gather(*(one(i) for i in range(count)))


async def test_named_statements_break_through_transaction_pooling(
    pgbouncer_url: str, anyio_backend: str
) -> None:
    """The failure the option exists for, with asyncpg's default statement cache: a
    named statement prepared on one server connection is used on another (``does not
    exist``) or made again on one that has it (``already exists``)."""
    clients = [await asyncpg.connect(_plain(pgbouncer_url)) for _ in range(CLIENTS)]
    try:

        async def queries(client: Any) -> None:
            for i in range(20):
                await client.fetchval(f"SELECT $1::int + {i % 7}", i)

        results = await asyncio.gather(*(queries(c) for c in clients), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert errors, "named statements through transaction pooling did not fail"
        named = asyncpg.InvalidSQLStatementNameError | asyncpg.DuplicatePreparedStatementError
        assert all(isinstance(e, named) for e in errors), errors
    finally:
        for c in clients:
            await c.close()
        await reconnect(pgbouncer_url)  # drop the named statements left on the servers


@pytest.fixture
def undetected(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which addresses were found to be poolers (the finding is per process)."""
    monkeypatch.setattr(asyncpg_adapter, "_DETECTED", {})


async def test_a_pooler_is_found_without_the_option(
    pgbouncer_url: str, undetected: None, anyio_backend: str
) -> None:
    """No ?schema=: the first connection sees that the server process answering is not
    the one the connection announced, and the pool runs as pooler="transaction"."""
    await require_backend("postgresql")
    slug = f"pgb_{uuid.uuid4().hex[:10]}"
    # The table goes in public (the URL has no ?schema=), made from the collection's own
    # DDL, never through a push to the shared public schema.
    table = define_config(POSTGRES_URL, [notes(slug)]).metadata.tables[slug]
    ddl = str(CreateTable(table).compile(dialect=postgresql.dialect()))
    conn = await asyncpg.connect(_plain(POSTGRES_URL))
    try:
        await conn.execute(ddl)
        db = define_config(pgbouncer_url, [notes(slug)], pool_size=CLIENTS)
        async with db:
            assert db._pool.behind_pooler is True  # type: ignore[union-attr]
            api = getattr(db, slug)
            await api.create({"title": "one", "n": 5})
            for _ in range(3):
                counts = await asyncio.gather(
                    *(api.count(where={"n": {"gt": i}}) for i in range(3 * CLIENTS))
                )
                assert counts == [1 if i < 5 else 0 for i in range(3 * CLIENTS)]
    finally:
        await conn.execute(f'DROP TABLE IF EXISTS public."{slug}"')
        await conn.close()
    for _, prepared in await _server_state(pgbouncer_url):
        assert prepared == 0


async def test_a_pooler_refusing_the_search_path_is_found(
    pgbouncer_url: str, schema: str, undetected: None
) -> None:
    """?schema=: PgBouncer refuses the search_path at connect; that finds it too, for
    the schema tools (before any pool) as for the pool."""
    db = define_config(f"{pgbouncer_url}?schema={schema}", [notes()], pool_size=CLIENTS)
    assert not (await db.plan()).is_empty  # the schema tools, no pool open yet
    async with db:
        assert db._pool.behind_pooler is True  # type: ignore[union-attr]
        await db.push()
        await _workload(db, 10)
        assert await db.notes.count() == 20
    for path, prepared in await _server_state(pgbouncer_url):
        assert (path, prepared) == ('"$user", public', 0)


async def test_a_direct_server_is_not_taken_for_a_pooler(schema: str, undetected: None) -> None:
    db = define_config(f"{POSTGRES_URL}?schema={schema}", [notes()], pool_min_size=0)
    async with db:
        assert db._pool.behind_pooler is False  # type: ignore[union-attr]
        await db.push()
        await db.notes.create({"title": "x"})
        assert db._pool.behind_pooler is False  # type: ignore[union-attr]
        async with db._pool.acquire() as conn:  # type: ignore[union-attr]
            # The statement cache is on: named statements live on the session.
            assert conn._raw._stmt_cache_enabled  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (asyncpg.InvalidSQLStatementNameError('prepared statement "s1" does not exist'), "26000"),
        (
            asyncpg.DuplicatePreparedStatementError('prepared statement "s1" already exists'),
            "42P05",
        ),
    ],
)
def test_a_prepared_statement_error_names_the_option(error: Exception, message: str) -> None:
    """Should a pooler go unnoticed (one that passes the server's process id on), the
    error says what to do."""
    translated = asyncpg_adapter.translate(error, {}, "postgresql://db")
    assert isinstance(translated, DatabaseError)
    assert message in str(translated)
    assert "add ?pooler=transaction to the URL" in str(translated)


async def test_many_clients_over_fewer_server_connections_leave_no_state_behind(
    pgbouncer_url: str, schema: str
) -> None:
    url = f"{pgbouncer_url}?schema={schema}&pooler=transaction"
    db = define_config(url, [notes()], pool_size=CLIENTS)
    async with db:
        await db.push()
        await _workload(db)
        assert await db.notes.count() == 80
    # The rows are in ?schema=, not in public; PgBouncer's server connections keep no
    # search_path and no prepared statement of ours.
    conn = await asyncpg.connect(_plain(POSTGRES_URL))
    try:
        assert await conn.fetchval(f'SELECT count(*) FROM "{schema}".notes') == 80
    finally:
        await conn.close()
    for path, prepared in await _server_state(pgbouncer_url):
        assert path == '"$user", public'
        assert prepared == 0


async def test_an_isolation_level_and_the_schema_hold_in_the_same_transaction(
    pgbouncer_url: str, schema: str
) -> None:
    """``transaction(isolation=...)`` opens with its own BEGIN: the search_path goes with
    it, and the level holds (the settings are read inside, by the query itself)."""
    url = f"{pgbouncer_url}?schema={schema}&pooler=transaction"
    db = define_config(url, [notes()], pool_size=CLIENTS)
    settings = {
        "level": lambda t: sa.func.current_setting("transaction_isolation"),
        "path": lambda t: sa.func.current_setting("search_path"),
    }
    async with db:
        await db.push()
        await db.notes.create({"title": "a"})
        for isolation in ("serializable", "repeatable_read", None):
            async with db.transaction(isolation=isolation) as tx:
                await tx.notes.create({"title": "b"})
                rows = await tx.query.notes.find_many(extras=settings, order_by={"id": "asc"})
            want = (isolation or "read_committed").replace("_", " ")
            assert [(r["level"], r["path"]) for r in rows][-1] == (want, f"{schema}, public")

        async def retried(tx: Any) -> int:
            await tx.notes.create({"title": "c"})
            return int(await tx.notes.count())

        assert await db.run_in_transaction(retried) == 5
    for path, prepared in await _server_state(pgbouncer_url):
        assert (path, prepared) == ('"$user", public', 0)


async def test_a_statement_cancelled_in_its_own_transaction_stores_nothing(
    pgbouncer_url: str, schema: str
) -> None:
    """With ``?schema=`` a statement outside a transaction gets one of its own (to carry
    ``SET LOCAL search_path``): cancelled before COMMIT, it is rolled back."""
    url = f"{pgbouncer_url}?schema={schema}&pooler=transaction"
    db = define_config(url, [notes()], pool_size=1)
    async with db:
        await db.push()
        row = await db.notes.create({"title": "a", "n": 1})
        slow = {"RAW": lambda t: sa.func.pg_sleep(10).is_not(None)}
        task = asyncio.ensure_future(db.query.notes.find_many(where={**slow, "id": row["id"]}))
        await asyncio.sleep(0.3)
        cancelled_at = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # PgBouncer forwarded the cancel request: the server stopped sleeping.
        assert time.monotonic() - cancelled_at < 5
        # An update waiting for a row lock held elsewhere, cancelled: nothing stored.
        holder = await asyncpg.connect(_plain(POSTGRES_URL))
        try:
            await holder.execute("BEGIN")
            await holder.execute(f'SELECT * FROM "{schema}".notes FOR UPDATE')
            update = asyncio.ensure_future(db.notes.update(row["id"], {"n": 99}))
            await asyncio.sleep(0.3)
            assert not update.done()  # waiting for the lock
            update.cancel()
            with pytest.raises(asyncio.CancelledError) as caught:
                await update
            assert not getattr(caught.value, "__notes__", None)  # not "stored"
            await holder.execute("ROLLBACK")
        finally:
            await holder.close()
        # The one pooled connection is usable, in no transaction, and sees the schema.
        assert (await db.notes.read(row["id"]))["n"] == 1
        assert await db.notes.count() == 1
    for path, prepared in await _server_state(pgbouncer_url):
        assert (path, prepared) == ('"$user", public', 0)


async def test_reads_cancelled_at_any_moment_give_the_only_connection_back(
    pgbouncer_url: str, schema: str
) -> None:
    """A read behind the pooler is three round trips (BEGIN + SET LOCAL, the statement,
    COMMIT); a cancellation may land in any of them, or while PgBouncer forwards the
    cancel request. Whatever the moment, the pool's only connection comes back at once,
    outside a transaction. (A cancellation during COMMIT once lost it: the pool's
    rollback ran, then the cancellation skipped the return.)"""
    url = f"{pgbouncer_url}?schema={schema}&pooler=transaction"
    db = define_config(url, [notes()], pool_size=1)
    rng = random.Random(11)
    async with db:
        await db.push()
        await db.notes.create_many([{"title": f"t{i}", "n": i} for i in range(20)])
        cancelled = 0
        for _ in range(150):
            # A cancel scope, as in Starlette or a task group: it stays cancelled, so
            # it strikes again at every checkpoint (a bare Task.cancel() strikes once).
            with anyio.move_on_after(rng.uniform(0, 0.006)) as scope:
                await db.query.notes.find_many(order_by={"n": "desc"})
            cancelled += scope.cancelled_caught
            with anyio.fail_after(5):
                assert await db.notes.count() == 20
        assert cancelled > 20  # the moments drawn did land inside reads
    for path, prepared in await _server_state(pgbouncer_url):
        assert (path, prepared) == ('"$user", public', 0)


@pytest.fixture(scope="module")
def session_pgbouncer_url() -> Iterator[str]:
    """A second PgBouncer, in session mode (each client keeps its server connection)."""
    from tests.pgbouncer import pgbouncer

    with pgbouncer(POSTGRES_URL, pool_mode="session") as url:
        yield url


async def test_a_session_mode_pooler_keeps_the_statement_cache_when_told(
    session_pgbouncer_url: str, schema: str
) -> None:
    """PgBouncer does not say its pool mode, so a session-mode pooler is found as a
    pooler and gets the transaction-mode treatment (no statement cache). ``pooler=
    "session"`` says otherwise: no detection, named statements cached, and ``?schema=``
    set once per connection (PgBouncer refuses it at startup) instead of per statement."""
    url = f"{session_pgbouncer_url}?schema={schema}"
    found = define_config(url, [notes()], pool_size=2)
    async with found:
        await found.push()
        await found.notes.create({"title": "a", "n": 1})
        assert found._pool is not None and found._pool.behind_pooler  # the safe side
    told = define_config(url, [notes()], pool_size=2, pooler="session")
    async with told:
        assert told._pool is not None
        for i in range(3):
            await told.notes.create({"title": f"b{i}", "n": i})
            assert len(await told.query.notes.find_many(where={"n": {"gte": 0}})) == i + 2
        assert not told._pool.behind_pooler
        async with told.acquire() as conn:
            assert not conn.pooled
            [(path, prepared)] = await conn.fetch(
                "SELECT current_setting('search_path'),"
                " (SELECT count(*) FROM pg_prepared_statements)"
            )
        assert path.replace('"', "") == f"{schema}, public"
        assert prepared > 0  # asyncpg's named statements live on: the cache works
        # The schema tools take the schema per transaction, through the same pooler.
        await told.push()
        titles = [r["title"] async for r in told.query.notes.stream(mode="cursor")]
        assert titles == ["a", "b0", "b1", "b2"]
    # Also with the URL option, and the keyword and the URL must agree.
    assert define_config(f"{url}&pooler=session", [notes()]).url.pooler == "session"
    with pytest.raises(ConfigError, match="disagrees"):
        define_config(f"{url}&pooler=session", [notes()], pooler="transaction")


async def test_schema_tools_work_through_pgbouncer(pgbouncer_url: str, schema: str) -> None:
    url = f"{pgbouncer_url}?schema={schema}&pooler=transaction"
    db = define_config(url, [notes()])
    async with db:
        plan = await db.plan()
        assert not plan.is_empty  # the table is missing from ?schema=
        await db.push()
        assert (await db.plan()).is_empty  # reflection sees ?schema= only
    more = collection(
        slug="notes",
        fields={
            "title": field(type=text()),
            "n": field(type=integer()),
            "tag": field(type=text()),
        },
    )
    db = define_config(url, [more])
    async with db:
        plan = await db.plan()
        assert [s.sql for s in plan.statements] == ["ALTER TABLE notes ADD COLUMN tag TEXT"]
        await db.push()
        row = await db.notes.create({"title": "x", "tag": "t"})
        assert row["tag"] == "t"
        assert (await db.plan()).is_empty
    conn = await asyncpg.connect(_plain(POSTGRES_URL))
    try:
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = $1 AND table_name = 'notes' ORDER BY ordinal_position",
            schema,
        )
        assert [c["column_name"] for c in columns] == [
            "id",
            "title",
            "n",
            "created_at",
            "updated_at",
            "tag",
        ]
    finally:
        await conn.close()
    for path, prepared in await _server_state(pgbouncer_url):
        assert (path, prepared) == ('"$user", public', 0)


async def test_migrations_generate_and_apply_through_pgbouncer(
    pgbouncer_url: str, schema: str, tmp_path: Path
) -> None:
    from deesse_async.sync.migrations import apply_migrations, generate_migration

    url = f"{pgbouncer_url}?schema={schema}&pooler=transaction"
    db = define_config(url, [notes()])
    folder = tmp_path / "migrations"
    async with db:
        revision = await anyio.to_thread.run_sync(generate_migration, db, "notes", folder)
        assert revision is not None and "create_table" in revision.read_text()
        applied = await anyio.to_thread.run_sync(apply_migrations, db, folder)
        assert len(applied) == 1
        assert (await db.plan()).is_empty
        assert (await db.notes.create({"title": "migrated"}))["title"] == "migrated"
    conn = await asyncpg.connect(_plain(POSTGRES_URL))
    try:
        assert (
            await conn.fetchval(f'SELECT version_num FROM "{schema}".alembic_version')
            == (applied[0])
        )
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("provider", "options", "message"),
    [
        ("sqlite://:memory:", {"pooler": "transaction"}, r"for PostgreSQL .* drop pooler="),
        ("mysql://u@h/db", {"pooler": "transaction"}, r"is mysql: drop pooler="),
        ("postgresql://u@h/db", {"pooler": "sesion"}, r"'sesion' is not supported.*'session'"),
        ("postgresql://u@h/db", {"pooler": "statement"}, r"statement-mode pooling cannot"),
        ("postgresql://u@h/db?pooler=statement", {}, r"statement-mode pooling cannot"),
        ("postgresql://u@h/db?pooler=yes", {}, r"pooler='yes' is not supported"),
        ("mysql://u@h/db?pooler=transaction", {}, r"unknown URL option 'pooler' for mysql"),
        (
            "postgresql://u@h/db?pooler=transaction",
            {"statement_cache_size": 100},
            r"drop statement_cache_size",
        ),
    ],
)
def test_bad_pooler_settings_are_config_errors(
    provider: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        define_config(provider, [notes()], **options)


def test_the_url_option_and_the_keyword_agree() -> None:
    by_url = define_config("postgresql://u@h/db?pooler=transaction", [notes()])
    by_keyword = define_config("postgresql://u@h/db", [notes()], pooler="transaction")
    both = define_config("postgresql://u@h/db?pooler=transaction", [notes()], pooler="transaction")
    assert by_url.url.pooler == by_keyword.url.pooler == both.url.pooler == "transaction"
    assert define_config("postgresql://u@h/db", [notes()]).url.pooler is None
    # statement_cache_size=0 is what the option means anyway: accepted.
    define_config("postgresql://u@h/db", [notes()], pooler="transaction", statement_cache_size=0)
