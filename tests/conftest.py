"""One backend suite, three databases (and PostgreSQL through PgBouncer).

Every test that takes ``backend``/``make_db`` runs on SQLite, PostgreSQL and MariaDB
(MySQL). Each test gets its own PostgreSQL schema / MySQL database / SQLite file and
drops it afterwards. A server that cannot be reached skips its tests loudly locally,
and FAILS them under ``CI=true``: CI must never pass by skipping.

The ``pgbouncer`` backend is PostgreSQL reached through a real PgBouncer in transaction
mode (tests/pgbouncer.py, ``?pooler=transaction``). It runs the files listed in
``PGBOUNCER_PATHS`` only (the query and CRUD suites, access-rule transactions): there a test marked
``backends("postgresql")`` runs on it too, except those in ``PGBOUNCER_DESELECTED``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from deesse_async import Collection, Database, define_config

POSTGRES_URL = os.environ.get(
    "DEESSE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("DEESSE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
BACKENDS = ("sqlite", "postgresql", "mysql")
# Test files and folders (relative to tests/) that also run through PgBouncer.
# The access-rule suite runs on postgresql; through PgBouncer only its transaction tests
# (concurrent transactions, savepoints): rules add no statement kind of their own, and
# the rest of it cost ~70 s of CI time.
PGBOUNCER_PATHS = (
    "query/",
    "access/test_transactions.py",
    "runtime/test_crud.py",
    "runtime/test_create_many.py",
    "runtime/test_retries.py",
)
# Tests of those files that do not run through PgBouncer, and why (by function name).
PGBOUNCER_DESELECTED = {
    # Hundreds of random trees: the SQL is PostgreSQL's, checked on that backend; through
    # PgBouncer the protocol is what matters, and the other tests cover each statement
    # kind (the fuzzer and the prepared-query trees stay). ~3 minutes saved.
    "test_generated_trees_match_the_reference": "random trees, same SQL as postgresql",
    "test_generated_trees_as_a_restricted_user": "random trees, same SQL as postgresql",
    # Every order x strategy walked again, and the viewers' rules: the same statements
    # as on postgresql; through PgBouncer one walk per kind stays (where, inserts,
    # descending, tokens, early exit, transactions). Keeps the CI run near 20 minutes.
    "test_rows_equal_find_many_for_every_order_and_strategy": "same SQL as postgresql",
    "test_walking_every_order_gives_find_many_rows": "same SQL as postgresql",
    "test_access_rules_apply_as_in_find_many": "same SQL as postgresql",
    "test_access_rules_apply": "same SQL as postgresql",
}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

_reachable: dict[str, str | None] = {}  # backend -> None if reachable, else the reason


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


async def _probe(backend: str) -> str | None:
    try:
        if backend == "postgresql":
            import asyncpg

            conn = await asyncpg.connect(_plain(POSTGRES_URL), timeout=5)
            await conn.close()
        elif backend == "mysql":
            import asyncmy

            conn = await asyncmy.connect(**_mysql_kwargs(MYSQL_URL), connect_timeout=5)
            conn.close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _mysql_kwargs(url: str) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return {
        "host": u.host or "127.0.0.1",
        "port": u.port or 3306,
        "user": u.username or "root",
        "password": u.password or "",
        "database": u.database,
    }


async def require_backend(backend: str) -> None:
    """Skip (locally) or fail (CI) when the backend's server cannot be reached."""
    if backend == "sqlite":
        return
    if backend == "pgbouncer":
        backend = "postgresql"  # PgBouncer itself is checked when it starts
    if backend not in _reachable:
        _reachable[backend] = await _probe(backend)
    reason = _reachable[backend]
    if reason is not None:
        url = POSTGRES_URL if backend == "postgresql" else MYSQL_URL
        message = f"{backend} at {url} is unreachable ({reason})"
        if IN_CI:
            pytest.fail(f"CI=true: {message}; CI must not pass by skipping", pytrace=False)
        pytest.skip(f"!!! {message}: start it or set DEESSE_TEST_*_URL")


