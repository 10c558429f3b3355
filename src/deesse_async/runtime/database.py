"""``BaseDatabase``: the pool, CRUD per collection (``db.<slug>``), queries, transactions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio.lowlevel
import sqlalchemy as sa

from .._types import ManageRule
from ..compile.schema import Schema
from ..dialects import DIALECTS, Dialect
from ..drivers import Connection, Pool, PoolOptions, codecs_for, create_pool
from ..drivers.base import shielded, stored
from ..drivers.url import DatabaseURL
from ..errors import ConnectionError, DeesseError, did_you_mean
from ..query.api import QueryNamespace
from ..query.planner import QueryPlanner
from .crud import CollectionAPI
from .crud_statements import CollectionStatements

if TYPE_CHECKING:
    from typing import Self


__all__ = ["BaseDatabase", "Transaction"]


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


@asynccontextmanager
async def _savepoint(conn: Connection, depth: int) -> AsyncIterator[Connection]:
    """``conn`` inside ``SAVEPOINT``: released at the end, rolled back to on an error or
    a cancellation (which then propagates)."""
    name = f"deesse_sp_{depth}"
    await conn.execute(f"SAVEPOINT {name}")
    try:
        yield conn
        await anyio.lowlevel.checkpoint()  # a cancellation of the block's end lands here
    except BaseException as exc:
        await _roll_back_to(conn, name, exc)
        raise
    await shielded(conn.execute(f"RELEASE SAVEPOINT {name}"))


async def _roll_back_to(conn: Connection, savepoint: str, error: BaseException) -> None:
    """Undo a savepoint's work after ``error``, never replacing ``error`` with its own."""
    if conn.broken:
        return  # the whole transaction goes with the connection
    try:
        await shielded(conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint}"))
        await shielded(conn.execute(f"RELEASE SAVEPOINT {savepoint}"))
    except DeesseError as failed:
        conn.broken = True
        error.add_note(f"deesse_async: rolling back to the savepoint failed as well ({failed})")


class _Collections:
    """``obj.<slug>`` access shared by ``BaseDatabase`` and ``Transaction``."""

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


class BaseDatabase(_Collections):
    """A database's pool, CRUD and queries: ``async with db:`` opens the pool.

    The public ``Database`` (database.py) adds schema sync and the ASGI lifespan on top;
    the schema sync works against this class, so it never imports the layers above it.
    """

    manage: ManageRule | None = None  # define_config(manage=...): sync/registry.py reads it

    def __init__(self, schema: Schema, url: DatabaseURL, options: PoolOptions) -> None:
        self.schema = schema
        self.url = url
        self.dialect: Dialect = DIALECTS[url.backend]
        self._options = options
        self._pool: Pool | None = None
        codecs = codecs_for(url.backend)
        self._planner = QueryPlanner(schema, self.dialect, codecs)
        self._statements = {
            slug: CollectionStatements(cc, self._planner) for slug, cc in schema.collections.items()
        }
        self._apis = {slug: CollectionAPI(s, self) for slug, s in self._statements.items()}
        self.query = QueryNamespace(self._planner, self)

    def __repr__(self) -> str:
        state = "open" if self._pool is not None else "closed"
        return f"<{type(self).__name__} {self.url.display} {state} collections={list(self._apis)}>"

    @property
    def metadata(self) -> sa.MetaData:
        """The SQLAlchemy ``MetaData`` holding every compiled table."""
        return self.schema.metadata

    @property
    def is_connected(self) -> bool:
        """Whether the pool is open."""
        return self._pool is not None

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
    async def atomic(self, several_writes: bool = False) -> AsyncIterator[Connection]:
        """A pooled connection inside a transaction (internal; CRUD uses it)."""
        async with _in_transaction(self._require_pool()) as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Run several operations atomically; an exception rolls all of them back.

        ``tx.transaction()`` inside it is a savepoint: its failure rolls back only its
        own work.

        >>> # async with db.transaction() as tx:
        >>> #     user = await tx.users.create({...})
        >>> #     await tx.posts.create({"author_id": user["id"], ...})
        """
        async with self.atomic() as conn:
            tx = Transaction(self, conn)
            try:
                yield tx
            finally:
                tx._ended = True


class Transaction(_Collections):
    """The view of a database inside ``async with db.transaction() as tx``."""

    def __init__(self, db: BaseDatabase, conn: Connection, depth: int = 0) -> None:
        self._db = db
        self._conn = conn
        self._depth = depth
        self._ended = False
        self._apis = {slug: CollectionAPI(s, self) for slug, s in db._statements.items()}
        self.query = QueryNamespace(db._planner, self)

    def _connection(self) -> Connection:
        if self._ended:
            raise ConnectionError(
                "this transaction has ended (its `async with` block is over): use the "
                "database, or open a new transaction"
            )
        return self._conn

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Connection]:
        """The transaction's own connection (internal)."""
        yield self._connection()

    @asynccontextmanager
    async def atomic(self, several_writes: bool = False) -> AsyncIterator[Connection]:
        """The enclosing transaction (internal); an operation that writes several times
        runs in a savepoint, so that when it fails half-way (and the caller catches the
        error and commits) none of it is committed."""
        if not several_writes:
            yield self._connection()
            return
        async with _savepoint(self._connection(), self._depth + 1) as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A savepoint inside this transaction: an exception (or a cancellation) in the
        block rolls back the block's work only, then propagates; the enclosing
        transaction goes on and decides for everything.

        >>> # async with db.transaction() as tx:
        >>> #     await tx.tags.create({"name": "a"})
        >>> #     try:
        >>> #         async with tx.transaction() as attempt:
        >>> #             await attempt.tags.create({"name": "a"})  # UniqueViolation
        >>> #     except UniqueViolation:
        >>> #         ...  # tx is still usable, "a" is still there
        """
        async with _savepoint(self._connection(), self._depth + 1) as conn:
            inner = Transaction(self._db, conn, self._depth + 1)
            try:
                yield inner
            finally:
                inner._ended = True
