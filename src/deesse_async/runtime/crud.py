"""``db.<slug>``: validated create/read/update/delete/count for one collection."""

from __future__ import annotations

import datetime as dt
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import pydantic
from pydantic import BaseModel, TypeAdapter

from .._types import Row
from ..compile.coercion import CoercionError, coerce_value
from ..drivers.base import Connection, row_builder
from ..errors import (
    AccessDenied,
    ConfigError,
    DatabaseError,
    ForeignKeyViolation,
    NotFound,
    ValidationError,
)
from ..query.access import (
    AccessContext,
    Actor,
    Operation,
    call,
    check_depth,
    field_allowed,
    reshape,
    rule_filter,
)
from ..query.options import Const, suggest
from .crud_statements import CollectionStatements
from .integrity import explain_delete, explain_write

__all__ = ["CollectionAPI", "Executor"]


class TransactionView(Protocol):
    """The transaction an operation runs in (``Transaction`` in database.py)."""

    _actor: Actor

    def _connection(self) -> Connection: ...

    def _as_actor(self, actor: Actor) -> Any: ...

    async def _settle(self, callbacks: list[Callable[[], Any]]) -> None: ...


class Executor(Protocol):
    """Where CRUD runs: a view of the database (``db``, ``db.with_user(u)``,
    ``db.trusted()``) or of a transaction (``tx``), with the actor its rules see."""

    _actor: Actor
    _transactional: bool  # an open transaction (``tx``), not a database view

    def acquire(self) -> AbstractAsyncContextManager[Connection]:
        """A connection for writes that need no transaction (the primary's)."""

    def acquire_read(self) -> AbstractAsyncContextManager[Connection]:
        """A connection for a read (a replica's where runtime/routing.py allows)."""

    def atomic(self, several_writes: bool = False) -> AbstractAsyncContextManager[Any]:
        """A transaction (``TransactionView``; the open one inside ``db.transaction()``).

        ``several_writes``: the operation writes more than once, so inside an open
        transaction it runs in a savepoint (all of it or none of it stays).
        """

    def _as_actor(self, actor: Actor) -> Any: ...

    async def _settle(self, callbacks: list[Callable[[], Any]]) -> None: ...


def _errors(
    exc: pydantic.ValidationError, prefix: tuple[Any, ...], model: type[BaseModel]
) -> list[dict[str, Any]]:
    out = []
    for e in exc.errors(include_url=False):
        msg = e["msg"]
        if e["type"] == "extra_forbidden" and len(e["loc"]) == 1:
            fields = [f.alias or n for n, f in model.model_fields.items()]  # "copy": an alias
            key = str(e["loc"][0])
            msg = f"unknown field {key!r}" + suggest(key, fields, "fields")
        out.append({"loc": prefix + tuple(e["loc"]), "msg": msg, "type": e["type"]})
    return out


