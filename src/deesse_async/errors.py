"""The one exception tree of deesse_async.

DeesseError
 ├── ConfigError            a collection, relation or define_config() argument is wrong
 ├── QueryError             find_many/find_first/count options are wrong (names the path)
 ├── ValidationError        data given to create/update does not fit the collection
 ├── NotFound               update() of a row that does not exist
 ├── AccessDenied           an access rule refused a write
 ├── HookRecursionError     hooks started operations through ctx.db nested too deep
 ├── DataLossError          a schema plan would lose data and was not accepted
 ├── ConnectionError        the database cannot be reached (URL shown, password hidden)
 └── DatabaseError          any other error the database reported
      ├── TransactionConflict  concurrent transactions collided: run it again
      │    ├── SerializationFailure  (SQLSTATE 40001)
      │    ├── DeadlockDetected      (40P01, MariaDB 1213)
      │    └── LockTimeout           (55P03, MariaDB 1205, SQLite busy)
      ├── SchemaSyncError   the database refused a statement of a schema plan (names it)
      │    └── DataConflictError  the live data would make the plan fail (nothing ran)
      └── IntegrityError    a constraint refused the write
           ├── UniqueViolation       (names the field)
           ├── ForeignKeyViolation   (names the field when the database says which)
           ├── NotNullViolation
           └── CheckViolation

Driver exceptions never escape: ``drivers/`` translates them at the adapter boundary.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "AccessDenied",
    "CheckViolation",
    "ConfigError",
    "ConnectionError",
    "DataConflictError",
    "DataLossError",
    "DatabaseError",
    "DeadlockDetected",
    "DeesseError",
    "ForeignKeyViolation",
    "HookRecursionError",
    "IntegrityError",
    "LockTimeout",
    "NotFound",
    "NotNullViolation",
    "QueryError",
    "SchemaSyncError",
    "SerializationFailure",
    "TransactionConflict",
    "UniqueViolation",
    "ValidationError",
    "did_you_mean",
]


class DeesseError(Exception):
    """Root of every error deesse_async raises."""


class ConfigError(DeesseError):
    """A collection, field, relation or configuration argument is invalid."""


class QueryError(DeesseError):
    """Query options are invalid; the message names the path of the mistake."""

    def __init__(self, message: str, *, path: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class ValidationError(DeesseError):
    """Data does not fit a collection's model.

    ``errors`` lists one dict per problem with ``loc`` (the field path as a tuple),
    ``msg`` and ``type``, in pydantic's shape.
    """

    def __init__(self, collection: str, operation: str, errors: Sequence[dict[str, Any]]) -> None:
        self.collection = collection
        self.operation = operation
        self.errors = list(errors)
        lines = [f"{_loc(e['loc'])}: {e['msg']}" for e in self.errors]
        super().__init__(f"invalid data for {collection}.{operation}: " + "; ".join(lines))


def _loc(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(data)"


class NotFound(DeesseError):
    """The row addressed by id does not exist."""

    def __init__(self, collection: str, id: Any) -> None:
        self.collection = collection
        self.id = id
        super().__init__(f"{collection} with id {id!r} does not exist")


class AccessDenied(DeesseError):
    """An access rule refused the operation."""


class HookRecursionError(DeesseError):
    """Hooks started operations (through ``ctx.db``) nested past the depth limit."""


class DataLossError(DeesseError):
    """A schema change would lose data and was not accepted.

    ``statements`` lists the destructive SQL; ``plan`` is the whole ``SyncPlan`` when the
    error comes from ``push()`` (with the affected row counts).
    """

    def __init__(self, message: str, statements: Sequence[str] = (), *, plan: Any = None) -> None:
        self.statements = list(statements)
        self.plan = plan
        super().__init__(message)


class ConnectionError(DeesseError):
    """The database server cannot be reached; the message shows the URL without password."""


class DatabaseError(DeesseError):
    """The database refused a statement for a reason not covered by a narrower class."""


class TransactionConflict(DatabaseError):
    """Concurrent transactions collided and the database gave up on this one; running the
    whole transaction again usually succeeds (``db.run_in_transaction`` does it).

    ``code`` is the SQLSTATE or error number the database reported. Catch this class to
    retry by hand; the subclasses say which collision it was.
    """

    what = "this transaction collided with a concurrent one"

    def __init__(self, detail: str, *, code: str = "") -> None:
        self.code = code
        super().__init__(
            f"{self.what} ({detail}); the transaction is rolled back: run it again, e.g. "
            "`await db.run_in_transaction(fn, retries=3)` re-runs fn on such conflicts "
            "(raise retries= if they are frequent)"
        )


class SerializationFailure(TransactionConflict):
    """A serializable (or repeatable-read) transaction read data that a concurrent one
    changed (SQLSTATE 40001); running it again sees the new data."""

    what = "could not serialize this transaction with a concurrent one that changed what it read"


class DeadlockDetected(TransactionConflict):
    """Two transactions waited for each other's locks; the database rolled this one back
    (PostgreSQL 40P01, MariaDB/MySQL 1213). Locking rows in the same order avoids it."""

    what = "deadlock: this transaction and a concurrent one waited for each other's locks"


class LockTimeout(TransactionConflict):
    """A lock stayed held by another transaction past the lock timeout (PostgreSQL
    55P03, MariaDB/MySQL 1205, SQLite's busy timeout)."""

    what = "a lock held by a concurrent transaction was not released in time"


class SchemaSyncError(DatabaseError):
    """The database refused a statement of a schema plan; the message names the statement.

    ``statement`` is the refused SQL, ``applied`` the statements that ran before it and
    ``pending`` those that did not run. ``rolled_back`` is True when the database undid
    the applied ones (PostgreSQL, SQLite); MySQL/MariaDB cannot roll back DDL.
    """

    def __init__(
        self,
        message: str,
        *,
        statement: str | None = None,
        applied: Sequence[str] = (),
        pending: Sequence[str] = (),
        rolled_back: bool = True,
    ) -> None:
        self.statement = statement
        self.applied = list(applied)
        self.pending = list(pending)
        self.rolled_back = rolled_back
        super().__init__(message)


class DataConflictError(SchemaSyncError):
    """The live data would make a schema plan fail; it was refused before any statement ran.

    ``conflicts`` lists what was found (``DataConflict``: table, column, rows, problem,
    fix), e.g. "3 rows have NULL in tasks.due_on"; ``plan`` is the refused ``SyncPlan``.
    Fix the data (or the collections) and push again: the same plan then applies.
    """

    def __init__(self, message: str, *, conflicts: Sequence[Any] = (), plan: Any = None) -> None:
        self.conflicts = list(conflicts)
        self.plan = plan
        pending = [s.sql for s in plan.statements] if plan is not None else []
        super().__init__(message, pending=pending, rolled_back=True)


class IntegrityError(DatabaseError):
    """A constraint refused the write; nothing of the operation was kept."""

    def __init__(
        self, message: str, *, collection: str | None = None, field: str | None = None
    ) -> None:
        self.collection = collection
        self.field = field
        super().__init__(message)


class UniqueViolation(IntegrityError):
    """A value that must be unique is already taken; ``field`` names the field."""


class ForeignKeyViolation(IntegrityError):
    """A relation points at a missing row, or a delete is restricted by related rows."""


class NotNullViolation(IntegrityError):
    """A required column was given no value."""


class CheckViolation(IntegrityError):
    """A CHECK constraint (select choices, number range) refused the value."""


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when one of ``options`` is close to ``name``, else ``""``.

    >>> "unknown field 'emial'" + did_you_mean("emial", ["email", "name"])
    "unknown field 'emial'; did you mean 'email'?"
    """
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
