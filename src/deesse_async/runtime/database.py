"""``BaseDatabase``: the pool, CRUD per collection (``db.<slug>``), queries, transactions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.lowlevel
import sqlalchemy as sa

from .._types import ManageRule
from ..compile.schema import Schema
from ..dialects import DIALECTS, Dialect
from ..dialects.base import Isolation, isolation_level
from ..drivers import Connection, Pool, PoolOptions, codecs_for, create_pool
from ..drivers.base import shielded, stored
from ..drivers.url import DatabaseURL
from ..errors import ConfigError, ConnectionError, DeesseError, did_you_mean
from ..query.access import ANONYMOUS, TRUSTED, Actor, run_callbacks
from ..query.api import QueryNamespace
from ..query.planner import QueryPlanner
from .crud import CollectionAPI
from .crud_statements import CollectionStatements
from .retries import check_retries, retrying

if TYPE_CHECKING:
    from typing import Self


__all__ = ["BaseDatabase", "DatabaseView", "Transaction"]

T = TypeVar("T")


_COMMITTED = (
    "deesse_async: the transaction had been committed when this cancellation arrived "
    "(it arrived after COMMIT was sent); its writes are stored"
)


@asynccontextmanager
async def _in_transaction(pool: Pool, begin: Sequence[str] = ()) -> AsyncIterator[Connection]:
    """A pooled connection inside BEGIN ... COMMIT; the cancellation rule of
    docs/reliability.md ("What cancellation means") is kept here. ``begin``: the
    statements that open it (an isolation level), else the driver's own BEGIN.

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
                await _begin(conn, begin)
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


async def _begin(conn: Connection, statements: Sequence[str]) -> None:
    if not statements:
        await conn.begin()
    for sql in statements:
        await conn.execute(sql)


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


class _View:
    """What every view of a database shares: ``view.<slug>`` CRUD, ``view.query``,
    ``with_user``/``trusted``, and the actor its access rules see.

    Views: the database itself (an anonymous visitor), ``db.with_user(user)``,
    ``db.trusted()``, and transactions. CRUD objects are built on first use per view.
    """

    _db: BaseDatabase
    _actor: Actor
    _transactional = False  # Transaction: True

    def __getattr__(self, name: str) -> CollectionAPI:
        db: BaseDatabase | None = self.__dict__.get("_db")
        statements = db.__dict__.get("_statements") if db is not None else None
        if statements is not None and name in statements:
            api = CollectionAPI(statements[name], self)  # type: ignore[arg-type]
            self.__dict__[name] = api  # the next db.<slug> is a plain attribute
            return api
        hint = did_you_mean(name, list(statements or ()))
        raise AttributeError(f"{type(self).__name__} has no collection {name!r}{hint}")

    def collection(self, slug: str) -> CollectionAPI:
        """CRUD for ``slug`` (the same object as ``db.<slug>``)."""
        api: CollectionAPI = getattr(self, slug)
        return api

    @property
    def user(self) -> Any:
        """The user this view's access rules see (``None``: anonymous or trusted)."""
        return self._actor.user

    def with_user(self, user: Any) -> Self:
        """This view as ``user``: access rules run with ``ctx.user = user``.

        >>> # async def view(user = Depends(current_user)): return db.with_user(user)
        """
        return self._as_actor(Actor(user=user))

    def trusted(self) -> Self:
        """This view with no access rules (seeding, admin jobs, background workers);
        hooks still run. The one bypass: explicit and easy to grep for."""
        return self._as_actor(TRUSTED)

    def _as_actor(self, actor: Actor) -> Self:
        raise NotImplementedError  # pragma: no cover

    def _who(self) -> str:
        return "trusted" if self._actor.trusted else f"user={self._actor.user!r}"

    async def _settle(self, callbacks: list[Callable[[], Any]]) -> None:
        """``ctx.on_commit`` callbacks of an operation outside a transaction: run now."""
        if callbacks:
            await run_callbacks(callbacks)

    async def run_in_transaction(
        self,
        fn: Callable[[Transaction], Awaitable[T]],
        retries: int = 3,
        isolation: Isolation | None = "serializable",
    ) -> T:
        """``await fn(tx)`` in a transaction, re-run on a conflict with a concurrent one.

        A serialization failure, a deadlock or a lock timeout (``TransactionConflict``)
        rolls the attempt back and runs ``fn`` again in a new transaction, at most
        ``retries`` more times, after a short jittered backoff; the last conflict
        propagates. Any other exception propagates at once. ``ctx.on_commit`` callbacks
        run once, after the attempt that committed. Returns what ``fn`` returned.
        ``fn`` may run several times: keep side effects out of it (use on_commit).

        >>> # async def transfer(tx): ...
        >>> # await db.with_user(u).run_in_transaction(transfer, retries=5)
        """
        begin = self._db._begin_statements(isolation)
        retries = check_retries(retries)
        db, actor = self._db, self._actor
        what = f"run_in_transaction({getattr(fn, '__qualname__', repr(fn))})"
        result, callbacks = await retrying(lambda: _attempt(db, actor, begin, fn), retries, what)
        await _after_commit(callbacks)
        return result


