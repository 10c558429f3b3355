"""Query objects, the plan cache and prepared queries.

``db.query.users.find_many(...)`` parses its options at once (mistakes raise here) and
returns a ``Query``: awaiting it runs it once; ``.prepare()`` returns a
``PreparedQuery`` holding the compiled plan; ``.to_sql()`` shows the SQL. Plans are
cached by query *shape* (the parsed tree, values lifted out), so the second call of the
same shape skips planning and SQLAlchemy compilation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from pydantic import BaseModel

from .._types import Row
from ..compile.coercion import coerce_value, value_kind
from ..compile.schema import Schema
from ..dialects import Dialect
from ..drivers.base import Codecs, Connection
from ..errors import QueryError
from .access import (
    AccessContext,
    Actor,
    ReadAccess,
    ReadRules,
    call,
    check_depth,
    gone_keys,
    has_read_rules,
    reshape,
    strip_padding,
)
from .batched import plan_batched
from .context import PlanContext
from .lateral import plan_lateral
from .options import (
    And,
    Cmp,
    Filter,
    QueryNode,
    Values,
    check_count,
    is_reserved,
    parse_query,
    parse_where,
    show,
    suggest,
)
from .shapes import response_model

__all__ = ["Plan", "PreparedQuery", "Query", "QueryPlanner", "Strategy"]

Strategy = Literal["auto", "lateral", "batched"]
STRATEGIES = ("auto", "lateral", "batched")
CACHE_SIZE = 512


class Plan(Protocol):
    @property
    def strategy(self) -> str: ...

    def sql(self) -> str: ...

    async def run(self, conn: Connection, params: dict[str, Any]) -> list[Row]: ...

    def chunks(
        self, conn: Connection, params: dict[str, Any], size: int
    ) -> AsyncGenerator[list[Row], None]: ...


class Executor(Protocol):
    """Where queries run: a view of the database (``db``, ``db.with_user(u)``, a
    transaction) with the actor its rules see."""

    _actor: Actor

    def acquire_read(self) -> Any:
        """A connection for a read (a replica's where runtime/routing.py allows)."""

    async def _settle(self, callbacks: list[Callable[[], Any]]) -> None:
        """``ctx.on_commit`` callbacks of a finished read: run now, or at commit."""

    def _as_actor(self, actor: Actor) -> Executor:
        """The same database or transaction seen by another actor."""


class QueryPlanner:
    """Turns parsed queries into compiled plans for one database, cached by shape.

    Also the query layer's interface to the write path (``where_clause``).
    """

    def __init__(self, schema: Schema, dialect: Dialect, codecs: Codecs) -> None:
        self.schema = schema
        self.dialect = dialect
        self.codecs = codecs
        self.context = PlanContext(schema, dialect, codecs)
        self._cache: OrderedDict[tuple[QueryNode, str], tuple[Plan, frozenset[str]]] = OrderedDict()
        self._lock = threading.Lock()
        # Whether any collection declares read rules or read hooks: if none, queries
        # skip the access machinery entirely.
        self.has_rules = any(has_read_rules(cc) for cc in schema.collections.values())
        self.has_read_hooks = any(
            name in cc.collection.hooks
            for cc in schema.collections.values()
            for name in ("before_read", "after_read")
        )

    def where_clause(
        self, slug: str, table: sa.FromClause, where: Any
    ) -> tuple[sa.ColumnElement[bool], dict[str, Any]]:
        """A where-dict (as in ``find_many``) as a boolean expression over ``table``, and
        the encoded values of its binds (``count``, and any write filtered by a where).

        >>> # expr, params = planner.where_clause("users", users_table, {"age": {"gt": 3}})
        """
        f, values = parse_where(self.schema, slug, where)
        if values.placeholders:
            raise QueryError("placeholders are only accepted in prepared find_many/find_first")
        expr = self.context.compiler().compile(f, self.schema[slug], table)
        encode = self.codecs.encode
        return expr, {k: encode(kind, v) if kind else v for k, (v, kind) in values.items.items()}

    async def read_filter(
        self,
        slug: str,
        where: Any,
        executor: Executor,
        pending: list[Callable[[], Any]],
    ) -> tuple[Filter | None, dict[str, Any], frozenset[str]]:
        """The caller's where-dict (or None) merged with the read rules ``executor``'s
        actor sees, its encoded values, and the row keys field rules hide (CRUD reads,
        ``count``, and the rows writes return)."""
        f: Filter | None = None
        params: dict[str, Any] = {}
        if where is not None:
            f, values = parse_where(self.schema, slug, where)
            if values.placeholders:
                raise QueryError("placeholders are only accepted in prepared find_many/find_first")
            encode = self.codecs.encode
            params = {k: encode(kind, v) if kind else v for k, (v, kind) in values.items.items()}
        actor = executor._actor
        if actor.trusted or not self.has_rules:
            return f, params, frozenset()
        node = QueryNode(slug, ("id",), where=f)
        access = ReadAccess(self.schema, node)
        if not access.ruled:
            return f, params, frozenset()

        def ctx_for(target: str) -> AccessContext:
            return AccessContext(actor, "read", target, executor, pending.append)

        rules = await access.resolve(self.codecs, ctx_for)
        params.update(rules.params)
        hidden = dict(zip(access.ruled, (h for _, h in rules.shape), strict=True))
        return access.merge(node, rules).where, params, gone_keys(self.schema, slug, hidden)

    def compile_filter(self, slug: str, table: sa.FromClause, f: Filter) -> sa.ColumnElement[bool]:
        """A parsed filter as a boolean expression over ``table``."""
        return self.context.compiler().compile(f, self.schema[slug], table)

    def plan(self, node: QueryNode, strategy: str) -> tuple[Plan, frozenset[str]]:
        """The compiled plan of a query shape and the placeholder names it needs (cached,
        least recently used evicted)."""
        key = (node, strategy)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        plan = self._build(node, strategy)
        found = (plan, required_placeholders(plan))
        with self._lock:
            self._cache[key] = found
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return found

    def _build(self, node: QueryNode, strategy: str) -> Plan:
        try:
            if strategy == "lateral":
                return plan_lateral(node, self.context)
            return plan_batched(node, self.context)
        except (sa.exc.SQLAlchemyError, RecursionError) as exc:
            # What parsing cannot see: expressions from RAW/extras/order_by that SQLAlchemy
            # refuses to compile (a placeholder named like one of its own binds, a
            # literal of no SQL type, ...).
            raise QueryError(f"cannot compile this query: {type(exc).__name__}: {exc}") from exc

    def choose(self, node: QueryNode, values: Values, strategy: str) -> str:
        """Resolve ``auto`` to the strategy measured faster for this dialect and shape.

        The rule, first match wins ("depth": nested levels of the ``with`` tree; the
        numbers are the dialect's ``auto_lateral_*`` flags):

        1. no relation: batched (the same one SELECT; batched builds rows cheaper);
        2. a per-parent limit or offset anywhere in the tree: lateral where
           ``auto_lateral_limits`` (SQLite, MariaDB: a LIMIT in the correlated subquery
           stops early), else batched (PostgreSQL: without an index on (fk, order) its
           planner may walk the primary key backwards for each parent);
        3. few parent rows (``find_first``, an equality on the primary key or a unique
           column, a top-level limit <= 10): lateral up to ``auto_lateral_few_depth``
           levels (any on PostgreSQL and SQLite, 1 on MariaDB), else batched;
        4. many parents: lateral up to ``auto_lateral_many_depth`` levels (1 on SQLite,
           0 elsewhere), else batched (one query per level; the database does not build
           JSON for every child row).

        The table the rule comes from (shape x dialect: faster strategy, time ratio) is
        in docs/benchmarks.md, "Which strategy `auto` picks"; re-measure with
        ``python benchmarks/nested.py --strategies [--url ...]``.
        """
        if strategy != "auto":
            return strategy
        if not node.relations:
            return "batched"
        dialect = self.dialect
        if _per_parent_limit(node):
            return "lateral" if dialect.auto_lateral_limits else "batched"
        depth = _depth(node)
        if node.single or _few_rows(node, values) or _unique_lookup(node, self.schema):
            most = dialect.auto_lateral_few_depth
            return "lateral" if most is None or depth <= most else "batched"
        return "lateral" if depth <= dialect.auto_lateral_many_depth else "batched"

    def params(
        self, values: Values, given: Mapping[str, Any] | None, required: frozenset[str]
    ) -> dict[str, Any]:
        """Encoded parameters: the literal values plus the placeholders' ``given`` values."""
        return Binder(self.codecs, values, required)(given)


class Binder:
    """A query's parameters, encoded by a function made once per prepared query: the
    literal values are encoded when it is made, each execution only checks and encodes
    the placeholders' values."""

    __slots__ = ("_encode", "_literal", "_literals", "_required", "_steps")

    def __init__(self, codecs: Codecs, values: Values, required: frozenset[str]) -> None:
        encode = self._encode = codecs.encode
        self._literal = codecs.encode_literal  # a Decimal in RAW/extras, on SQLite
        self._literals = {
            k: (encode(kind, v) if kind else codecs.encode_literal(v))
            for k, (v, kind) in values.items.items()
        }
        self._required = required
        # (name, declared kind or None, used as limit/offset)
        self._steps = tuple(
            (name, values.placeholders.get(name), name in values.counts) for name in required
        )

    def __call__(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """The encoded parameters for placeholder values ``given``."""
        out = self._literals.copy()
        given = given or {}
        if given.keys() != self._required:
            missing = sorted(self._required - given.keys())
            extra = sorted(given.keys() - self._required)
            parts = [f"missing {', '.join(map(repr, missing))}"] if missing else []
            parts += [f"unexpected {', '.join(map(repr, extra))}"] if extra else []
            raise QueryError("placeholder values: " + "; ".join(parts))
        encode = self._encode
        for name, declared, is_count in self._steps:
            value = given[name]
            # A placeholder only used inside RAW/extras has no column: its type says.
            try:
                kind = declared or value_kind(value)
                if value is None:
                    out[name] = value
                elif kind is None:
                    out[name] = self._literal(value)
                else:
                    out[name] = encode(kind, coerce_value(kind, value))
            except (TypeError, ValueError) as exc:
                raise QueryError(f"placeholder {name!r}: {exc}") from None
            if is_count:
                try:
                    check_count(value, "")
                except QueryError as exc:
                    raise QueryError(f"placeholder {name!r}: limit/offset {exc}") from None
        return out


async def run_plan(plan: Plan, conn: Connection, params: dict[str, Any]) -> list[Row]:
    """Run a plan; a value that does not decode as its declared type is a ``QueryError``.

    Column values always decode (the write path only stores what reads back); this is
    for extras and RAW expressions whose SQLAlchemy type promises something the database
    does not return (``cast(x, Date)`` is a number on SQLite).
    """
    try:
        return await plan.run(conn, params)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _undecodable(exc) from exc


async def plan_chunks(
    plan: Plan, conn: Connection, params: dict[str, Any], size: int
) -> AsyncGenerator[list[Row], None]:
    """``run_plan`` a chunk at a time, through a server-side cursor (``conn.cursor``)."""
    try:
        async with aclosing(plan.chunks(conn, params, size)) as chunks:
            async for rows in chunks:
                yield rows
    except (TypeError, ValueError, OverflowError) as exc:
        raise _undecodable(exc) from exc


def _undecodable(exc: Exception) -> QueryError:
    return QueryError(
        f"a value the database returned does not decode as its declared type ({exc}); "
        "check the SQLAlchemy type of your extras/RAW expressions (cast or type_=)"
    )


def _few_rows(node: QueryNode, values: Values) -> bool:
    if node.limit is None or node.limit.placeholder is not None:
        return False
    return bool(values.items[node.limit.key][0] <= 10)


def _per_parent_limit(node: QueryNode) -> bool:
    """A relation at any depth has a limit or an offset (applied per parent row)."""
    return any(
        child.limit is not None or child.offset is not None or _per_parent_limit(child)
        for _, child in node.relations
    )


def _depth(node: QueryNode) -> int:
    """Nested levels below ``node`` (users -> posts -> comments: 2)."""
    return max((1 + _depth(child) for _, child in node.relations), default=0)


def _unique_lookup(node: QueryNode, schema: Schema) -> bool:
    """A top-level equality on the primary key or a unique column."""
    where = node.where
    items = where.items if isinstance(where, And) else (where,)
    unique = {"id"} | {
        c.columns[0].name
        for c in schema[node.slug].table.constraints
        if isinstance(c, sa.UniqueConstraint) and len(c.columns) == 1
    }
    return any(isinstance(f, Cmp) and f.op == "eq" and f.column in unique for f in items)


def required_placeholders(plan: Plan) -> frozenset[str]:
    """Bind names a caller must supply: every bind that is not a literal, constant or key set."""
    return frozenset(
        name
        for sql in _statements(plan)
        for name in sql.names
        if sql.values.get(name) is None and not is_reserved(name)
    )


def _statements(plan: Any) -> list[Any]:
    if hasattr(plan, "statement"):
        return [plan.statement]
    out = []
    stack = [plan.root]
    while stack:
        level = stack.pop()
        out.append(level.sql)
        stack.extend(child for child, _ in level.children)
    return out


@dataclass(eq=False)
class Query:
    """A parsed query: ``await`` it, ``.prepare()`` it or look at ``.to_sql()``."""

    planner: QueryPlanner
    executor: Executor
    node: QueryNode
    values: Values
    strategy: str
    options: Mapping[str, Any] = field(default_factory=dict)  # as given (before_read)
    access: ReadAccess | None = None  # the tree reads a collection with rules

    def _plan(self) -> tuple[Plan, frozenset[str]]:
        return self.planner.plan(
            self.node, self.planner.choose(self.node, self.values, self.strategy)
        )

    def __await__(self) -> Generator[Any, None, Any]:
        return self._run().__await__()

    async def _run(self) -> Any:
        if self.values.placeholders:
            names = ", ".join(map(repr, self.values.placeholders))
            raise QueryError(
                f"this query holds placeholders ({names}): call .prepare() and execute it"
            )
        strategy = self.planner.choose(self.node, self.values, self.strategy)
        if self.access is None and not self.planner.has_read_hooks:
            plan, required = self.planner.plan(self.node, strategy)
            params = self.planner.params(self.values, None, required)
            async with self.executor.acquire_read() as conn:
                rows = await run_plan(plan, conn, params)
            if self.node.single:
                return rows[0] if rows else None
            return rows
        return await execute(self, self.executor, strategy, None, None)

    def prepare(self, name: str | None = None) -> PreparedQuery:
        """Plan and compile once; the result is safe to share across tasks."""
        plan, required = self._plan()
        return PreparedQuery(name, self, plan, required)

    @property
    def response_model(self) -> type[BaseModel]:
        """A pydantic model of one row this query returns (``list[q.response_model]``)."""
        return response_model(self.planner, self.planner.schema, self.node)

    def to_sql(self) -> str:
        """The SQL this query runs (several statements for the batched strategy), with
        the access rules of its view merged in when they can run without awaiting."""
        strategy = self.planner.choose(self.node, self.values, self.strategy)
        return _sql_now(self, self.executor, strategy)


@dataclass(eq=False)
class PreparedQuery:
    """A planned, compiled query; ``await q.execute({...})`` runs it with values.

    It runs with the view it was prepared on; ``with_user(user)`` and ``trusted()``
    return the same prepared query bound to another caller (no new compilation: one
    compiled plan per access rule shape is kept).
    """

    name: str | None
    query: Query
    plan: Plan
    placeholders: frozenset[str]
    executor: Executor | None = None  # None: the query's own view
    binder: Binder | None = field(default=None, repr=False)  # made once, shared by with_user

    def __post_init__(self) -> None:
        if self.binder is None:
            self.binder = Binder(self.query.planner.codecs, self.query.values, self.placeholders)
        self.bind: Binder = self.binder

    @property
    def strategy(self) -> str:
        """The strategy the plan uses ("lateral" or "batched")."""
        return self.plan.strategy

    @property
    def response_model(self) -> type[BaseModel]:
        """A pydantic model of one row this query returns (``list[q.response_model]``)."""
        return self.query.response_model

    def to_sql(self) -> str:
        """The SQL this prepared query runs (access rules merged in, as ``Query.to_sql``)."""
        return _sql_now(self.query, self.executor or self.query.executor, self.plan.strategy)

    def with_user(self, user: Any) -> PreparedQuery:
        """This prepared query run as ``user`` (its access rules see ``ctx.user = user``).

        >>> # row = await by_id.with_user(request.user).execute(id=7)
        """
        executor = self.executor or self.query.executor
        return replace(self, executor=executor._as_actor(Actor(user=user)))

    def trusted(self) -> PreparedQuery:
        """This prepared query run with no access rules (as ``db.trusted()``)."""
        executor = self.executor or self.query.executor
        return replace(self, executor=executor._as_actor(Actor(trusted=True)))

    async def execute(self, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Any:
        """Run with placeholder values (a dict or keyword arguments)."""
        given = {**(values or {}), **kwargs}
        q = self.query
        executor = self.executor or q.executor
        if q.access is None and not q.planner.has_read_hooks:
            # The hot path: no rule, no hook anywhere in this query.
            params = self.bind(given)
            async with executor.acquire_read() as conn:
                rows = await run_plan(self.plan, conn, params)
            if q.node.single:
                return rows[0] if rows else None
            return rows
        return await execute(q, executor, self.plan.strategy, given, self)


def _ruled_plan(
    q: Query, rules: ReadRules | None, strategy: str, prepared: PreparedQuery | None
) -> tuple[tuple[Plan, frozenset[str]], QueryNode, bool]:
    """The plan for one rule shape (the prepared plan when no rule restricts anything),
    the tree it runs, and whether a level of it is padded."""
    if rules is None or q.access is None:
        if prepared is not None:
            return (prepared.plan, prepared.placeholders), q.node, False
        return q.planner.plan(q.node, strategy), q.node, False
    return q.access.plan(q.planner.plan, q.node, rules, strategy)


async def _resolve(q: Query, executor: Executor, pending: list[Any]) -> ReadRules | None:
    actor = executor._actor
    if q.access is None or actor.trusted:
        return None

    def ctx_for(slug: str) -> AccessContext:
        return AccessContext(actor, "read", slug, executor, pending.append)

    return await q.access.resolve(q.planner.codecs, ctx_for)


async def execute(
    q: Query,
    executor: Executor,
    strategy: str,
    given: Mapping[str, Any] | None,
    prepared: PreparedQuery | None,
) -> Any:
    """Run a query as ``executor``'s actor: read rules merged, read hooks run."""
    actor = executor._actor
    if actor.depth:
        check_depth(actor, "read", q.node.slug)
    pending: list[Callable[[], Any]] = []
    if q.planner.has_read_hooks:
        hooks = q.planner.schema[q.node.slug].collection.hooks
        for hook in hooks.get("before_read", ()):
            ctx = AccessContext(actor, "read", q.node.slug, executor, pending.append)
            await call(hook, ctx, q.options, what=("before_read hook", q.node.slug))
    rules = await _resolve(q, executor, pending)
    (plan, required), node, padded = _ruled_plan(q, rules, strategy, prepared)
    # The caller's values are checked against the query's own placeholders: a rule may
    # fold one away (``id = :id AND false`` compiles to ``0 = 1``), never add one.
    if prepared is None:
        params = q.planner.params(q.values, given, required)
    else:
        params = prepared.bind(given)
    if rules is not None:
        params.update(rules.params)
    async with executor.acquire_read() as conn:
        rows = await run_plan(plan, conn, params)
    if padded:
        strip_padding(node, rows)
    if q.planner.has_read_hooks:
        rows = await after_read(q.planner.schema, node, rows, actor, executor, pending)
    if pending:
        await executor._settle(pending)
    if q.node.single:
        return rows[0] if rows else None
    return rows


async def after_read(
    schema: Schema,
    node: QueryNode,
    rows: list[Row],
    actor: Actor,
    executor: Executor,
    pending: list[Callable[[], Any]],
) -> list[Row]:
    """Apply ``after_read`` hooks to every row of their collection, nested rows first."""
    for name, child in node.relations:
        if not _reads_hooked(schema, child):
            continue
        for row in rows:
            value = row.get(name)
            if value is None:
                continue
            if child.single:
                row[name] = (await after_read(schema, child, [value], actor, executor, pending))[0]
            else:
                row[name] = await after_read(schema, child, value, actor, executor, pending)
    hooks = schema[node.slug].collection.hooks.get("after_read", ())
    if not hooks:
        return rows
    ctx = AccessContext(actor, "read", node.slug, executor, pending.append)
    return [await reshape(hooks, ctx, row) for row in rows]


def _reads_hooked(schema: Schema, node: QueryNode) -> bool:
    if "after_read" in schema[node.slug].collection.hooks:
        return True
    return any(_reads_hooked(schema, child) for _, child in node.relations)


def _sql_now(q: Query, executor: Executor, strategy: str) -> str:
    """The SQL of ``q`` as ``executor``'s actor runs it; the rules must not await."""
    coro = _resolve(q, executor, [])
    try:
        coro.send(None)
    except StopIteration as done:
        rules: ReadRules | None = done.value
    else:
        coro.close()
        raise QueryError(
            "an access rule of this query awaits: to_sql() cannot run it; call to_sql() on "
            "db.trusted().query... to see the SQL without rules"
        )
    return _ruled_plan(q, rules, strategy, None)[0][0].sql()


def build_query(
    planner: QueryPlanner,
    executor: Executor,
    slug: str,
    options: Mapping[str, Any],
    *,
    single: bool,
    strategy: str,
) -> Query:
    """Parse options (raising ``QueryError`` now) into a ``Query``."""
    if strategy not in STRATEGIES:
        raise QueryError(
            f"unknown strategy {show(strategy)}" + suggest(strategy, STRATEGIES, "strategies"),
            path="strategy",
        )
    node, values = parse_query(planner.schema, slug, options, single=single)
    access = ReadAccess(planner.schema, node) if planner.has_rules else None
    if access is not None and not access.ruled:
        access = None
    return Query(planner, executor, node, values, strategy, options, access)
