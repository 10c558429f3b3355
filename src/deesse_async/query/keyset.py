"""Keyset reads: a query run a chunk at a time, each chunk starting after the last row
of the one before (``stream`` and ``find_page``).

A chunk is the caller's query tree with three changes, so the planner, both strategies
and the access rules treat it like any other ``find_many``: the order columns (the
primary key last, added when absent) are selected as hidden extras (``__key0``...), the
top-level ``where`` is ANDed with "comes after these key values", and the top-level
``limit`` is the chunk size. The "comes after" filter follows the library's one NULL
order (``clauses.order_expressions``: NULL above every value, on every backend).

No connection is held between chunks: each chunk borrows one, runs (nested relations
included, one statement per level for the chunk's rows), and gives it back before its
rows are handed out. So a consumer that stops early leaks nothing, a slow consumer pins
no connection, and it works behind a transaction-mode pooler.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from .._types import Row
from ..compile.coercion import coerce_value
from ..compile.schema import Kind, Schema
from ..drivers.base import Connection
from ..errors import QueryError
from .access import AccessContext, ReadAccess, ReadRules, call, check_depth, strip_padding
from .options import And, Cmp, Const, Filter, IsNull, Or, QueryNode, Slot, Values, show
from .planner import Plan, Query, after_read, plan_chunks, run_plan

__all__ = ["KeyColumn", "KeysetReader", "key_columns"]

KEY = "__key"  # hidden extras holding a row's key values: __key0, __key1, ...


@dataclass(frozen=True, slots=True)
class KeyColumn:
    """One column of the keyset order: its name, direction, nullability and kind."""

    name: str
    desc: bool
    nullable: bool
    kind: Kind


@dataclass(frozen=True, slots=True)
class _Column:
    """An extra selecting a column as it is (equal by name: the plan cache sees one shape)."""

    name: str

    def __call__(self, table: Any) -> Any:
        return table.c[self.name]


def key_columns(schema: Schema, node: QueryNode, what: str) -> tuple[KeyColumn, ...]:
    """The keyset order of ``node``: its ``order_by`` columns up to the primary key, the
    primary key (ascending) added when absent."""
    if callable(node.order_by):
        raise QueryError(
            f"{what} needs order_by as a dict of columns ({{'created_at': 'desc'}}), not a "
            "callable: the next chunk starts after the last row's values of those columns",
            path="order_by",
        )
    cc = schema[node.slug]
    out = []
    aggregates = {name for name, _ in node.aggregates}
    for name, desc in node.order_by:
        if name in aggregates:
            raise QueryError(
                f"{what} cannot order by the aggregate {name!r}: the next chunk starts after "
                "the last row's column values; order by columns (filtering by the aggregate "
                "in where is fine)",
                path=f"order_by.{name}",
            )
        kind = cc.columns[name].kind
        if kind == "json":
            raise QueryError(
                f"{what} cannot order by the json column {name!r} (JSON values have no "
                "order); order by other columns",
                path=f"order_by.{name}",
            )
        out.append(KeyColumn(name, desc, bool(cc.table.c[name].nullable), kind))
        if name == "id":
            return tuple(out)  # the primary key ends every tie: later columns never count
    out.append(KeyColumn("id", False, False, cc.columns["id"].kind))
    return tuple(out)


def _copy(values: Values) -> Values:
    return Values(
        items=dict(values.items),
        placeholders=dict(values.placeholders),
        counts=set(values.counts),
        prefix=values.prefix,
        paths=list(values.paths),
    )


def _beyond(col: KeyColumn, value: Any, slot: Callable[[Any], Slot]) -> Filter | None:
    """Rows strictly after ``value`` in this column alone (NULL above every value)."""
    if value is None:
        # ASC: nothing is above NULL. DESC: every value comes after the NULLs.
        return IsNull(col.name, negate=True) if col.desc else None
    after = Cmp(col.name, "lt" if col.desc else "gt", slot(value))
    if col.nullable and not col.desc:
        return Or((after, IsNull(col.name, negate=False)))
    return after


def _bound(col: KeyColumn, value: Any, slot: Callable[[Any], Slot]) -> Filter | None:
    """A range on the first column that every later row satisfies: redundant, but it lets
    an index on the order column start at ``value`` instead of filtering from the top."""
    if value is None:
        return None if col.desc else IsNull(col.name, negate=False)
    if col.desc:
        return Cmp(col.name, "lte", slot(value))
    return None if col.nullable else Cmp(col.name, "gte", slot(value))


def after_filter(keys: Sequence[KeyColumn], last: Sequence[Any], values: Values) -> Filter:
    """Rows after the row whose key values are ``last``, in the keyset order: for keys
    (a, b, id), ``a > :a OR (a = :a AND b > :b) OR (a = :a AND b = :b AND id > :id)``,
    each step written for its direction and NULL."""
    terms: list[Filter] = []
    equal: list[Filter] = []
    for i, (col, value) in enumerate(zip(keys, last, strict=True)):

        def slot(v: Any, col: KeyColumn = col, i: int = i) -> Slot:
            return values.slot(v, col.kind, f"after[{i}]")

        step = _beyond(col, value, slot)
        if step is not None:
            terms.append(And((*equal, step)) if equal else step)
        equal.append(
            IsNull(col.name, negate=False) if value is None else Cmp(col.name, "eq", slot(value))
        )
    found: Filter = Or(tuple(terms)) if len(terms) > 1 else terms[0] if terms else Const(False)
    if len(keys) == 1:
        return found  # already a range
    bound = _bound(keys[0], last[0], lambda v: values.slot(v, keys[0].kind, "after[0]"))
    return found if bound is None else And((bound, found))


def _before_the_switch(keys: Sequence[KeyColumn], last: Sequence[Any], values: Values) -> Filter:
    """The rows after ``last`` on its side of the NULL / non-NULL switch of the first
    column (``KeysetReader.fetch``)."""
    head = keys[0]
    if head.desc:  # last[0] is NULL: the NULL rows after it
        return And((IsNull(head.name, negate=False), after_filter(keys[1:], last[1:], values)))
    # last[0] is a value: the values after it
    return after_filter((replace(head, nullable=False), *keys[1:]), last, values)


def chunk_node(
    node: QueryNode,
    values: Values,
    keys: Sequence[KeyColumn],
    size: int,
    after: Callable[[Values], Filter] | None,
    *,
    keep_offset: bool,
) -> tuple[QueryNode, Values]:
    """``node`` reading ``size`` rows that pass ``after(values)`` (None: from the first
    row), with the key columns selected as hidden extras."""
    values = _copy(values)
    where = node.where
    if after is not None:
        found = after(values)
        items = where.items if isinstance(where, And) else (where,) if where is not None else ()
        where = And((*items, found)) if items else found
    hidden: list[tuple[str, Callable[[Any], Any]]] = [
        (f"{KEY}{i}", _Column(k.name)) for i, k in enumerate(keys)
    ]
    extras = (*node.extras, *hidden)
    limit = values.slot(size, "int", "limit")
    chunk = replace(
        node,
        where=where,
        extras=extras,
        limit=limit,
        offset=node.offset if keep_offset else None,
    )
    return chunk, values


class KeysetReader:
    """Runs one query a chunk at a time as its view's caller: ``before_read`` hooks and
    the read rules once (``open``), then each chunk as ``find_many`` runs it (rules merged,
    padding stripped, ``after_read`` hooks, ``on_commit`` callbacks settled)."""

    def __init__(self, q: Query, keys: tuple[KeyColumn, ...]) -> None:
        self.q = q
        self.keys = keys
        self.rules: ReadRules | None = None
        self.pending: list[Callable[[], Any]] = []
        self._access: dict[QueryNode, ReadAccess] = {}

    async def open(self) -> None:
        """Run the ``before_read`` hooks and resolve the read rules (once per read)."""
        q, executor = self.q, self.q.executor
        actor = executor._actor
        if actor.depth:
            check_depth(actor, "read", q.node.slug)

        def ctx_for(slug: str) -> AccessContext:
            return AccessContext(actor, "read", slug, executor, self.pending.append)

        if q.planner.has_read_hooks:
            for hook in q.planner.schema[q.node.slug].collection.hooks.get("before_read", ()):
                await call(
                    hook, ctx_for(q.node.slug), q.options, what=("before_read hook", q.node.slug)
                )
        if q.access is not None and not actor.trusted:
            self.rules = await q.access.resolve(q.planner.codecs, ctx_for)

    def _plan(
        self, node: QueryNode, values: Values
    ) -> tuple[Plan, frozenset[str], QueryNode, bool]:
        planner = self.q.planner
        strategy = planner.choose(node, values, self.q.strategy)
        if self.rules is None:
            plan, required = planner.plan(node, strategy)
            return plan, required, node, False
        access = self._access.get(node)
        if access is None:
            access = self._access[node] = ReadAccess(planner.schema, node)
        (plan, required), merged, padded = access.plan(planner.plan, node, self.rules, strategy)
        return plan, required, merged, padded

    async def fetch(
        self, last: Sequence[Any] | None, size: int, *, first: bool
    ) -> tuple[list[Row], list[tuple[Any, ...]]]:
        """Up to ``size`` rows after ``last`` (None: from the first row), and each row's
        key values."""
        keys, head = self.keys, self.keys[0]
        if last is None:
            return await self._read(size, None, first=first)
        if not head.nullable or head.desc != (last[0] is None):
            return await self._read(size, partial(after_filter, keys, last), first=first)
        # A nullable first column with the NULLs still ahead (ASC from a value) or the
        # values still ahead (DESC from a NULL): what follows is two ranges, read one
        # after the other, so that each is one index range scan (as one OR the database
        # would filter from the top of the index on every chunk).
        first_range = partial(_before_the_switch, keys, last)
        rows, key_values = await self._read(size, first_range, first=first)
        if len(rows) < size:
            then = IsNull(head.name, negate=head.desc)  # ASC: the NULLs; DESC: the values
            more, more_keys = await self._read(size - len(rows), lambda _: then, first=False)
            rows += more
            key_values += more_keys
        return rows, key_values

    async def _read(
        self, size: int, after: Callable[[Values], Filter] | None, *, first: bool
    ) -> tuple[list[Row], list[tuple[Any, ...]]]:
        q = self.q
        node, values = chunk_node(q.node, q.values, self.keys, size, after, keep_offset=first)
        plan, required, merged, padded = self._plan(node, values)
        params = q.planner.params(values, None, required)
        if self.rules is not None:
            params.update(self.rules.params)
        async with q.executor.acquire_read() as conn:
            rows = await run_plan(plan, conn, params)
        names = [f"{KEY}{i}" for i in range(len(self.keys))]
        key_values = [tuple(row.pop(n) for n in names) for row in rows]
        return await self._finish(rows, merged, padded), key_values

    async def _finish(self, rows: list[Row], merged: QueryNode, padded: bool) -> list[Row]:
        """A chunk as ``find_many`` hands its rows out: padding stripped, ``after_read``
        hooks run, ``on_commit`` callbacks settled."""
        q = self.q
        if padded:
            strip_padding(merged, rows)
        if q.planner.has_read_hooks:
            actor = q.executor._actor
            rows = await after_read(q.planner.schema, merged, rows, actor, q.executor, self.pending)
        if self.pending:
            pending, self.pending = self.pending, []
            await q.executor._settle(pending)
        return rows

    async def cursor_chunks(
        self, conn: Connection, size: int, limit: int | None
    ) -> AsyncGenerator[list[Row], None]:
        """The whole query (at most ``limit`` rows) as one statement read through a
        server-side cursor on ``conn``, ``size`` rows per chunk."""
        q = self.q
        node, values = q.node, _copy(q.values)
        if limit is not None:
            node = replace(node, limit=values.slot(limit, "int", "limit"))
        plan, required, merged, padded = self._plan(node, values)
        params = q.planner.params(values, None, required)
        if self.rules is not None:
            params.update(self.rules.params)
        async with aclosing(plan_chunks(plan, conn, params, size)) as chunks:
            async for rows in chunks:
                yield await self._finish(rows, merged, padded)


def check_key_value(col: KeyColumn, value: Any, path: str) -> Any:
    """A key value read back from a token, checked against its column's kind."""
    if value is None:
        if not col.nullable:
            raise QueryError(f"{col.name!r} cannot be null", path=path)
        return None
    try:
        return coerce_value(col.kind, value)
    except (TypeError, ValueError) as exc:
        raise QueryError(
            f"value {show(value)} does not fit {col.name!r} ({col.kind}): {exc}", path=path
        ) from None
