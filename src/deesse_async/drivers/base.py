"""The driver boundary: a connection runs SQL text with positional parameters.

Each adapter (asyncpg, aiosqlite, asyncmy) implements ``Connection`` and ``Pool``,
converts values with its ``Codecs`` and translates its exceptions into the
``deesse_async`` error tree in exactly one place: its ``translate`` function (the
SQLSTATE / errno tables), applied by one ``DriverErrors`` boundary around every driver
call (statements, borrowing from the pool, opening it).
"""

from __future__ import annotations

import asyncio
import decimal
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple, TypeVar

import anyio
import anyio.lowlevel

from .._types import DriverRow
from ..compile.schema import Kind
from ..errors import (
    CheckViolation,
    ConnectionError,
    DatabaseError,
    DeadlockDetected,
    DeesseError,
    ForeignKeyViolation,
    IntegrityError,
    LockTimeout,
    NotNullViolation,
    SerializationFailure,
    TransactionConflict,
    UniqueViolation,
)

__all__ = [
    "STORED",
    "Codecs",
    "Connection",
    "ConstraintNames",
    "DriverErrors",
    "ExecResult",
    "Pool",
    "PoolOptions",
    "Translate",
    "commits_itself",
    "conflict_error",
    "decode_decimal",
    "integrity_error",
    "shielded",
    "stored",
]

T = TypeVar("T")

Encoder = Callable[[Any], Any]
Decoder = Callable[[Any], Any] | None  # None: the driver's value is already right

ConstraintNames = dict[str, tuple[str, str]]
"""Constraint/index name -> (collection slug, field), from the compiled schema."""


class ExecResult(NamedTuple):
    """What a non-query statement reports."""

    rowcount: int
    lastrowid: int | None


def decode_decimal(value: Any) -> decimal.Decimal:
    """A value of an extra typed ``sa.Numeric`` -> ``Decimal``, digits kept.

    The driver's ``Decimal`` as it is; the text of a number (the lateral strategy's JSON
    carries decimals as text) exactly; a float (a database that computed a double
    although SQLAlchemy typed the expression Numeric) by its shortest repr.
    """
    if type(value) is decimal.Decimal:
        return value
    try:
        return decimal.Decimal(repr(value) if type(value) is float else value)
    except decimal.InvalidOperation:  # an ArithmeticError: run_plan reports ValueError
        raise ValueError(f"{value!r} is not a decimal number") from None


@dataclass(frozen=True, slots=True)
class Codecs:
    """Value conversion between Python and one driver, per column kind."""

    encoders: dict[Kind, Encoder]
    decoders: dict[Kind, Decoder]
    # Literals of no kind (a Decimal in RAW/extras) the driver cannot bind as they are.
    literals: dict[type, Encoder] = field(default_factory=dict)
    # Kinds whose value inside the lateral strategy's JSON this driver reads its own way,
    # over query/decode.py's JSON_DECODERS (SQLite: a decimal is the text of a double).
    json_decoders: dict[Kind, Decoder] = field(default_factory=dict)

    def encode(self, kind: Kind, value: Any) -> Any:
        """Python value -> driver parameter (``None`` stays ``None``)."""
        return None if value is None else self.encoders[kind](value)

    def encode_literal(self, value: Any) -> Any:
        """A literal of no kind (``Decimal``, ``bytes``) -> driver parameter."""
        encoder = self.literals.get(type(value))
        return value if encoder is None else encoder(value)

    def row_decoder(self, kinds: Sequence[Kind]) -> Callable[[DriverRow], list[Any]]:
        """A function turning one driver row into Python values, built once per shape."""
        steps = [(i, self.decoders[k]) for i, k in enumerate(kinds) if self.decoders[k]]
        if not steps:
            return list

        def decode(row: DriverRow) -> list[Any]:
            values = list(row)
            for i, fn in steps:
                v = values[i]
                if v is not None:
                    values[i] = fn(v)  # type: ignore[misc]
            return values

        return decode

    def dict_decoder(
        self, names: Sequence[str], kinds: Sequence[Kind | None]
    ) -> Callable[[DriverRow], dict[str, Any]]:
        """Driver row -> dict of the first ``len(names)`` values (later ones are ignored).

        ``kinds`` may hold ``None`` for values passed through as they are (extras).
        """
        decoders = [self.decoders[k] if k else None for k in kinds]
        return row_builder(names, decoders)