class BaseDatabase(_View):
    """A database's pool, CRUD and queries: ``async with db:`` opens the pool.

    As a view it is an anonymous visitor: access rules run with ``ctx.user = None``
    (``db.with_user(user)`` and ``db.trusted()`` are the other views).

    The public ``Database`` (database.py) adds schema sync and the ASGI lifespan on top;
    the schema sync works against this class, so it never imports the layers above it.
    """

    manage: ManageRule | None = None  # define_config(manage=...): sync/registry.py reads it
    _actor = ANONYMOUS

    def __init__(self, schema: Schema, url: DatabaseURL, options: PoolOptions) -> None:
        self._db = self
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
        self.query = QueryNamespace(self._planner, self)

    def __repr__(self) -> str:
        state = "open" if self._pool is not None else "closed"
        return (
            f"<{type(self).__name__} {self.url.display} {state} "
            f"collections={list(self._statements)}>"
        )

    def _as_actor(self, actor: Actor) -> Any:
        return DatabaseView(self, actor)

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

    def _begin_statements(self, isolation: object) -> tuple[str, ...]:
        """What opens a transaction at ``isolation`` (checked; ``()``: the default)."""
        level = isolation_level(isolation)
        return self.dialect.begin_isolated(level) if level is not None else ()

    def _require_pool(self) -> Pool:
        if self._pool is None:
            raise ConnectionError(
                f"database {self.url.display} is not connected: use `async with db:` "
                "or `await db.connect()` first (or db.lifespan() in an ASGI app)"
            )
        return self._pool

    # Executor protocol (used by CollectionAPI and queries)
    def acquire(self) -> Any:
        """Borrow a pooled connection (internal; CRUD uses it)."""
        return self._require_pool().acquire()

    def atomic(self, several_writes: bool = False) -> AbstractAsyncContextManager[Transaction]:
        """A new transaction (internal; CRUD uses it)."""
        return _root_transaction(self, self._actor)

    def transaction(
        self, isolation: Isolation | None = None
    ) -> AbstractAsyncContextManager[Transaction]:
        """Run several operations atomically; an exception rolls all of them back.

        ``tx.transaction()`` inside it is a savepoint: its failure rolls back only its
        own work. The transaction keeps this view's user (``db.with_user(u).transaction()``).
        ``isolation``: "serializable", "repeatable_read", "read_committed" or
        "read_uncommitted" (None: the database's default); see docs/runtime.md.

        >>> # async with db.transaction() as tx:
        >>> #     user = await tx.users.create({...})
        >>> #     await tx.posts.create({"author_id": user["id"], ...})
        """
        return _root_transaction(self, self._actor, self._begin_statements(isolation))


class DatabaseView(_View):
    """The database seen by one caller: ``db.with_user(user)`` or ``db.trusted()``.

    The same API as the database (``.query``, ``.<slug>`` CRUD, ``.transaction()``),
    sharing its pool and compiled plans; cheap to make per request.
    """

    def __init__(self, db: BaseDatabase, actor: Actor) -> None:
        self._db = db
        self._actor = actor
        self.query = QueryNamespace(db._planner, self)

    def __repr__(self) -> str:
        return f"<DatabaseView {self._db.url.display} {self._who()}>"

    def _as_actor(self, actor: Actor) -> Any:
        return DatabaseView(self._db, actor)

    def acquire(self) -> Any:
        """Borrow a pooled connection (internal)."""
        return self._db._require_pool().acquire()

    def atomic(self, several_writes: bool = False) -> AbstractAsyncContextManager[Transaction]:
        """A new transaction (internal)."""
        return _root_transaction(self._db, self._actor)

    def transaction(
        self, isolation: Isolation | None = None
    ) -> AbstractAsyncContextManager[Transaction]:
        """A transaction seen by this view's caller (as ``db.transaction()``)."""
        db = self._db
        return _root_transaction(db, self._actor, db._begin_statements(isolation))


@dataclass(eq=False)
class _TxState:
    """One transaction or savepoint: its connection and pending ``on_commit`` callbacks,
    shared by every view of it (``tx``, ``tx.with_user(u)``, a hook's ``ctx.db``)."""

    conn: Connection
    depth: int
    callbacks: list[Callable[[], Any]] = field(default_factory=list)
    ended: bool = False


