"""The ``Dialect`` base class and ``compile_sql``; each backend subclasses it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeAlias

import sqlalchemy as sa
from sqlalchemy.engine import Dialect as SADialect
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["Backend", "CompiledSQL", "Dialect", "compile_sql", "sa_dialect"]

Backend: TypeAlias = Literal["postgresql", "sqlite", "mysql"]
"""A database family (``Dialect.name``); MariaDB is "mysql"."""


class Dialect:
    """What one database family can do and how it spells it; one subclass per backend.

    Capability flags are class attributes, in the manner of SQLAlchemy's
    ``DefaultDialect.supports_*`` and sqlglot's dialect classes; SQL hooks are small
    methods. The planner, the runtime and the schema sync ask these; they never test a
    backend's name. Instances are stateless singletons (``DIALECTS``).
    """

    name: ClassVar[Backend]
    display_name: ClassVar[str]  # for messages: "PostgreSQL"
    # SQLAlchemy dialect names this class serves (``conn.dialect.name`` of a connection)
    sa_names: ClassVar[tuple[str, ...]]
    sqlglot_name: ClassVar[str]  # sqlglot's read/write dialect
    # INSERT/UPDATE ... RETURNING. Without it a write reads its row back inside the same
    # transaction.
    insert_returning: ClassVar[bool] = True
    update_returning: ClassVar[bool] = True
    lateral: ClassVar[bool] = False  # LEFT JOIN LATERAL
    # DDL inside a transaction, all or nothing. Without it each DDL statement commits, so
    # a schema plan that stops half-way stays half-applied (sync/apply.py reports it).
    transactional_ddl: ClassVar[bool] = True
    # ALTER TABLE is limited; column changes rebuild the table (alembic batch mode)
    batch_alter: ClassVar[bool] = False
    # Most bound parameters one statement may carry
    max_bind_params: ClassVar[int] = 32767
    # The statement that opens a write transaction
    begin_sql: ClassVar[str] = "BEGIN"

    def __init__(self) -> None:
        self.sa_dialect: SADialect = self._sa_dialect()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def _sa_dialect(self) -> SADialect:
        """The SQLAlchemy dialect of this backend's driver (SQL is compiled with it)."""
        raise NotImplementedError

    # -- queries (query/): key sets, JSON aggregation, values inside JSON -----------

    # -- schema sync (sync/): type rules, checks, rebuilds, post-apply checks -------

    # -- connections (runtime/admin.py, drivers/): schema-connection setup ----------
    # Run on each connection ``admin_connection`` opens, before the caller's statements
    admin_connection_sql: ClassVar[tuple[str, ...]] = ()

    def schema_connection_setup(self, engine: AsyncEngine, *, write: bool) -> None:
        """Prepare the connections and transactions of a schema-sync engine.

        Called once per engine (``runtime/admin.py``); ``write`` says it will change the
        schema. The default leaves SQLAlchemy's own behaviour.
        """

    # -- column types (compile/tables.py) --------------------------------------------


def sa_dialect(factory: Any) -> SADialect:
    """Instantiate a SQLAlchemy dialect class (their constructors are untyped)."""
    dialect: SADialect = factory()
    return dialect


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

    >>> from deesse_async.dialects import DIALECTS
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