def row_builder(
    names: Sequence[str], decoders: Sequence[Callable[[Any], Any] | None]
) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """A function building ``{name: decoded value}`` from a positional row.

    Generated once per query shape as a dict display (``{"id": row[0], ...}``): about
    twice as fast per row as ``dict(zip(names, row))``, and rows are the hot loop. Only
    ``repr`` of the names enters the source, so no name can inject code.
    """
    namespace: dict[str, Any] = {}
    items = []
    for i, (name, fn) in enumerate(zip(names, decoders, strict=True)):
        if fn is None:
            items.append(f"{name!r}: row[{i}]")
        else:
            namespace[f"d{i}"] = fn
            items.append(f"{name!r}: (None if (v{i} := row[{i}]) is None else d{i}(v{i}))")
    source = "def build(row):\n    return {" + ", ".join(items) + "}\n"
    exec(compile(source, "<deesse row builder>", "exec"), namespace)
    build: Callable[[Sequence[Any]], dict[str, Any]] = namespace["build"]
    return build


@dataclass(frozen=True, slots=True)
class PoolOptions:
    """Pool settings from ``define_config(**options)``."""

    pool_size: int = 10
    pool_min_size: int = 1
    pool_timeout: float = 30.0
    connect_timeout: float = 10.0
    statement_cache_size: int = 1024


Translate = Callable[[BaseException], DeesseError | None]
"""An adapter's ``translate`` bound to its URL and constraint names."""


class DriverErrors:
    """An adapter's one error boundary: ``with conn.errors: await raw.fetch(...)``.

    In the manner of httpcore's ``map_exceptions``: every exception the driver raises
    leaves as a ``DeesseError`` (the adapter's ``translate`` decides which); one it does
    not know becomes a ``DatabaseError``. With a ``conn`` (statements), a lost
    connection, or an error nobody knows the effect of, marks it ``broken`` so the pool
    discards it instead of lending it out again; without one (borrowing from the pool,
    opening it) there is nothing to mark. Reusable and allocation-free: statements are
    the hot path.
    """

    __slots__ = ("_cancel_breaks", "_conn", "_driver", "_translate", "_unknown_breaks")

    def __init__(
        self,
        conn: Connection | None,
        driver: str,
        translate: Translate,
        *,
        unknown_breaks: bool = True,
        cancel_breaks: bool = False,
    ) -> None:
        self._conn = conn
        self._driver = driver
        self._translate = translate
        # aiosqlite finishes every call in its thread, so nothing it raises leaves the
        # connection in an unknown state; the network drivers can be mid-protocol.
        self._unknown_breaks = unknown_breaks
        # asyncpg resynchronises after a cancelled statement (a server-side cancel
        # request); asyncmy cannot, and a half-read or half-written packet is lost.
        self._cancel_breaks = cancel_breaks

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, DeesseError):
            return
        conn = self._conn
        if not isinstance(exc, Exception):  # cancellation: never wrapped
            if conn is not None and self._cancel_breaks and isinstance(exc, asyncio.CancelledError):
                conn.broken = True
            return
        error = self._translate(exc)
        if error is None:
            error = unexpected_error(self._driver, exc)
            if conn is not None:
                conn.broken = conn.broken or self._unknown_breaks
        elif conn is not None and isinstance(error, ConnectionError):
            conn.broken = True
        raise error from exc


def unexpected_error(driver: str, exc: BaseException) -> DatabaseError:
    """The ``DatabaseError`` for a driver exception no translation table knows."""
    return DatabaseError(f"{driver} failed unexpectedly ({type(exc).__name__}: {exc})")