class CollectionAPI:
    """CRUD for one collection. Get it as ``db.<slug>`` or ``tx.<slug>``."""

    __slots__ = ("_ex", "_guard", "_junctions", "_s", "slug")

    def __init__(self, statements: CollectionStatements, executor: Executor) -> None:
        self._s = statements
        self._ex = executor
        self._junctions = statements.cc.junctions
        self._guard = statements.guard
        self.slug = statements.cc.slug

    # -- validation -------------------------------------------------------------------

    def _validate(
        self, model: type[BaseModel], data: Any, op: str, prefix: tuple[Any, ...] = ()
    ) -> dict[str, Any]:
        if isinstance(data, BaseModel):
            data = data.model_dump(exclude_unset=True)
        if not isinstance(data, Mapping):
            raise ValidationError(
                self.slug,
                op,
                [
                    {
                        "loc": prefix,
                        "msg": f"expected a dict, got {type(data).__name__}",
                        "type": "dict_type",
                    }
                ],
            )
        try:
            validated = model.model_validate(data)
        except pydantic.ValidationError as exc:
            raise ValidationError(self.slug, op, _errors(exc, prefix, model)) from None
        return validated.model_dump(exclude_unset=op == "update")

    def _check_id(self, id: Any, op: str) -> Any:
        # The coercion rule of every value (compile/coercion.py): "7" is the id 7.
        try:
            return coerce_value(self._s.cc.id_kind, id)
        except ValueError as exc:
            type_ = exc.type if isinstance(exc, CoercionError) else "value_error"
            raise ValidationError(
                self.slug, op, [{"loc": ("id",), "msg": str(exc), "type": type_}]
            ) from None

    def _pk(self, id: Any) -> dict[str, Any]:
        return {"pk": self._s.codecs.encode(self._s.cc.id_kind, id)}

    # -- rows -------------------------------------------------------------------------

    def _row(self, raw: Any, links: Mapping[str, list[Any]] | None = None) -> Row:
        row = dict(zip(self._s.column_names, self._s.decode(raw), strict=True))
        if not self._junctions:
            return row
        links = links or {}
        return {
            k: links.get(k, []) if k in self._junctions else row[k] for k in self._s.output_keys
        }

    async def _links(self, conn: Connection, id: Any) -> dict[str, list[Any]]:
        out = {}
        for name, j in self._junctions.items():
            stmt = self._s.links_select(j)
            rows = await conn.fetch(stmt.sql, stmt.params(self._pk(id)))
            decode = self._s.codecs.decoders[j.target_kind]
            out[name] = [decode(r[0]) if decode else r[0] for r in rows]
        return out

    async def _set_links(self, conn: Connection, id: Any, links: Mapping[str, Any]) -> None:
        encode = self._s.codecs.encode
        for name, ids in links.items():
            j = self._junctions[name]
            delete = self._s.links_delete(j)
            await conn.execute(delete.sql, delete.params(self._pk(id)))
            if ids:
                insert = self._s.links_insert(j)
                pk = self._pk(id)["pk"]
                params = [
                    insert.params({"pk": pk, "target": encode(j.target_kind, t)}) for t in ids
                ]
                await conn.executemany(insert.sql, params)

    async def _fetch_one(self, conn: Connection, id: Any) -> Any:
        stmt = self._s.select_by_id
        rows = await conn.fetch(stmt.sql, stmt.params(self._pk(id)))
        return rows[0] if rows else None

    # -- create -----------------------------------------------------------------------

    def _insert_values(
        self, values: dict[str, Any], now: dt.datetime
    ) -> tuple[Any, dict[str, Any]]:
        cc = self._s.cc
        new_id = uuid.uuid4() if cc.id_kind == "uuid" else None
        system = {"id": new_id, "created_at": now, "updated_at": now}
        encode = self._s.codecs.encode
        params = {}
        for name in self._s.insert_columns:
            value = system[name] if cc.columns[name].field is None else values.get(name)
            params[f"v_{name}"] = encode(cc.columns[name].kind, value)
        return new_id, params

    async def _explain_fk(
        self, conn: Connection, values: Mapping[str, Any], exc: ForeignKeyViolation
    ) -> ForeignKeyViolation:
        """Name the field and the missing value, the same way on every backend."""
        return await explain_write(self._s, self._junctions, conn, values, exc)

    async def _insert(self, conn: Connection, values: dict[str, Any], now: dt.datetime) -> Row:
        try:
            return await self._insert_row(conn, dict(values), now)
        except ForeignKeyViolation as exc:
            raise await self._explain_fk(conn, values, exc) from None

    async def _insert_row(self, conn: Connection, values: dict[str, Any], now: dt.datetime) -> Row:
        links = {k: values.pop(k) for k in list(values) if k in self._junctions}
        new_id, params = self._insert_values(values, now)
        stmt = self._s.insert
        if self._s.dialect.insert_returning:
            raw = (await conn.fetch(stmt.sql, stmt.params(params)))[0]
        else:
            result = await conn.execute(stmt.sql, stmt.params(params))
            raw = await self._fetch_one(conn, new_id if new_id is not None else result.lastrowid)
        row = self._row(raw)
        given = {k: v for k, v in links.items() if v is not None}
        if given:
            await self._set_links(conn, row["id"], given)
            row = self._row(raw, await self._links(conn, row["id"]))
        return row

    async def create(self, data: Mapping[str, Any] | BaseModel) -> Row:
        """Validate ``data`` and insert one row; returns the stored row.

        Access rules and hooks of the collection apply (docs/access.md): a denied
        create raises ``AccessDenied`` with nothing written.

        >>> # post = await db.posts.create({"title": "Hello", "author_id": 1})
        """
        actor = self._ex._actor
        if self._guard.plain("create", actor):
            values = self._validate(self._s.cc.create_model, data, "create")
            now = dt.datetime.now(dt.UTC)
            links = any(values.get(j) for j in self._junctions)
            if links or not self._s.dialect.insert_returning:
                async with self._ex.atomic(several_writes=links) as tx:
                    return await self._insert(tx._connection(), values, now)
            async with self._ex.acquire() as conn:
                return await self._insert(conn, values, now)
        check_depth(actor, "create", self.slug)
        given = _given_keys(data)
        values = self._validate(self._s.cc.create_model, data, "create")
        async with self._ex.atomic(several_writes=True) as tx:
            op = _Operation(self, tx, actor, "create")
            row = await op.create(values, given)
        return row

    async def create_many(self, items: Sequence[Mapping[str, Any] | BaseModel]) -> list[Row]:
        """Validate every item, then insert all in one transaction (all or nothing)."""
        if isinstance(items, Mapping) or not isinstance(items, Sequence):
            raise ValidationError(
                self.slug,
                "create_many",
                [{"loc": (), "msg": "expected a list of dicts", "type": "list_type"}],
            )
        validated = self._validate_many(items)
        if not validated:
            return []
        actor = self._ex._actor
        if self._guard.plain("create", actor):
            now = dt.datetime.now(dt.UTC)
            if self._s.insert_many is not None:
                try:
                    return await self._insert_many(validated, now)
                except ForeignKeyViolation:
                    # Rolled back. The database names the field at best, never the row
                    # or the value (_explain_fk needs them): one row at a time, the
                    # failing row fails as a single create does and names both.
                    pass
            return await self._insert_each(validated, now)
        check_depth(actor, "create", self.slug)
        async with self._ex.atomic(several_writes=True) as tx:
            op = _Operation(self, tx, actor, "create")
            return [
                await op.create(values, _given_keys(item))
                for values, item in zip(validated, items, strict=True)
            ]

    def _validate_many(self, items: Sequence[Any]) -> list[dict[str, Any]]:
        """Every item validated, or one ``ValidationError`` listing every problem
        (``loc`` = (index, field, ...))."""
        model = self._s.cc.create_model
        if all(type(item) is dict for item in items):
            # One pydantic call for the list (half the time of one call per item); the
            # values are model_dump()'s, item by item.
            adapter = _LIST_ADAPTERS.get(self._s)
            if adapter is None:
                adapter = _LIST_ADAPTERS[self._s] = TypeAdapter(list[model])  # type: ignore[valid-type]
            try:
                dumped: list[dict[str, Any]] = adapter.dump_python(
                    adapter.validate_python(items if isinstance(items, list) else list(items))
                )
                return dumped
            except pydantic.ValidationError:
                pass  # the errors, worded as below
        validated, errors = [], []
        for i, item in enumerate(items):
            try:
                validated.append(self._validate(model, item, "create_many", (i,)))
            except ValidationError as exc:
                errors.extend(exc.errors)
        if errors:
            raise ValidationError(self.slug, "create_many", errors)
        return validated

    async def _insert_each(self, validated: list[dict[str, Any]], now: dt.datetime) -> list[Row]:
        """One INSERT per row, in one transaction (a savepoint inside one)."""
        async with self._ex.atomic(several_writes=True) as tx:
            conn = tx._connection()
            return [await self._insert(conn, values, now) for values in validated]

    async def _insert_many(self, validated: list[dict[str, Any]], now: dt.datetime) -> list[Row]:
        """Multi-row INSERT ... RETURNING, ``max_rows`` rows a statement (within the
        dialect's bind parameter limit and ``STATEMENT_CHARS``), then the many-to-many
        links; the rows in input order.

        One statement without links outside a transaction needs no transaction (a
        statement is atomic); anything more runs in one (a savepoint inside one).
        """
        many = self._s.insert_many
        assert many is not None
        chunk = many.max_rows
        junctions = self._junctions
        links = [{k: v for k in junctions if (v := values.get(k))} for values in validated]
        if len(validated) <= chunk and not any(links) and not self._ex._transactional:
            async with self._ex.acquire() as conn:
                return await self._insert_chunk(conn, validated, now)
        async with self._ex.atomic(several_writes=True) as tx:
            conn = tx._connection()
            rows: list[Row] = []
            for start in range(0, len(validated), chunk):
                rows += await self._insert_chunk(conn, validated[start : start + chunk], now)
            if any(links):
                await self._insert_links(conn, rows, links)
            return rows

    async def _insert_chunk(
        self, conn: Connection, chunk: list[dict[str, Any]], now: dt.datetime
    ) -> list[Row]:
        s = self._s
        many = s.insert_many
        assert many is not None
        params, new_ids = self._many_params(chunk, now)
        raws = await conn.fetch(many.sql(len(chunk)), params)
        if len(raws) != len(chunk):
            raise DatabaseError(
                f"create_many on {self.slug!r}: the database returned {len(raws)} rows for "
                f"{len(chunk)} inserted"
            )
        rows = list(map(_many_builder(self._s), raws))
        if self._junctions:  # their id lists in their fields' places (_insert_links fills)
            rows = [self._row_of(row) for row in rows]
        # RETURNING lists the rows in no promised order. A generated id is ours: put
        # each row back in its place; an integer id grows row by row in VALUES order.
        if new_ids is not None:
            by_id = {row["id"]: row for row in rows}
            return [by_id[i] for i in new_ids]
        rows.sort(key=_by_id)
        return rows

    def _many_params(
        self, chunk: list[dict[str, Any]], now: dt.datetime
    ) -> tuple[list[Any], list[uuid.UUID] | None]:
        """The chunk's parameters row after row in the one-row INSERT's order, and the
        ids generated for it (None: the database numbers the rows)."""
        cc, encoders = self._s.cc, self._s.codecs.encoders
        ids = [uuid.uuid4() for _ in chunk] if cc.id_kind == "uuid" else None
        # Per column: the field's key and encoder, or a system value (key None).
        plan: list[tuple[str | None, Any, Any]] = []
        for name in (n[2:] for n in self._s.insert.names):  # "v_<column>"
            info = cc.columns[name]
            if info.field is not None:
                plan.append((name, encoders[info.kind], None))
            elif name == "id":
                plan.append((None, None, _NEW_ID))
            else:  # created_at, updated_at
                plan.append((None, None, encoders[info.kind](now)))
        id_encode = encoders[cc.columns["id"].kind]
        params: list[Any] = []
        append = params.append
        for r, values in enumerate(chunk):
            for key, encode, system in plan:
                if key is not None:
                    v = values.get(key)
                    append(None if v is None else encode(v))
                elif system is _NEW_ID:
                    append(id_encode(ids[r]))  # type: ignore[index]
                else:
                    append(system)
        return params, ids

    def _row_of(self, row: dict[str, Any]) -> Row:
        return {k: [] if k in self._junctions else row[k] for k in self._s.output_keys}

    async def _insert_links(
        self, conn: Connection, rows: list[Row], links: list[dict[str, list[Any]]]
    ) -> None:
        """The many-to-many links of new rows, one executemany per junction; each row
        gets its id lists as ``read`` returns them, lowest id first: integers, and UUIDs
        on the dialects with RETURNING (PostgreSQL compares a uuid's bytes, SQLite its
        hex text), sort as Python sorts them. (MariaDB's UUID type would not: it has no
        RETURNING, so it never comes here.)"""
        s, encode = self._s, self._s.codecs.encode
        id_kind = s.cc.id_kind
        for name, j in self._junctions.items():
            insert = s.links_insert(j)
            params = [
                insert.params(
                    {"pk": encode(id_kind, row["id"]), "target": encode(j.target_kind, t)}
                )
                for row, given in zip(rows, links, strict=True)
                for t in given.get(name) or ()
            ]
            if params:
                await conn.executemany(insert.sql, params)
        for row, given in zip(rows, links, strict=True):
            for name in given:
                row[name] = sorted(given[name])

    # -- read -------------------------------------------------------------------------

    async def read(self, id: Any) -> Row | None:
        """The row with primary key ``id``, or ``None`` (also when the caller may not
        read it)."""
        id = self._check_id(id, "read")
        actor = self._ex._actor
        if self._guard.plain("read", actor):
            async with self._ex.acquire_read() as conn:
                raw = await self._fetch_one(conn, id)
                if raw is None:
                    return None
                return self._row(raw, await self._links(conn, id) if self._junctions else None)
        check_depth(actor, "read", self.slug)
        op = _Operation(self, self._ex, actor, "read")
        await op.hooks("before_read", {"where": {"id": id}})
        f, params, hidden = await op.read_filter(None)
        async with self._ex.acquire_read() as conn:
            if f is None:
                raw = await self._fetch_one(conn, id)
            else:
                stmt = self._s.filtered("select", f)
                rows = await conn.fetch(stmt.sql, stmt.params({**params, **self._pk(id)}))
                raw = rows[0] if rows else None
            if raw is None:
                row = None
            else:
                row = self._row(raw, await self._links(conn, id) if self._junctions else None)
        if row is not None:
            row = await op.shape(_without(row, hidden))
        await self._ex._settle(op.pending)
        return row

    async def count(self, where: Mapping[str, Any] | None = None) -> int:
        """Number of rows matching ``where`` (a where-dict as in ``find_many``) that the
        caller may read."""
        actor = self._ex._actor
        op = _Operation(self, self._ex, actor, "read")
        if not self._guard.plain("read", actor):
            check_depth(actor, "read", self.slug)
            await op.hooks("before_read", {"where": where})
        f, params, _ = await op.read_filter(where)
        stmt = self._s.filtered("count", f)
        async with self._ex.acquire_read() as conn:
            rows = await conn.fetch(stmt.sql, stmt.params(params))
        await self._ex._settle(op.pending)
        return int(rows[0][0])

    # -- update / delete ---------------------------------------------------------------

    async def update(self, id: Any, data: Mapping[str, Any] | BaseModel) -> Row:
        """Validate ``data`` (partial) and update the row; ``NotFound`` if it is absent
        (or the caller may not read it), ``AccessDenied`` if the update rule refuses it."""
        id = self._check_id(id, "update")
        actor = self._ex._actor
        if not self._guard.plain("update", actor):
            check_depth(actor, "update", self.slug)
            given = _given_keys(data)
            values = self._validate(self._s.cc.update_model, data, "update")
            async with self._ex.atomic(several_writes=True) as tx:
                row = await _Operation(self, tx, actor, "update").update(id, values, given)
            return row
        values = self._validate(self._s.cc.update_model, data, "update")
        links = {k: values.pop(k) or [] for k in list(values) if k in self._junctions}
        async with self._ex.atomic(several_writes=bool(links)) as tx:
            return await self._update(tx._connection(), id, values, links)

    async def _update(
        self, conn: Connection, id: Any, values: dict[str, Any], links: dict[str, Any]
    ) -> Row:
        if self._s.cc.collection.timestamps:
            values["updated_at"] = dt.datetime.now(dt.UTC)
        try:
            raw = await self._update_row(conn, id, values)
            if raw is None:
                raise NotFound(self.slug, id)
            if links:
                await self._set_links(conn, id, links)
        except ForeignKeyViolation as exc:
            raise await self._explain_fk(conn, {**values, **links}, exc) from None
        return self._row(raw, await self._links(conn, id) if self._junctions else None)

    async def _update_row(self, conn: Connection, id: Any, values: dict[str, Any]) -> Any:
        if not values:
            return await self._fetch_one(conn, id)
        cc, encode = self._s.cc, self._s.codecs.encode
        stmt = self._s.update(frozenset(values))
        params = {f"v_{k}": encode(cc.columns[k].kind, v) for k, v in values.items()}
        params.update(self._pk(id))
        if self._s.dialect.update_returning:
            rows = await conn.fetch(stmt.sql, stmt.params(params))
            return rows[0] if rows else None
        await conn.execute(stmt.sql, stmt.params(params))
        return await self._fetch_one(conn, id)

    async def delete(self, id: Any) -> Row | None:
        """Delete the row; returns it as it was, or ``None`` if it did not exist (or the
        caller may not read it); ``AccessDenied`` if the delete rule refuses it."""
        id = self._check_id(id, "delete")
        actor = self._ex._actor
        if not self._guard.plain("delete", actor):
            check_depth(actor, "delete", self.slug)
            async with self._ex.atomic(several_writes=True) as tx:
                row = await _Operation(self, tx, actor, "delete").delete(id)
            return row
        async with self._ex.atomic() as tx:
            conn = tx._connection()
            raw = await self._fetch_one(conn, id)
            if raw is None:
                return None
            row = self._row(raw, await self._links(conn, id) if self._junctions else None)
            await self._delete_row(conn, id)
            return row

    async def _delete_row(self, conn: Connection, id: Any) -> None:
        stmt = self._s.delete_by_id
        try:
            await conn.execute(stmt.sql, stmt.params(self._pk(id)))
        except ForeignKeyViolation as exc:
            raise await explain_delete(self._s, conn, id, exc) from None

    async def _matches(self, conn: Connection, id: Any, f: Any, params: dict[str, Any]) -> bool:
        """Whether row ``id`` matches filter ``f`` (locking it where the dialect can)."""
        stmt = self._s.filtered("match", f)
        return bool(await conn.fetch(stmt.sql, stmt.params({**params, **self._pk(id)})))


