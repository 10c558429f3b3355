"""Foreign-key failures in the same words on every backend.

``tasks.project_id: no projects row has id = 99999`` for a write that points at a
missing row, ``cannot delete users 1: comments.author_id still references it`` for a
restricted delete. PostgreSQL and MySQL name the constraint (the adapters turn it into
the field); SQLite names nothing, so the row is found by probing, which SQLite allows
inside a transaction after a failed statement (PostgreSQL would not: it is never
probed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from ..compile.schema import Junction
from ..drivers.base import Connection
from ..errors import DeesseError, ForeignKeyViolation
from .crud_statements import CollectionStatements

__all__ = ["explain_delete", "explain_write"]

_NOT_RESTRICTING = ("CASCADE", "SET NULL", "SET DEFAULT")


def _missing(slug: str, key: str, target: sa.Column[Any], value: Any) -> ForeignKeyViolation:
    return ForeignKeyViolation(
        f"{slug}.{key}: no {target.table.name} row has {target.name} = {value!r}",
        collection=slug,
        field=key,
    )


async def explain_write(
    s: CollectionStatements,
    junctions: Mapping[str, Junction],
    conn: Connection,
    values: Mapping[str, Any],
    exc: ForeignKeyViolation,
) -> ForeignKeyViolation:
    """The failure of an insert/update naming the field and the missing value."""
    slug, fks = s.cc.slug, s.foreign_keys()
    key = exc.field
    if key in fks and values.get(key) is not None:  # the database named the field
        return _missing(slug, key, fks[key], values[key])
    if key is not None and key not in junctions:
        return exc
    if key is not None and len(ids := list(values.get(key) or ())) == 1:
        return _missing(slug, key, _junction_target(junctions[key]), ids[0])
    checks = [
        (k, v, col) for k, col in fks.items() if key is None and (v := values.get(k)) is not None
    ]
    checks += [
        (name, t, _junction_target(j))
        for name, j in junctions.items()
        if key in (None, name)
        for t in values.get(name) or ()
    ]
    try:
        return await _probe(s, junctions, conn, checks) or exc
    except DeesseError:  # PostgreSQL: the failed statement aborted the transaction
        return exc


async def _probe(
    s: CollectionStatements,
    junctions: Mapping[str, Junction],
    conn: Connection,
    checks: list[tuple[str, Any, sa.Column[Any]]],
) -> ForeignKeyViolation | None:
    for key, value, target in checks:
        kind = s.cc.columns[key].kind if key in s.cc.columns else junctions[key].target_kind
        stmt = s.exists(target)
        if not await conn.fetch(stmt.sql, stmt.params({"v": s.codecs.encode(kind, value)})):
            return _missing(s.cc.slug, key, target, value)
    return None


def _junction_target(j: Junction) -> sa.Column[Any]:
    column: sa.Column[Any] = next(iter(j.table.c[j.target_column].foreign_keys)).column
    return column


async def explain_delete(
    s: CollectionStatements, conn: Connection, id: Any, exc: ForeignKeyViolation
) -> ForeignKeyViolation:
    """The failure of a restricted delete naming a column that still references the row."""
    slug, field = exc.collection, exc.field
    if slug is None or field is None:
        slug, field = await _referencing(s, conn, id) or (slug, field)
    where = f"{slug}.{field}" if slug and field else "other rows"
    verb = "still references" if slug and field else "still reference"
    return ForeignKeyViolation(
        f"cannot delete {s.cc.slug} {id!r}: {where} {verb} it; delete or re-link those rows "
        "first, or use on_delete='cascade'",
        collection=slug,
        field=field,
    )


async def _referencing(
    s: CollectionStatements, conn: Connection, id: Any
) -> tuple[str, str] | None:
    """The first restricting column (table order) holding ``id`` (SQLite names none)."""
    value = s.codecs.encode(s.cc.columns["id"].kind, id)
    for table in s.table.metadata.sorted_tables:
        for column in table.columns:
            for fk in column.foreign_keys:
                if fk.column.table is not s.table or (fk.ondelete or "").upper() in (
                    _NOT_RESTRICTING
                ):
                    continue
                stmt = s.exists(column)
                if await conn.fetch(stmt.sql, stmt.params({"v": value})):
                    return table.name, column.name
    return None