class Connection(ABC):
    """One driver connection. Methods raise only ``DeesseError`` subclasses.

    ``broken`` is set when the connection's state is unknown (lost, or a cancelled
    operation left it mid-protocol): the pool then closes it instead of reusing it.
    """

    codecs: Codecs
    broken: bool
    # ``cursor`` works: the rows of one statement read a chunk at a time on the server.
    server_cursors: bool = False
    # Behind a transaction-mode pooler (each transaction may get another server).
    pooled: bool = False
    # A read replica's (runtime/routing.py).
    replica: bool = False

    @abstractmethod
    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> Sequence[DriverRow]:
        """Run a statement and return its rows."""

    def cursor(
        self, sql: str, params: Sequence[Any], size: int
    ) -> AsyncGenerator[Sequence[DriverRow], None]:
        """The rows of ``sql`` in chunks of ``size`` through a server-side cursor (only
        where ``server_cursors``): in this connection's open transaction, else in a
        read-only snapshot transaction of its own that ends with the iteration. Close
        the iterator (``contextlib.aclosing``) before giving the connection back."""
        raise NotImplementedError(f"{type(self).__name__} has no server-side cursors")

    @abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> ExecResult:
        """Run a statement that returns no rows."""

    @abstractmethod
    async def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each parameter tuple."""

    @abstractmethod
    async def begin(self) -> None:
        """Open a transaction."""

    @abstractmethod
    async def commit(self) -> None:
        """Commit the open transaction."""

    @abstractmethod
    async def rollback(self) -> None:
        """Roll the open transaction back (a no-op when none is open)."""


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE")
STORED = (
    "deesse_async: the write had been stored when this cancellation arrived (it arrived "
    "after the statement that commits it was sent)"
)


def commits_itself(sql: str, in_transaction: bool) -> bool:
    """Whether ``sql`` is a write that commits by itself (autocommit, no transaction).

    Such a statement is its own COMMIT, so it gets COMMIT's cancellation rule.
    """
    return not in_transaction and sql.startswith(_WRITES)


async def stored(operation: Awaitable[T], note: str = STORED) -> T:
    """``shielded(operation)`` for the statement that commits: a cancellation that
    arrives meanwhile is raised after it, carrying ``note`` when the commit succeeded,
    so a caller can tell "stored, then cancelled" from "cancelled, nothing stored"."""
    try:
        return await shielded(operation)
    except asyncio.CancelledError as exc:
        if exc.__cause__ is None:
            exc.add_note(note)
        raise


async def shielded(operation: Awaitable[T]) -> T:
    """Run ``operation`` to its end even if the caller is cancelled meanwhile.

    The cancellation is not lost: it is raised once the operation has finished (chained
    to the operation's error, if it failed). Used where stopping half-way would leave
    the database or the connection in an unknown state: COMMIT, ROLLBACK, returning a
    connection to its pool, and every aiosqlite call (its thread runs a queued statement
    whether or not anyone still waits for it).
    """
    task = asyncio.ensure_future(operation)
    cancelled = False
    # The anyio shield stops anyio scopes (Starlette, task groups) from re-cancelling
    # us on every loop iteration while we wait; native cancels are caught below.
    with anyio.CancelScope(shield=True):
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                cancelled = cancelled or not task.done()
            except BaseException:
                pass  # the operation's own error: raised below
    if task.cancelled():
        raise asyncio.CancelledError()
    error = task.exception()
    if cancelled:
        raise asyncio.CancelledError() from error
    if error is not None:
        raise error
    # An anyio scope cancelled while we were shielded delivers its cancellation now.
    await anyio.lowlevel.checkpoint_if_cancelled()
    return task.result()


class Pool(ABC):
    """A pool of connections to one database."""

    codecs: Codecs

    @abstractmethod
    def acquire(self) -> AbstractAsyncContextManager[Connection]:
        """Borrow a connection for the duration of an ``async with`` block."""

    @abstractmethod
    async def close(self) -> None:
        """Close every connection."""


INTEGRITY_CLASSES: dict[str, type[IntegrityError]] = {
    "unique": UniqueViolation,
    "foreign_key": ForeignKeyViolation,
    "not_null": NotNullViolation,
    "check": CheckViolation,
}
_PHRASES = {
    "unique": "the value is already taken (unique)",
    "foreign_key": "the related row does not exist, or other rows still point at this one",
    "not_null": "a value is required",
    "check": "the value is not allowed (check constraint)",
}
_QUOTED = re.compile(r"[`'\"]([A-Za-z0-9_.]+)[`'\"]")


def integrity_error(
    kind: str,
    constraints: ConstraintNames,
    *,
    constraint: str | None = None,
    table: str | None = None,
    column: str | None = None,
    detail: str = "",
) -> DeesseError:
    """Build the ``IntegrityError`` subclass for ``kind``, naming the field when known.

    ``constraint`` is the constraint name the database reported; when it is one of
    ours it names the collection and field exactly.
    """
    slug, field = table, column
    if constraint is not None:
        # MySQL 8 reports "table.constraint"; the name itself is what we assigned.
        key = constraint.rsplit(".", 1)[-1]
        if key in constraints:
            slug, field = constraints[key]
    where = f"{slug}.{field}" if slug and field else (slug or "the row")
    message = f"{where}: {_PHRASES[kind]}"
    if detail:
        message += f" ({detail})"
    return INTEGRITY_CLASSES[kind](message, collection=slug, field=field)


CONFLICT_CLASSES: dict[str, type[TransactionConflict]] = {
    "serialization": SerializationFailure,
    "deadlock": DeadlockDetected,
    "lock_timeout": LockTimeout,
}


def conflict_error(kind: str, database: str, code: object, message: str) -> DeesseError:
    """The ``TransactionConflict`` subclass for ``kind`` (a retryable collision)."""
    return CONFLICT_CLASSES[kind](f"{database} error {code}: {message}", code=str(code))


def quoted_names(message: str) -> list[str]:
    """Identifiers quoted in a driver message, in order (for MySQL error texts)."""
    return _QUOTED.findall(message)


def database_error(driver: str, code: object, message: str) -> DatabaseError:
    """A generic ``DatabaseError`` keeping the driver's code and text."""
    return DatabaseError(f"{driver} error {code}: {message}")


def missing_table(table: str, url: str) -> DatabaseError:
    """A table the collections declare is not in the database: the schema was never pushed."""
    return DatabaseError(
        f"table {table!r} does not exist in {url}: create the schema with `await db.push()` "
        "(or `deesse push`), or versioned migrations (`deesse migrate apply`)"
    )