@pytest.fixture(params=(*BACKENDS, "pgbouncer"))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def pgbouncer_url() -> Iterator[str]:
    """The shared PostgreSQL's URL through a PgBouncer of the session's own."""
    from tests.pgbouncer import pgbouncer

    with pgbouncer(POSTGRES_URL) as url:
        yield url


def _runs_on(item: pytest.Item, backend: str) -> bool:
    marker = item.get_closest_marker("backends")
    if backend == "pgbouncer":
        path = item.path.relative_to(Path(__file__).parent).as_posix()
        name = getattr(item, "originalname", item.name)
        if not path.startswith(PGBOUNCER_PATHS) or name in PGBOUNCER_DESELECTED:
            return False
        return marker is None or "postgresql" in marker.args or "pgbouncer" in marker.args
    return marker is None or backend in marker.args


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.backends("mysql")``: the test exists only on those backends.

    Other backends' cases are deselected, not skipped: a skip in this suite always
    means a server was unreachable (and fails under ``CI=true``). The ``pgbouncer``
    backend exists only in ``PGBOUNCER_PATHS``, where it follows ``postgresql``.
    """
    kept, dropped = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        backend = params.params.get("backend") if params is not None else None
        if backend is not None and not _runs_on(item, backend):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@asynccontextmanager
async def fresh_database(
    backend: str, sqlite_file: Path, pgbouncer_url: str | None = None
) -> AsyncIterator[str]:
    """A URL to a new, empty database on ``backend`` (a PostgreSQL schema, a MySQL
    database, or ``sqlite_file``), dropped on exit.

    ``pgbouncer``: the schema is made over the direct connection, and the URL goes
    through ``pgbouncer_url`` with ``?pooler=transaction``, as a user would write it.
    """
    name = f"t_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        yield f"sqlite:///{sqlite_file}"
    elif backend in ("postgresql", "pgbouncer"):
        import asyncpg

        conn = await asyncpg.connect(_plain(POSTGRES_URL))
        try:
            await conn.execute(f'CREATE SCHEMA "{name}"')
            if backend == "pgbouncer":
                assert pgbouncer_url is not None
                yield f"{pgbouncer_url}?schema={name}&pooler=transaction"
            else:
                yield f"{POSTGRES_URL}?schema={name}"
        finally:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            await conn.close()
    else:
        import asyncmy

        kwargs = _mysql_kwargs(MYSQL_URL)
        conn = await asyncmy.connect(**{**kwargs, "database": None}, autocommit=True)
        try:
            async with conn.cursor() as cur:
                await cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            base = MYSQL_URL.rsplit("/", 1)[0]
            yield f"{base}/{name}"
        finally:
            async with conn.cursor() as cur:
                await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            conn.close()


@pytest.fixture
async def database_url(
    backend: str, tmp_path: Path, anyio_backend: str, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A URL to a fresh, empty database on ``backend``; dropped after the test."""
    await require_backend(backend)
    # Started on first use only: a run without the backend never starts PgBouncer.
    bouncer = request.getfixturevalue("pgbouncer_url") if backend == "pgbouncer" else None
    async with fresh_database(backend, tmp_path / "test.db", bouncer) as url:
        yield url


MakeDb = Callable[..., Awaitable[Database]]


@pytest.fixture
async def make_db(database_url: str) -> AsyncIterator[MakeDb]:
    """``await make_db([Users, Posts], **options)``: an open, pushed Database."""
    opened: list[Database] = []

    async def make(collections: list[Collection], **options: Any) -> Database:
        db = define_config(provider=database_url, collections=collections, **options)
        await db.connect()
        opened.append(db)
        await db.push()
        return db

    yield make
    for db in opened:
        await db.close()


@pytest.fixture
def in_tmp_cwd(tmp_path: Path) -> Iterator[Path]:
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)
