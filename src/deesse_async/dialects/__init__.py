"""What differs between PostgreSQL, SQLite and MySQL/MariaDB, as data.

The runtime and the query planner read these flags; they never test a dialect's name.
SQL is built with SQLAlchemy Core and compiled once per shape with ``compile_sql``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.mysql import asyncmy as sa_asyncmy
from sqlalchemy.dialects.postgresql import asyncpg as sa_asyncpg
from sqlalchemy.dialects.sqlite import aiosqlite as sa_aiosqlite
from sqlalchemy.engine import Dialect as SADialect

from .._types import Backend

__all__ = ["DIALECTS", "CompiledSQL", "Dialect", "compile_sql"]


@dataclass(frozen=True, slots=True)
class Dialect:
    """Capabilities of one database family."""

    name: Backend
    sa_dialect: SADialect
    # INSERT/UPDATE ... RETURNING: PostgreSQL and SQLite >= 3.35 (MySQL 8 has none, and
    # MariaDB none on UPDATE), so MySQL reads the row back inside the same transaction.
    returning: bool
    supports_lateral: bool
    # Most bound parameters one statement may carry (SQLite's SQLITE_MAX_VARIABLE_NUMBER
    # is 32766 since 3.32; PostgreSQL's wire protocol counts parameters in 16 bits).
    max_bind_params: int
    # The statement that opens a write transaction. SQLite takes the write lock up front
    # (IMMEDIATE) so that two transactions cannot deadlock upgrading a read lock.
    begin_sql: str
    # DDL inside a transaction (all or nothing): PostgreSQL and SQLite. MySQL/MariaDB
    # commit each DDL statement, so a schema plan that stops half-way stays half-applied.
    transactional_ddl: bool = True


def _sa(factory: Any) -> SADialect:
    # SQLAlchemy's dialect constructors are untyped.
    dialect: SADialect = factory()
    return dialect


DIALECTS: dict[Backend, Dialect] = {
    "postgresql": Dialect("postgresql", _sa(sa_asyncpg.dialect), True, True, 32767, "BEGIN"),
    "sqlite": Dialect("sqlite", _sa(sa_aiosqlite.dialect), True, False, 32766, "BEGIN IMMEDIATE"),
    "mysql": Dialect(
        "mysql", _sa(sa_asyncmy.dialect), False, False, 65535, "BEGIN", transactional_ddl=False
    ),
}


@dataclass(frozen=True, slots=True)
class CompiledSQL:
    """SQL text plus the order of its parameters, compiled once per statement shape.

    ``names`` lists the bind parameter names in the order the driver expects them;
    ``values`` holds the values SQLAlchemy already knows (literal binds made by the
    statement itself), which named values given at execution time override.
    """

    sql: str
    names: tuple[str, ...]
    values: dict[str, Any]
    # SQLAlchemy type of each bind that has a value (how a caller's literal is encoded)
    types: dict[str, Any] = field(default_factory=dict, compare=False)

    def params(self, given: dict[str, Any] | None = None) -> tuple[Any, ...]:
        """The positional parameter tuple for the driver."""
        if not given:
            return tuple(self.values[n] for n in self.names)
        values = self.values
        return tuple(given[n] if n in given else values[n] for n in self.names)


def compile_sql(statement: sa.ClauseElement, dialect: Dialect) -> CompiledSQL:
    """Compile a SQLAlchemy Core statement for a dialect's driver paramstyle.

    >>> t = sa.table("t", sa.column("id"))
    >>> compile_sql(sa.select(t).where(t.c.id == sa.bindparam("id")), DIALECTS["sqlite"]).sql
    'SELECT t.id \\nFROM t \\nWHERE t.id = ?'
    """
    compiled: Any = statement.compile(
        dialect=dialect.sa_dialect, compile_kwargs={"render_postcompile": True}
    )
    names = tuple(compiled.positiontup or ())
    params = dict(compiled.params)
    types = {
        name: bind.type
        for bind, name in compiled.bind_names.items()
        if params.get(name) is not None
    }
    return CompiledSQL(str(compiled), names, params, types)