# A collection's create model as a list (create_many), made on first use.
_LIST_ADAPTERS: weakref.WeakKeyDictionary[CollectionStatements, TypeAdapter[Any]] = (
    weakref.WeakKeyDictionary()
)


_NEW_ID = object()  # marks the id column in a create_many parameter plan
# A collection's create_many row builder, made on first use.
_MANY_BUILDERS: weakref.WeakKeyDictionary[CollectionStatements, Callable[[Any], dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


def _many_builder(s: CollectionStatements) -> Callable[[Any], dict[str, Any]]:
    """Driver row -> {column: value}, generated once (``row_builder``); timestamps are
    decoded once per distinct value: every row of one ``create_many`` has the same
    ``created_at`` and ``updated_at``, and SQLite keeps them as text to parse."""
    build = _MANY_BUILDERS.get(s)
    if build is None:
        decoders = [s.codecs.decoders[kind] for kind in s.kinds]
        decoders = [
            _remembering(fn) if fn is not None and kind == "datetime" else fn
            for fn, kind in zip(decoders, s.kinds, strict=True)
        ]
        build = _MANY_BUILDERS[s] = row_builder(s.column_names, decoders)
    return build


def _remembering(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` that returns its last result again for the same raw value (immutable
    results only: a datetime)."""
    last: list[tuple[Any, Any]] = [(None, None)]

    def decode(value: Any) -> Any:
        raw, result = last[0]
        if type(value) is type(raw) and value == raw:
            return result
        result = fn(value)
        last[0] = (value, result)
        return result

    return decode


def _by_id(row: Row) -> Any:
    return row["id"]


def _given_keys(data: Any) -> frozenset[str]:
    """The keys a caller wrote (field write rules judge these, not defaults)."""
    if isinstance(data, BaseModel):
        fields = type(data).model_fields  # by field name ("copy" is an alias)
        return frozenset(fields[n].alias or n for n in data.model_fields_set)
    if isinstance(data, Mapping):
        return frozenset(k for k in data if isinstance(k, str))
    return frozenset()


def _without(row: Row, hidden: frozenset[str]) -> Row:
    return {k: v for k, v in row.items() if k not in hidden} if hidden else row


class _Operation:
    """One CRUD operation under access rules and hooks (docs/access.md)."""

    def __init__(
        self,
        api: CollectionAPI,
        view: Any,
        actor: Actor,
        operation: Operation,
        pending: list[Callable[[], Any]] | None = None,
    ) -> None:
        self.api = api
        self.view = view  # the transaction of a write, the caller's view for a read
        self.actor = actor
        self.slug = api.slug
        self.cc = api._s.cc
        # ctx.on_commit callbacks, handed to the transaction when the operation succeeds
        self.pending: list[Callable[[], Any]] = [] if pending is None else pending
        self.ctx = AccessContext(actor, operation, self.slug, view, self.pending.append)

    async def hooks(self, name: str, *args: Any) -> list[Any]:
        """Run the collection's ``name`` hooks in order; their results."""
        return [
            await call(hook, self.ctx, *args, what=(f"{name} hook", self.slug))
            for hook in self.cc.collection.hooks.get(name, ())
        ]

    async def read_filter(self, where: Any) -> tuple[Any, dict[str, Any], frozenset[str]]:
        planner = self.api._s.planner
        return await planner.read_filter(self.slug, where, self.view, self.pending)

    async def rule(self, operation: Operation) -> tuple[Any, dict[str, Any]]:
        """The collection rule for a write: ``AccessDenied`` if it permits nothing."""
        if self.actor.trusted:
            return None, {}
        f, values = await rule_filter(
            self.api._s.planner.schema, self.slug, operation, self.ctx, "a0_"
        )
        if f == Const(False):
            raise AccessDenied(f"{operation} on {self.slug!r} is denied by its access rule")
        encode = self.api._s.codecs.encode
        params = {
            k: encode(kind, v) if kind else v
            for k, (v, kind) in (values.items.items() if values else ())
        }
        return f, params

    async def check_fields(self, operation: Operation, given: frozenset[str]) -> None:
        """``AccessDenied`` if the caller writes a field its rule refuses."""
        if self.actor.trusted:
            return
        for name in sorted(given & self.cc.collection.fields.keys()):
            if not await field_allowed(self.cc, name, operation, self.ctx):
                raise AccessDenied(
                    f"{operation} on {self.slug!r}: writing the field {name!r} is denied by its "
                    "access rule; leave it out of the data"
                )

    async def change(self, model: Any, values: dict[str, Any]) -> dict[str, Any]:
        """``before_change`` hooks: a returned dict replaces the data, validated again."""
        for hook in self.cc.collection.hooks.get("before_change", ()):
            out = await call(hook, self.ctx, values, what=("before_change hook", self.slug))
            if out is not None and not isinstance(out, dict):
                raise ConfigError(
                    f"the before_change hook {getattr(hook, '__qualname__', hook)!r} of "
                    f"{self.slug!r} returned {type(out).__name__}; return the data (a dict) "
                    "or None"
                )
            if out is not None:
                values = self.api._validate(model, out, self.ctx.operation)
        return values

    async def shape(self, row: Row) -> Row:
        """``after_read`` hooks on a row the caller gets."""
        return await reshape(self.cc.collection.hooks.get("after_read", ()), self.ctx, row)

    async def returned(self, conn: Connection, row: Row) -> Row:
        """A written row as the caller may see it: only its id when the read rule hides
        it, without hidden fields, reshaped by ``after_read``."""
        reader = _Operation(self.api, self.view, self.actor, "read", self.pending)
        f, params, hidden = await reader.read_filter(None)
        if f is not None and not await self.api._matches(conn, row["id"], f, params):
            return {"id": row["id"]}
        return await reader.shape(_without(row, hidden))

    async def readable(self, conn: Connection, id: Any) -> bool:
        f, params, _ = await self.read_filter(None)
        return f is None or await self.api._matches(conn, id, f, params)

    async def finish(self) -> None:
        """Hand the operation's ``on_commit`` callbacks to its transaction (once: the
        same operation object serves every row of a ``create_many``)."""
        callbacks = self.pending[:]
        self.pending.clear()
        await self.view._settle(callbacks)

    # -- the writes --------------------------------------------------------------------

    async def create(self, values: dict[str, Any], given: frozenset[str]) -> Row:
        await self.check_fields("create", given)
        f, params = await self.rule("create")
        values = await self.change(self.cc.create_model, values)
        conn = self.view._connection()
        row = await self.api._insert(conn, values, dt.datetime.now(dt.UTC))
        if f is not None and not await self.api._matches(conn, row["id"], f, params):
            raise AccessDenied(
                f"create on {self.slug!r} is denied by its access rule (the new row does not "
                "match the rule's where-dict); nothing was written"
            )
        await self.hooks("after_change", row)
        out = await self.returned(conn, row)
        await self.finish()
        return out

    async def update(self, id: Any, values: dict[str, Any], given: frozenset[str]) -> Row:
        await self.check_fields("update", given)
        f, params = await self.rule("update")
        conn = self.view._connection()
        if f is not None and not await self.api._matches(conn, id, f, params):
            if await self.readable(conn, id) and await self.api._fetch_one(conn, id) is not None:
                raise AccessDenied(
                    f"update of {self.slug!r} id {id!r} is denied by its access rule"
                )
            raise NotFound(self.slug, id)
        if not await self.readable(conn, id):
            raise NotFound(self.slug, id)
        values = await self.change(self.cc.update_model, values)
        links = {k: values.pop(k) or [] for k in list(values) if k in self.api._junctions}
        row = await self.api._update(conn, id, values, links)
        await self.hooks("after_change", row)
        out = await self.returned(conn, row)
        await self.finish()
        return out

    async def delete(self, id: Any) -> Row | None:
        f, params = await self.rule("delete")
        conn = self.view._connection()
        raw = await self.api._fetch_one(conn, id)
        if raw is None or not await self.readable(conn, id):
            return None
        if f is not None and not await self.api._matches(conn, id, f, params):
            raise AccessDenied(f"delete of {self.slug!r} id {id!r} is denied by its access rule")
        await self.hooks("before_delete", id)
        api = self.api
        row = api._row(raw, await api._links(conn, id) if api._junctions else None)
        out = await self.returned(conn, row)
        await api._delete_row(conn, id)
        await self.hooks("after_delete", row)
        await self.finish()
        return out
