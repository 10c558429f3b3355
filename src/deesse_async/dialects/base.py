"""The ``Dialect`` base class and ``compile_sql``; each backend subclasses it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Dialect as SADialect
from sqlalchemy.sql import util as sql_util

from ..errors import ConfigError, did_you_mean
from .sync_rules import CheckSpelling, TypeRules

if TYPE_CHECKING:  # importing it loads sqlalchemy.orm (~0.1 s at import deesse_async)
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "ISOLATION_LEVELS",
    "Backend",
    "ColumnType",
    "CompiledSQL",
    "Dialect",
    "Isolation",
    "compile_sql",
    "isolation_level",
    "sa_dialect",
]

Backend: TypeAlias = Literal["postgresql", "sqlite", "mysql"]
"""A database family (``Dialect.name``); MariaDB is "mysql"."""

ColumnType: TypeAlias = Literal["timestamp", "int_id", "indexed_text", "json"]
"""The column types a backend may spell its own way (``Dialect.column_variants``):
``timestamp`` (aware datetime), ``int_id`` (auto-increment integer key), ``indexed_text``
(unbounded text under a unique constraint or index), ``json``."""

Isolation: TypeAlias = Literal[
    "serializable", "repeatable_read", "read_committed", "read_uncommitted"
]
"""A transaction isolation level (``db.transaction(isolation=...)``), strongest first."""
ISOLATION_LEVELS: tuple[Isolation, ...] = get_args(Isolation)


def isolation_level(value: object) -> Isolation | None:
    """``value`` checked as an isolation level (``None``: the database's default).

    >>> isolation_level("serializable")
    'serializable'
    """
    if value is None or value in ISOLATION_LEVELS:
        return value
    allowed = ", ".join(repr(v) for v in ISOLATION_LEVELS)
    hint = did_you_mean(str(value), ISOLATION_LEVELS)
    raise ConfigError(
        f"unknown isolation level {value!r}{hint}: use one of {allowed}, or None for the "
        "database's default"
    )


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
    # What ``strategy="auto"`` picks (QueryPlanner.choose), as measured per backend
    # (docs/benchmarks.md, ``benchmarks/nested.py --strategies``). "Depth" counts the
    # nested levels of a ``with`` tree (users -> posts -> comments: 2).
    # A per-parent limit or offset anywhere in the tree: one statement (a LIMIT in a
    # correlated subquery) beats ranking every child row with ROW_NUMBER().
    auto_lateral_limits: ClassVar[bool] = True
    # Few parent rows (find_first, a unique key, limit <= 10): the deepest tree for which
    # one statement beats one query per level (None: any depth).
    auto_lateral_few_depth: ClassVar[int | None] = None
    # Many parent rows, no per-parent limit: the deepest tree for which one statement
    # still wins (0: never).
    auto_lateral_many_depth: ClassVar[int] = 0
    # DDL inside a transaction, all or nothing. Without it each DDL statement commits, so
    # a schema plan that stops half-way stays half-applied (sync/apply.py reports it).
    transactional_ddl: ClassVar[bool] = True
    # ALTER TABLE is limited; column changes rebuild the table (alembic batch mode)
    batch_alter: ClassVar[bool] = False
    # Most bound parameters one statement may carry
    max_bind_params: ClassVar[int] = 32767
    # The statement that opens a write transaction
    begin_sql: ClassVar[str] = "BEGIN"
    # Read replicas (``define_config(replicas=...)``, runtime/routing.py): the primary's
    # write position and a standby's (in_recovery, replayed position), both in bytes
    # of the write-ahead log. ``None``: the backend has no replicas to route reads to.
    primary_position_sql: ClassVar[str | None] = None
    replica_position_sql: ClassVar[str | None] = None
    # The backend sorts NULL below every value (NULLs first in ASC). The library sorts
    # NULL above every value on every backend (last in ASC, first in DESC: PostgreSQL's
    # own order, which its indexes serve); where this is set, a nullable ORDER BY column
    # gets an ``x IS NULL`` key in front (query/clauses.py).
    nulls_sort_low: ClassVar[bool] = False
    # ``stream(mode="cursor")``: its driver reads one statement's rows a chunk at a time
    # on the server while other statements run beside it (asyncpg cursors). asyncmy's
    # unbuffered results tie the connection up until read to the end; SQLite has no server.
    server_cursors: ClassVar[bool] = False

    def begin_isolated(self, isolation: Isolation) -> tuple[str, ...]:
        """The statements that open a transaction at ``isolation``, run in order.

        The default is one ``BEGIN ISOLATION LEVEL ...`` (PostgreSQL's spelling): one
        statement, so nothing of it outlives the transaction on the session.

        >>> from deesse_async.dialects import DIALECTS
        >>> DIALECTS["postgresql"].begin_isolated("repeatable_read")
        ('BEGIN ISOLATION LEVEL REPEATABLE READ',)
        """
        return (f"BEGIN ISOLATION LEVEL {isolation.replace('_', ' ').upper()}",)

    def __init__(self) -> None:
        self.sa_dialect: SADialect = self._sa_dialect()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    @property
    def supports_replicas(self) -> bool:
        """Whether reads can be routed to hot standbys (``define_config(replicas=...)``)."""
        return self.primary_position_sql is not None and self.replica_position_sql is not None

    def _sa_dialect(self) -> SADialect:
        """The SQLAlchemy dialect of this backend's driver (SQL is compiled with it)."""
        raise NotImplementedError

    # -- queries (query/): key sets, JSON aggregation, values inside JSON -----------

    def key_filter(self, columns: Sequence[Any], kinds: Sequence[str], param: str) -> Any:
        """``columns IN <the parent keys bound as one value>`` (the batched strategy).

        One bound value whatever the number of parents, so the statement is compiled once
        per shape and no bind-parameter limit applies; ``kinds`` are the key columns'
        kinds. ``encode_keys`` makes the bound value(s) at execution time.
        """
        raise NotImplementedError

    def encode_keys(self, keys: Sequence[Any], param: str) -> dict[str, Any]:
        """The bound value(s) of ``key_filter`` from raw driver keys (one per execution).

        A key is the value itself for a one-column key, a tuple for a composite key. The
        default binds one JSON array.

        >>> from deesse_async.dialects import DIALECTS
        >>> DIALECTS["sqlite"].encode_keys([(1, "a"), (2, "b")], "k")
        {'k': '[[1, "a"], [2, "b"]]'}
        """
        composite = bool(keys) and isinstance(keys[0], tuple)
        values = [list(k) for k in keys] if composite else list(keys)
        return {param: json.dumps(values, default=_json_key)}

    def json_row(self, values: Sequence[Any]) -> Any:
        """One related row as a positional JSON array (the lateral strategy)."""
        return sa.func.json_array(*values)

    def json_rows(
        self, values: Sequence[Any], rows: Any, order: Sequence[Any], limit: Any, offset: Any
    ) -> Any:
        """``SELECT <JSON array of the related rows of one parent row> AS data``.

        ``rows`` is a SELECT without columns: FROM the related rows, WHERE they belong to
        the parent row (correlated); ``values`` are one related row's values. ``order``,
        ``limit`` and ``offset`` (bind parameters or None) apply per parent; no parent
        row gets NULL: no related rows is an empty JSON array.
        """
        raise NotImplementedError

    def kept_rows(
        self,
        rows: Any,
        target: sa.FromClause,
        columns: Sequence[str],
        order: Sequence[Any],
        limit: Any,
        offset: Any,
        name: str,
    ) -> tuple[sa.FromClause, Any, list[Any]]:
        """The related rows of one parent row that ``order``, ``limit`` and ``offset``
        keep, picked before anything is nested over them (the lateral strategy).

        ``rows`` is as in ``json_rows``, over ``target`` (an alias of the related table);
        ``columns`` are the columns of ``target`` read over the kept rows; ``name`` is
        free in the statement. Returns ``(view, source, order)``: what stands for
        ``target`` over the kept rows (its ``.c`` has at least ``columns``), the FROM
        clause of the kept rows, and their order as ``json_rows`` should aggregate them.
        The default is a derived table (correlated to the parent row).
        """
        picked = rows.add_columns(*(target.c[c] for c in columns))
        kept = picked.order_by(*order).limit(limit).offset(offset).subquery(name)
        adapter = sql_util.ClauseAdapter(kept)
        return kept, kept, [adapter.traverse(o) for o in order]

    def json_value(self, kind: str | None, expr: Any) -> Any:
        """A column or extra of kind ``kind`` as it goes into a JSON row (default: as is)."""
        return expr

    def embed_json(self, value: Any) -> Any:
        """A nested relation's JSON as one value of its parent's JSON row (default: as is)."""
        return value

    def as_double(self, expr: Any) -> Any:
        """``expr`` as a double precision float (``agg.avg`` divides the exact sum)."""
        return sa.cast(expr, sa.Double())

    # -- schema sync (sync/): type rules, checks, rebuilds, post-apply checks -------
    # How the sentinel reads column types here (sync/widening.py, sync/statement_risk.py).
    type_rules: ClassVar[TypeRules]
    # How the database keeps a CHECK constraint's text, so that sync/checks.py can bring
    # ours to the same spelling before comparing: "as_written" (whitespace aside),
    # "normalised" (quoted and lower-cased: both sides go through sqlglot), "probed"
    # (rewritten deeply: the database spells ours too, on a temporary probe table).
    check_spelling: ClassVar[CheckSpelling] = "as_written"
    # A table's CHECK constraints as (name, definition) rows, for "probed": the inspector
    # cannot see a temporary table. ``:table`` is the quoted table name.
    check_definitions_sql: ClassVar[str | None] = None
    # A JSON column holds text the database never validates: before a text field becomes
    # json(), sync/conversions.py turns the values that are not JSON into JSON strings.
    json_unchecked: ClassVar[bool] = False
    # Column types are affinities, so a rebuild's CAST(v AS DATETIME) makes '2024-01-01'
    # the number 2024: sync/conversions.py converts such copies itself (``Retype``).
    affinity_casts: ClassVar[bool] = False
    # Run after a plan, before committing: rows it returns (first column: the table) have
    # foreign keys pointing nowhere, which a rebuild with key checks off can leave.
    foreign_key_check_sql: ClassVar[str | None] = None
    # ``?schema=``: whether the named schema exists (``:name``), and the schema a
    # connection works in, read again after the sync creates a missing one.
    schema_exists_sql: ClassVar[str | None] = None
    current_schema_sql: ClassVar[str | None] = None

    def alter_type_options(self, column: str, new_type: str) -> dict[str, str]:
        """alembic ``alter_column`` keywords for a change of ``column`` (quoted) to
        ``new_type`` from another type family (text -> integer): none by default."""
        return {}

    # -- connections (runtime/schema_connections.py, drivers/): schema-connection setup ----------
    # Run on each connection ``admin_connection`` opens, before the caller's statements
    admin_connection_sql: ClassVar[tuple[str, ...]] = ()

    def schema_connection_setup(self, engine: AsyncEngine, *, write: bool) -> None:
        """Prepare the connections and transactions of a schema-sync engine.

        Called once per engine (``runtime/schema_connections.py``); ``write`` says it will
        change the schema. The default leaves SQLAlchemy's own behaviour.
        """

    # -- column types (compile/tables.py) --------------------------------------------
    # Keyword arguments every ``sa.Table`` gets (charset, collation ...), prefixed with the
    # SQLAlchemy dialect name as SQLAlchemy expects, so other backends ignore them.
    table_options: ClassVar[Mapping[str, str]] = {}

    def column_variants(self) -> dict[ColumnType, sa.types.TypeEngine[Any]]:
        """This backend's own type where the portable one (compile/tables.py) is wrong.

        compile/tables.py adds each as ``with_variant(type, *sa_names)``; a column type
        missing here keeps the portable type on this backend.
        """
        return {}


def _json_key(value: Any) -> Any:
    # Raw key values are ints or strings on most drivers; anything else (dates) as text.
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


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
