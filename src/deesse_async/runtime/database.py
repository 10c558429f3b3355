"""``Database``: the pool, CRUD per collection (``db.<slug>``), transactions, push."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio.lowlevel
import sqlalchemy as sa

from ..compile.schema import Schema
from ..dialects import DIALECTS, Dialect
from ..drivers import Connection, Pool, PoolOptions, codecs_for, create_pool
from ..drivers.base import shielded, stored
from ..errors import ConnectionError, DeesseError
from ..query.api import QueryNamespace
from ..query.filters import did_you_mean
from ..query.prepared import QueryEngine
from .crud import CollectionAPI
from .statements import CollectionStatements
from .url import DatabaseURL

if TYPE_CHECKING:
    from typing import Self

    from ..sync.plan import SyncPlan
    from ..sync.registry import ManageRule

__all__ = ["Database", "Transaction"]


_COMMITTED = (
    "deesse_async: the transaction had been committed when this cancellation arrived "
    "(it arrived after COMMIT was sent); its writes are stored"
)


@asynccontextmanager
async def _in_transaction(pool: Pool) -> AsyncIterator[Connection]:
    """A pooled connection inside BEGIN ... COMMIT; the cancellation rule of
    docs/reliability.md ("What cancellation means") is kept here.

    Before COMMIT is sent, anything (an error, a cancellation, also one that lands
    while BEGIN is in flight) rolls the whole transaction back and propagates. Once
    COMMIT is sent it runs to the end; a cancellation that arrived meanwhile (or while
    the connection goes back to the pool) is raised afterwards, with a note saying the
    transaction committed.
    """
    committed = False
    try:
        async with pool.acquire() as conn:
            try:
                await conn.begin()
                yield conn
                # A cancellation requested during the block's last step lands here,
                # before COMMIT: rolled back, as promised.
                await anyio.lowlevel.checkpoint()
            except BaseException as exc:
                await _roll_back(conn, exc)
                raise
            await _commit(conn)
            committed = True
    except asyncio.CancelledError as exc:
        if committed and _COMMITTED not in getattr(exc, "__notes__", ()):
            exc.add_note(_COMMITTED)
        raise


async def _commit(conn: Connection) -> None:
    await stored(conn.commit(), _COMMITTED)


async def _roll_back(conn: Connection, error: BaseException) -> None:
    """Roll back after ``error`` without ever replacing it with the rollback's own."""
    if conn.broken:
        return  # lost or closed: the server drops the transaction with the connection
    try:
        await shielded(conn.rollback())
    except DeesseError as failed:
        # e.g. the connection died too; the caller needs the first error, not this one.
        conn.broken = True
        error.add_note(f"deesse_async: the rollback failed as well ({failed})")


class _Collections:
    """``obj.<slug>`` access shared by ``Database`` and ``Transaction``."""

    _apis: dict[str, CollectionAPI]

    def __getattr__(self, name: str) -> CollectionAPI:
        apis: dict[str, CollectionAPI] | None = self.__dict__.get("_apis")
        if apis is not None and name in apis:
            return apis[name]
        hint = did_you_mean(name, list(apis or ()))
        raise AttributeError(f"{type(self).__name__} has no collection {name!r}{hint}")

    def collection(self, slug: str) -> CollectionAPI:
        """CRUD for ``slug`` (the same object as ``db.<slug>``)."""
        api: CollectionAPI = getattr(self, slug)
        return api


