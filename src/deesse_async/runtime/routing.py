"""Read replicas: which server serves a read (``define_config(replicas=[...])``).

The rule, in one place (``ReadRouter.reading``):

- writes and transactions always use the primary (database.py never asks us);
- ``db.primary()`` reads the primary; ``db.replica()`` reads any healthy replica,
  however stale (the primary when none is);
- any other read goes to a replica only when it cannot show the caller stale data of
  its own: after a write in the same context (the asyncio task: a request), only to a
  replica that has replayed that write.

"Has replayed that write" costs the read path no round trip. A poller task (one per
database, in its lifetime) reads, every ``interval`` seconds, the primary's write
position, then each replica's replayed position. Positions only grow, so a replica
whose replayed position is at least the one the primary reported at a poll that
*began* at time ``t`` holds every write committed before ``t``: that ``t`` is the
replica's ``as_of``. A write records the time it finished in a context variable; a
replica serves the context's reads once its ``as_of`` is later. So, right after a
write, the context reads the primary for about one poll interval (plus the replay
delay), then the replicas again. Drizzle sent reads inside transactions to replicas
(drizzle-orm#6234) and then read the primary unless told otherwise (#6279).

The lag is time, not bytes: ``now - as_of``, how old the newest state the replica is
known to hold may be. A standby of an idle primary is not lagging, however long since
its last replay; bytes say nothing about how stale the data looks to a user.

A replica that is down, is not a standby, or lags more than ``max_replica_lag`` is
skipped with one log line (logger ``deesse_async.replicas``) when that happens and one
when it is back, never one per query. A read on a replica whose connection is lost
(the standby just went down) is re-run on the primary: a read outside a transaction
holds nothing that another server cannot answer.

So is a read the standby cancels because replaying the primary's WAL needed what it
held ("canceling statement due to conflict with recovery": a replayed lock, a vacuum
removing rows its snapshot still sees) once ``max_standby_streaming_delay`` ran out.
PostgreSQL reports that as SQLSTATE 40001 or 40P01, the codes of a serialization
failure and a deadlock; a read outside a transaction on a read-only standby can meet
neither any other way. The replica stays up (it is healthy: the statement lost a race
with the replay); ``ReplicaStatus.conflicts`` counts such reads, and the log says so at
most once a minute per replica.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import AsyncGenerator, Sequence
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Literal

from .._types import DriverRow
from ..dialects import Dialect
from ..drivers import Connection, ConstraintNames, ExecResult, Pool, PoolOptions, create_pool
from ..drivers.url import DatabaseURL
from ..errors import ConnectionError, DeesseError, TransactionConflict

__all__ = ["ReadMode", "ReadRouter", "ReadRouting", "ReplicaStatus", "wrote"]

logger = logging.getLogger("deesse_async.replicas")

ReadMode = Literal["auto", "primary", "replica"]
"""How a view reads: by the rule above, always the primary, or any healthy replica."""

State = Literal["starting", "up", "down", "lagging", "not a standby"]

# When this context's last write finished (time.monotonic()); -inf: it wrote nothing.
_LAST_WRITE: ContextVar[float] = ContextVar("deesse_async_last_write", default=-math.inf)
_HISTORY = 4096  # primary positions kept (at 0.1 s a poll: about 7 minutes)
# SQLSTATEs of "canceling statement due to conflict with recovery" on a hot standby
# (serialization_failure; deadlock_detected for a buffer-pin deadlock with the replay).
_RECOVERY_CONFLICTS = ("40001", "40P01")
_CONFLICT_LOG_EVERY = 60.0  # seconds between two log lines about one replica's conflicts


def wrote() -> None:
    """Record that the current context has just written (a commit finished)."""
    _LAST_WRITE.set(time.monotonic())


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    """One replica as the router sees it (``db.read_routing()``)."""

    url: str  # password hidden
    state: State
    lag: float  # seconds (inf: unknown)
    reads: int  # reads it served since the database was opened
    detail: str  # why it is not "up"
    # Reads it started that a recovery conflict cancelled: re-run on the primary (counted
    # in ``ReadRouting.primary_reads``, not in ``reads``); the replica stays "up".
    conflicts: int = 0


@dataclass(frozen=True, slots=True)
class ReadRouting:
    """Where reads went since ``db.connect()``, and the replicas' health."""

    primary_reads: int
    replicas: tuple[ReplicaStatus, ...]