@asynccontextmanager
async def _root_transaction(
    db: BaseDatabase, actor: Actor, begin: Sequence[str] = ()
) -> AsyncIterator[Transaction]:
    """BEGIN ... COMMIT; the ``on_commit`` callbacks run after the commit, never after a
    rollback."""
    async with _in_transaction(db._require_pool(), begin) as conn:
        state = _TxState(conn, 0)
        try:
            yield Transaction(db, state, actor)
        finally:
            state.ended = True
    await _after_commit(state.callbacks)


async def _attempt(
    db: BaseDatabase,
    actor: Actor,
    begin: Sequence[str],
    fn: Callable[[Transaction], Awaitable[T]],
) -> tuple[T, list[Callable[[], Any]]]:
    """One run of ``fn`` in a transaction of its own (``run_in_transaction``). Its
    ``on_commit`` callbacks are returned, not run: only those of the attempt that
    committed run, once, and only after the retrying is over (a callback's own error is
    never taken for a conflict of the transaction's)."""
    async with _in_transaction(db._require_pool(), begin) as conn:
        state = _TxState(conn, 0)
        try:
            result = await fn(Transaction(db, state, actor))
        finally:
            state.ended = True
    return result, state.callbacks


async def _after_commit(callbacks: list[Callable[[], Any]]) -> None:
    if callbacks:
        try:
            await run_callbacks(callbacks)
        except asyncio.CancelledError as exc:  # the commit stands: say so
            exc.add_note(_COMMITTED)
            raise


class Transaction(_View):
    """The view of a database inside ``async with db.transaction() as tx``."""

    _transactional = True

    def __init__(self, db: BaseDatabase, state: _TxState, actor: Actor = ANONYMOUS) -> None:
        self._db = db
        self._state = state
        self._actor = actor
        self.query = QueryNamespace(db._planner, self)

    def __repr__(self) -> str:
        return f"<Transaction depth={self._state.depth} {self._who()}>"

    def _as_actor(self, actor: Actor) -> Any:
        return Transaction(self._db, self._state, actor)

    def _connection(self) -> Connection:
        if self._state.ended:
            raise ConnectionError(
                "this transaction has ended (its `async with` block is over): use the "
                "database, or open a new transaction"
            )
        return self._state.conn

    async def _settle(self, callbacks: list[Callable[[], Any]]) -> None:
        """``ctx.on_commit`` callbacks wait for the outermost commit."""
        self._state.callbacks.extend(callbacks)

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Connection]:
        """The transaction's own connection (internal)."""
        yield self._connection()

    @asynccontextmanager
    async def atomic(self, several_writes: bool = False) -> AsyncIterator[Transaction]:
        """The enclosing transaction (internal); an operation that writes several times
        runs in a savepoint, so that when it fails half-way (and the caller catches the
        error and commits) none of it is committed."""
        if not several_writes:
            yield self
            return
        async with self._savepoint() as inner:
            yield inner

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[Transaction]:
        depth = self._state.depth + 1
        async with _savepoint(self._connection(), depth) as conn:
            state = _TxState(conn, depth)
            try:
                yield Transaction(self._db, state, self._actor)
            finally:
                state.ended = True
        # Released: its callbacks now wait for the enclosing transaction's commit.
        self._state.callbacks.extend(state.callbacks)

    def transaction(
        self, isolation: Isolation | None = None
    ) -> AbstractAsyncContextManager[Transaction]:
        """A savepoint inside this transaction: an exception (or a cancellation) in the
        block rolls back the block's work only (and drops its ``on_commit`` callbacks),
        then propagates; the enclosing transaction goes on and decides for everything.
        A savepoint has the enclosing transaction's isolation: ``isolation`` is refused.

        >>> # async with db.transaction() as tx:
        >>> #     await tx.tags.create({"name": "a"})
        >>> #     try:
        >>> #         async with tx.transaction() as attempt:
        >>> #             await attempt.tags.create({"name": "a"})  # UniqueViolation
        >>> #     except UniqueViolation:
        >>> #         ...  # tx is still usable, "a" is still there
        """
        if isolation is not None:
            raise ConfigError(
                f"tx.transaction(isolation={isolation!r}): a savepoint runs at the isolation "
                "level of the transaction it is in; set it on the outermost one, "
                f"db.transaction(isolation={isolation!r})"
            )
        return self._savepoint()

    async def run_in_transaction(
        self,
        fn: Callable[[Transaction], Awaitable[T]],
        retries: int = 3,
        isolation: Isolation | None = "serializable",
    ) -> T:
        """Refused: a conflict aborts the whole enclosing transaction, so only the
        outermost transaction can be re-run (``db.run_in_transaction`` around it all)."""
        raise ConfigError(
            "run_in_transaction inside a transaction: a serialization failure or deadlock "
            "aborts the whole enclosing transaction, so only the outermost one can be re-run. "
            "Call db.run_in_transaction(fn) (or on db.with_user(u) / db.trusted()) around the "
            "whole unit of work; inside a transaction, tx.transaction() is a savepoint"
        )
