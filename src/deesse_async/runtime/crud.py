"""``db.<slug>``: validated create/read/update/delete/count for one collection."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import pydantic
from pydantic import BaseModel, TypeAdapter

from .._types import Row
from ..drivers.base import Connection
from ..errors import ForeignKeyViolation, NotFound, ValidationError
from .crud_statements import CollectionStatements
from .integrity import explain_delete, explain_write

__all__ = ["CollectionAPI", "Executor"]


class Executor(Protocol):
    """Where CRUD runs: the pool (``db``) or one connection (``tx``)."""

    def acquire(self) -> AbstractAsyncContextManager[Connection]:
        """A connection for statements that need no transaction."""

    def atomic(self, several_writes: bool = False) -> AbstractAsyncContextManager[Connection]:
        """A connection inside a transaction (the open one inside ``db.transaction()``).

        ``several_writes``: the operation writes more than once, so inside an open
        transaction it runs in a savepoint (all of it or none of it stays).
        """


_ID_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "int": TypeAdapter(pydantic.conint(strict=True, ge=-(2**63), le=2**63 - 1)),
    "uuid": TypeAdapter(uuid.UUID),
}


def _errors(exc: pydantic.ValidationError, prefix: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [
        {"loc": prefix + tuple(e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False)
    ]


class CollectionAPI:
    """CRUD for one collection. Get it as ``db.<slug>`` or ``tx.<slug>``."""

    __slots__ = ("_ex", "_junctions", "_s", "slug")

    def __init__(self, statements: CollectionStatements, executor: Executor) -> None:
        self._s = statements
        self._ex = executor
        self._junctions = statements.cc.junctions
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
            raise ValidationError(self.slug, op, _errors(exc, prefix)) from None
        return validated.model_dump(exclude_unset=op == "update")

    def _check_id(self, id: Any, op: str) -> Any:
        try:
            return _ID_ADAPTERS[self._s.cc.id_kind].validate_python(id)
        except pydantic.ValidationError as exc:
            raise ValidationError(self.slug, op, _errors(exc, ("id",))) from None

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

        >>> # post = await db.posts.create({"title": "Hello", "author_id": 1})
        """
        values = self._validate(self._s.cc.create_model, data, "create")
        now = dt.datetime.now(dt.UTC)
        links = any(values.get(j) for j in self._junctions)
        if links or not self._s.dialect.insert_returning:
            manage = self._ex.atomic(several_writes=links)
        else:
            manage = self._ex.acquire()
        async with manage as conn:
            return await self._insert(conn, values, now)

    async def create_many(self, items: Sequence[Mapping[str, Any] | BaseModel]) -> list[Row]:
        """Validate every item, then insert all in one transaction (all or nothing)."""
        if isinstance(items, Mapping) or not isinstance(items, Sequence):
            raise ValidationError(
                self.slug,
                "create_many",
                [{"loc": (), "msg": "expected a list of dicts", "type": "list_type"}],
            )
        validated, errors = [], []
        for i, item in enumerate(items):
            try:
                validated.append(self._validate(self._s.cc.create_model, item, "create_many", (i,)))
            except ValidationError as exc:
                errors.extend(exc.errors)
        if errors:
            raise ValidationError(self.slug, "create_many", errors)
        if not validated:
            return []
        now = dt.datetime.now(dt.UTC)
        async with self._ex.atomic(several_writes=True) as conn:
            return [await self._insert(conn, values, now) for values in validated]

    # -- read -------------------------------------------------------------------------

    async def read(self, id: Any) -> Row | None:
        """The row with primary key ``id``, or ``None``."""
        id = self._check_id(id, "read")
        async with self._ex.acquire() as conn:
            raw = await self._fetch_one(conn, id)
            if raw is None:
                return None
            return self._row(raw, await self._links(conn, id) if self._junctions else None)

    async def count(self, where: Mapping[str, Any] | None = None) -> int:
        """Number of rows matching ``where`` (a where-dict as in ``find_many``)."""
        expr, params = None, dict[str, Any]()
        if where is not None:
            expr, params = self._s.where(where)
        stmt = self._s.count(expr)
        async with self._ex.acquire() as conn:
            rows = await conn.fetch(stmt.sql, stmt.params(params))
        return int(rows[0][0])

    # -- update / delete ---------------------------------------------------------------

    async def update(self, id: Any, data: Mapping[str, Any] | BaseModel) -> Row:
        """Validate ``data`` (partial) and update the row; ``NotFound`` if it is absent."""
        id = self._check_id(id, "update")
        values = self._validate(self._s.cc.update_model, data, "update")
        links = {k: values.pop(k) or [] for k in list(values) if k in self._junctions}
        if self._s.cc.collection.timestamps:
            values["updated_at"] = dt.datetime.now(dt.UTC)
        async with self._ex.atomic(several_writes=bool(links)) as conn:
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
        """Delete the row; returns it as it was, or ``None`` if it did not exist."""
        id = self._check_id(id, "delete")
        async with self._ex.atomic() as conn:
            raw = await self._fetch_one(conn, id)
            if raw is None:
                return None
            row = self._row(raw, await self._links(conn, id) if self._junctions else None)
            stmt = self._s.delete_by_id
            try:
                await conn.execute(stmt.sql, stmt.params(self._pk(id)))
            except ForeignKeyViolation as exc:
                raise await explain_delete(self._s, conn, id, exc) from None
            return row