class _Replica:
    __slots__ = (
        "as_of",
        "conflicts",
        "conflicts_logged",
        "detail",
        "monitor",
        "pool",
        "reads",
        "state",
        "url",
    )

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self.pool: Pool | None = None  # reads
        self.monitor: Pool | None = None  # the poller's own connection
        self.state: State = "starting"
        self.detail = ""
        self.as_of = -math.inf  # holds every write committed before this monotonic time
        self.reads = 0
        self.conflicts = 0
        self.conflicts_logged = (-math.inf, 0)  # when the last line was logged, the count then


class ReadRouter:
    """The replicas of one database: their pools, the poller, and the routing rule."""

    def __init__(
        self,
        dialect: Dialect,
        primary_url: DatabaseURL,
        urls: Sequence[DatabaseURL],
        max_lag: float,
        options: PoolOptions,
        constraints: ConstraintNames,
    ) -> None:
        assert dialect.primary_position_sql and dialect.replica_position_sql
        self._primary_sql = dialect.primary_position_sql
        self._replica_sql = dialect.replica_position_sql
        self._primary_url = primary_url
        self._urls = list(urls)
        self.max_lag = max_lag
        # A lag is known to within one poll: poll often enough for the bound to mean
        # something, never more than 100 times a second.
        self.interval = max(0.01, min(0.1, max_lag / 4))
        self._options = options
        self._constraints = constraints
        self._replicas: list[_Replica] = []
        self._next = 0
        self._primary: Pool | None = None
        self._primary_monitor: Pool | None = None
        self._primary_down = False
        self._times: deque[float] = deque(maxlen=_HISTORY)  # poll start times ...
        self._positions: deque[int] = deque(maxlen=_HISTORY)  # ... and the primary's position
        self._task: asyncio.Task[None] | None = None
        self._started = 0.0
        self.primary_reads = 0

    # -- lifetime ------------------------------------------------------------------

    async def start(self, primary: Pool) -> None:
        """Open the replicas' pools (lazily: a replica that is down fails nothing) and
        start the poller; the first polls run before this returns."""
        self._primary = primary
        self._started = time.monotonic()
        self._replicas = [_Replica(url) for url in self._urls]
        lazy = replace(self._options, pool_min_size=0)
        single = PoolOptions(
            pool_size=1,
            pool_min_size=0,
            pool_timeout=self._options.pool_timeout,
            connect_timeout=min(self._options.connect_timeout, 5.0),
            statement_cache_size=0,
        )
        self._primary_monitor = await create_pool(self._primary_url, single, {})
        for r in self._replicas:
            r.pool = await create_pool(r.url, lazy, self._constraints)
            r.monitor = await create_pool(r.url, single, {})
        await self._poll()
        # A standby a little behind the first position read has no history to be placed
        # in yet: a few more polls (a second at most) and the app starts with its
        # healthy replicas in use, not on the primary alone.
        deadline = time.monotonic() + min(1.0, self.max_lag)
        while any(r.state == "starting" for r in self._replicas) and time.monotonic() < deadline:
            await asyncio.sleep(self.interval)
            await self._poll()
        self._task = asyncio.get_running_loop().create_task(
            self._poll_forever(), name="deesse_async replica poller"
        )

    async def stop(self) -> None:
        """Stop the poller and close the replicas' pools (raises only the caller's own
        cancellation)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # wait(), not ``await task``: a cancellation of the caller must propagate,
            # not be mistaken for the poller's own and swallowed.
            await asyncio.wait({task})
        pools = [self._primary_monitor] + [p for r in self._replicas for p in (r.pool, r.monitor)]
        self._primary_monitor = None
        for pool in pools:
            if pool is not None:
                with contextlib.suppress(DeesseError, OSError):
                    await pool.close()
        self._replicas = []

    # -- polling -------------------------------------------------------------------

    async def _poll_forever(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self._poll()
            except Exception:  # a bug must not stop routing: log it, go on polling
                logger.exception("deesse_async: the replica poller failed")
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    async def _poll(self) -> None:
        started = time.monotonic()
        try:
            position = await self._position(self._primary_monitor, self._primary_sql)
        except (DeesseError, TimeoutError) as exc:
            if not self._primary_down:
                logger.warning("deesse_async: cannot read the primary's position (%s)", exc)
            self._primary_down = True
        else:
            self._primary_down = False
            if not self._positions or position >= self._positions[-1]:
                self._times.append(started)
                self._positions.append(position)
        await asyncio.gather(*(self._poll_replica(r) for r in self._replicas))

    async def _position(self, pool: Pool | None, sql: str) -> Any:
        assert pool is not None
        async with asyncio.timeout(max(2.0, 10 * self.interval)):
            async with pool.acquire() as conn:
                rows = await conn.fetch(sql)
        return rows[0][0] if len(rows[0]) == 1 else tuple(rows[0])

    async def _poll_replica(self, r: _Replica) -> None:
        try:
            in_recovery, replayed = await self._position(r.monitor, self._replica_sql)
        except (DeesseError, TimeoutError) as exc:
            self._set_state(r, "down", str(exc) or type(exc).__name__)
            return
        if not in_recovery or replayed is None:
            self._set_state(r, "not a standby", "pg_is_in_recovery() is false")
            return
        # The newest poll whose primary position this replica has replayed.
        i = bisect.bisect_right(self._positions, replayed)
        r.as_of = self._times[i - 1] if i else -math.inf
        now = time.monotonic()
        lag = now - r.as_of
        if lag > self.max_lag and r.state == "starting" and now - self._started < self.max_lag:
            return  # no history yet to place it in: not used, not reported as lagging
        if lag > self.max_lag:
            self._set_state(r, "lagging", f"{lag:.1f} s behind, max_replica_lag={self.max_lag}")
        else:
            self._set_state(r, "up", "")

    def _set_state(self, r: _Replica, state: State, detail: str) -> None:
        r.detail = detail
        if state == r.state:
            return
        before, r.state = r.state, state
        name = r.url.display
        if state == "up":
            if before != "starting":
                logger.warning("deesse_async: replica %s is back: reads use it again", name)
        else:
            logger.warning(
                "deesse_async: replica %s is %s (%s): reads skip it until it is healthy",
                name,
                state,
                detail,
            )

    def lost(self, r: _Replica, exc: DeesseError) -> None:
        """A read found the replica's connection gone: down until a poll says otherwise."""
        self._set_state(r, "down", str(exc))

    def conflicted(self, r: _Replica, exc: DeesseError) -> None:
        """The standby cancelled a read to replay the WAL: counted, logged at most once
        a minute; the replica stays in use (one statement lost a race, nothing is down)."""
        r.conflicts += 1
        now = time.monotonic()
        at, count = r.conflicts_logged
        if now - at < _CONFLICT_LOG_EVERY:
            return
        r.conflicts_logged = (now, r.conflicts)
        logger.warning(
            "deesse_async: replica %s cancelled a read on a conflict with recovery (%s); "
            "re-run on the primary (%d such read(s) since the last line). Frequent: raise "
            "max_standby_streaming_delay on the standby, or turn on hot_standby_feedback",
            r.url.display,
            " ".join(str(exc.__cause__ or exc).split()),  # the server's words, one line
            r.conflicts - count,
        )

    # -- routing -------------------------------------------------------------------

    def choose(self, mode: ReadMode) -> _Replica | None:
        """The replica to read from, or ``None`` for the primary. No I/O."""
        if mode == "primary":
            return None
        since = -math.inf if mode == "replica" else _LAST_WRITE.get()
        oldest = time.monotonic() - self.max_lag
        replicas = self._replicas
        n = len(replicas)
        for k in range(n):
            r = replicas[(self._next + k) % n]
            if r.state == "up" and r.as_of > since and r.as_of >= oldest:
                self._next = (self._next + k + 1) % n
                return r
        return None

    def reading(self, mode: ReadMode) -> AbstractAsyncContextManager[Connection]:
        """A connection for a read: a replica's when the rule allows, else the primary's
        (then exactly what a database without replicas does: no wrapper)."""
        primary = self._primary
        assert primary is not None
        r = self.choose(mode)
        if r is None:
            self.primary_reads += 1
            return primary.acquire()
        return _ReplicaRead(self, r, primary)

    def status(self) -> ReadRouting:
        """A snapshot for ``db.read_routing()``."""
        now = time.monotonic()
        return ReadRouting(
            self.primary_reads,
            tuple(
                ReplicaStatus(r.url.display, r.state, now - r.as_of, r.reads, r.detail, r.conflicts)
                for r in self._replicas
            ),
        )