class Database(_Collections):
    """A configured database: ``async with db:`` opens the pool, ``db.<slug>`` is CRUD.

    Build it with ``define_config``.
    """

    manage: ManageRule | None = None  # define_config(manage=...): sync/registry.py

    def __init__(self, schema: Schema, url: DatabaseURL, options: PoolOptions) -> None:
        self.schema = schema
        self.url = url
        self.dialect: Dialect = DIALECTS[url.backend]
        self._options = options
        self._pool: Pool | None = None
        codecs = codecs_for(url.backend)
        self._engine = QueryEngine(schema, self.dialect, codecs)
        self._statements = {
            slug: CollectionStatements(cc, self._engine.context)
            for slug, cc in schema.collections.items()
        }
        self._apis = {slug: CollectionAPI(s, self) for slug, s in self._statements.items()}
        self.query = QueryNamespace(self._engine, self)

    def __repr__(self) -> str:
        state = "open" if self._pool is not None else "closed"
        return f"<Database {self.url.display} {state} collections={list(self._apis)}>"

    @property
    def metadata(self) -> sa.MetaData:
        """The SQLAlchemy ``MetaData`` holding every compiled table."""
        return self.schema.metadata

    @property
    def is_connected(self) -> bool:
        """Whether the pool is open."""
        return self._pool is not None

    if TYPE_CHECKING:  # here rather than at the top: the method is this edit's only user
        from ..asgi import Lifespan, WatchPaths

    def lifespan(
        self,
        dev_sync: bool | None = None,
        watch: WatchPaths | None = None,
        debounce: float = 15.0,
    ) -> Lifespan:
        """An ASGI lifespan: opens the pool at startup, closes it at shutdown.

        With ``dev_sync`` (default: on only when ``DEESSE_ENV=development``) it also runs
        the development sync engine on the app's loop: ``watch`` folders (default: those
        of the modules defining the collections), ``debounce`` seconds after the last
        change. See docs/sync.md.

        >>> # app = FastAPI(lifespan=db.lifespan(dev_sync=True, watch=["app/collections"]))
        """
        from ..asgi import lifespan

        return lifespan(self, dev_sync=dev_sync, watch=watch, debounce=debounce)

    async def connect(self) -> None:
        """Open the connection pool (a no-op when already open)."""
        if self._pool is None:
            self._pool = await create_pool(self.url, self._options, self.schema.constraints)

    async def close(self) -> None:
        """Close the pool; the database can be opened again later."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _require_pool(self) -> Pool:
        if self._pool is None:
            raise ConnectionError(
                f"database {self.url.display} is not connected: use `async with db:` "
                "or `await db.connect()` first (or db.lifespan() in an ASGI app)"
            )
        return self._pool

    # Executor protocol (used by CollectionAPI)
    def acquire(self) -> Any:
        """Borrow a pooled connection (internal; CRUD uses it)."""
        return self._require_pool().acquire()

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[Connection]:
        """A pooled connection inside a transaction (internal; CRUD uses it)."""
        async with _in_transaction(self._require_pool()) as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Run several operations atomically; an exception rolls all of them back.

        >>> # async with db.transaction() as tx:
        >>> #     user = await tx.users.create({...})
        >>> #     await tx.posts.create({"author_id": user["id"], ...})
        """
        async with self.atomic() as conn:
            yield Transaction(self, conn)

    async def plan(self) -> SyncPlan:
        """Compare the collections with the live database; changes nothing (docs/sync.md).

        >>> # plan = await db.plan()
        >>> # for sql, risk, reason in plan.statements: print(risk, sql)
        """
        from ..sync.plan import plan_schema

        return await plan_schema(self)

    async def push(self, accept_data_loss: bool = False) -> SyncPlan:
        """Bring the database to the collections; returns the applied ``SyncPlan``.

        A plan that rows already stored would make fail (NULLs for a required field,
        duplicates for a unique one, ...) raises ``DataConflictError`` before anything
        runs. A plan with a destructive statement raises ``DataLossError`` and applies
        nothing unless ``accept_data_loss=True``; a statement the database rejects raises
        ``SchemaSyncError`` (rolled back on PostgreSQL and SQLite). See docs/sync.md.

        >>> # plan = await db.push()
        >>> # plan.created_tables  -> ['users', 'posts', ...] on a fresh database
        """
        from ..sync.plan import push_schema

        await self.connect()  # a sqlite://:memory: database lives while the pool is open
        return await push_schema(self, accept_data_loss=accept_data_loss)


class Transaction(_Collections):
    """The view of a database inside ``async with db.transaction() as tx``."""

    def __init__(self, db: Database, conn: Connection) -> None:
        self._db = db
        self._conn = conn
        self._apis = {slug: CollectionAPI(s, self) for slug, s in db._statements.items()}
        self.query = QueryNamespace(db._engine, self)

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Connection]:
        """The transaction's own connection (internal)."""
        yield self._conn

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[Connection]:
        """Already atomic: the enclosing transaction (internal)."""
        yield self._conn