class _ReplicaRead:
    """``async with`` a replica's connection (``_Failover``); the primary's when the
    replica cannot be reached. A class, not a generator: it is on every routed read."""

    __slots__ = ("_borrows", "_primary", "_replica", "_router")

    def __init__(self, router: ReadRouter, r: _Replica, primary: Pool) -> None:
        self._router = router
        self._replica = r
        self._primary = primary
        self._borrows: list[AbstractAsyncContextManager[Connection]] = []

    async def __aenter__(self) -> Connection:
        r = self._replica
        assert r.pool is not None
        borrow = r.pool.acquire()
        try:
            conn = await borrow.__aenter__()
        except ConnectionError as exc:
            self._router.lost(r, exc)
            self._router.primary_reads += 1
            return await self.borrow_primary()
        self._borrows.append(borrow)
        r.reads += 1
        return _Failover(self._router, r, conn, self)

    async def borrow_primary(self) -> Connection:
        borrow = self._primary.acquire()
        conn = await borrow.__aenter__()
        self._borrows.append(borrow)
        return conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        borrows = self._borrows
        try:
            if len(borrows) > 1:  # the primary's, after a failover
                await borrows[1].__aexit__(exc_type, exc, tb)
        finally:
            await borrows[0].__aexit__(exc_type, exc, tb)


class _Failover(Connection):
    """A replica's connection that re-runs a statement on the primary when the
    replica's connection is lost or the standby cancels it on a recovery conflict;
    every later statement of the read goes there too. Reads run no transaction here:
    re-running a statement elsewhere is always safe."""

    def __init__(
        self, router: ReadRouter, r: _Replica, conn: Connection, read: _ReplicaRead
    ) -> None:
        self._router = router
        self._replica = r
        self._conn = conn
        self._read = read
        self._moved = False
        self.codecs = conn.codecs

    @property
    def broken(self) -> bool:
        return self._conn.broken

    @broken.setter
    def broken(self, value: bool) -> None:
        self._conn.broken = value

    @property
    def server_cursors(self) -> bool:  # type: ignore[override]
        return self._conn.server_cursors

    @property
    def pooled(self) -> bool:  # type: ignore[override]
        return self._conn.pooled

    replica = True  # a long cursor here meets recovery conflicts: streams read keyset chunks

    def cursor(
        self, sql: str, params: Sequence[Any], size: int
    ) -> AsyncGenerator[Sequence[DriverRow], None]:
        # No failover once rows are handed out: a lost replica ends the stream.
        return self._conn.cursor(sql, params, size)

    async def _move(self, exc: DeesseError) -> None:
        if self._moved:
            raise exc
        if isinstance(exc, ConnectionError):
            self._router.lost(self._replica, exc)
        elif isinstance(exc, TransactionConflict) and exc.code in _RECOVERY_CONFLICTS:
            self._router.conflicted(self._replica, exc)
        else:  # a lock timeout: the primary may hold the same lock
            raise exc
        self._replica.reads -= 1
        self._router.primary_reads += 1
        self._conn = await self._read.borrow_primary()
        self._moved = True

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> Sequence[DriverRow]:
        try:
            return await self._conn.fetch(sql, params)
        except (ConnectionError, TransactionConflict) as exc:
            await self._move(exc)
        return await self._conn.fetch(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> ExecResult:
        try:
            return await self._conn.execute(sql, params)
        except (ConnectionError, TransactionConflict) as exc:
            await self._move(exc)
        return await self._conn.execute(sql, params)

    async def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        try:
            await self._conn.executemany(sql, params)
        except (ConnectionError, TransactionConflict) as exc:
            await self._move(exc)
            await self._conn.executemany(sql, params)

    async def begin(self) -> None:  # pragma: no cover - reads never open a transaction
        await self._conn.begin()

    async def commit(self) -> None:  # pragma: no cover
        await self._conn.commit()

    async def rollback(self) -> None:  # pragma: no cover
        await self._conn.rollback()
