"""Only our tables are managed: the collections' tables and those this library created.

A table another app (or alembic, or a person) made in the same database is never planned,
dropped or held against the developer's own changes; ``define_config(manage=...)`` widens
or narrows what is managed. Every test runs on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from deesse_async import (
    ConfigError,
    DataLossError,
    collection,
    define_config,
    field,
    relation,
    required,
    text,
)
from deesse_async.runtime.schema_connections import schema_connection
from deesse_async.sync.registry import REGISTRY_TABLE
from tests.sync.conftest import Version, fetch, snapshot

pytestmark = pytest.mark.anyio

Items = collection(slug="items", fields={"name": required(field(type=text(max=40)))})
Tags = collection(slug="tags", fields={"label": field(type=text(max=40))})
TaggedItems = collection(
    slug="items",
    fields={
        "name": required(field(type=text(max=40))),
        "tags": field(type=relation("tags", many=True)),
    },
)
LEGACY = "CREATE TABLE legacy_orders (id INTEGER PRIMARY KEY, total INTEGER NOT NULL)"


async def execute(db: Any, *statements: str) -> None:
    async with schema_connection(db.url, write=True) as conn:
        for sql in statements:
            await conn.exec_driver_sql(sql)
        await conn.commit()


async def tables(db: Any) -> set[str]:
    async with schema_connection(db.url, write=False) as conn:

        def names(c: Any) -> set[str]:
            import sqlalchemy as sa

            return set(sa.inspect(c).get_table_names())

        return await conn.run_sync(names)


async def registered(db: Any) -> list[str]:
    return sorted(row[0] for row in await fetch(db, f"SELECT name FROM {REGISTRY_TABLE}"))


def sql_of(plan: Any) -> str:
    return "\n".join(s.sql for s in plan.statements)


async def with_legacy(version: Version) -> Any:
    bare = version([])
    await execute(bare, LEGACY, "INSERT INTO legacy_orders (id, total) VALUES (1, 42)")
    return bare


async def test_a_foreign_table_with_rows_is_never_planned_or_dropped(version: Version) -> None:
    await with_legacy(version)
    db = version([Items])
    plan = await db.plan()
    assert "legacy_orders" not in sql_of(plan)
    assert not plan.has_data_loss and plan.created_tables == ["items"]
    await db.push()
    assert await fetch(db, "SELECT id, total FROM legacy_orders") == [(1, 42)]
    assert (await db.plan()).is_empty
    # A later change of our own is applied at once, not held behind their table.
    v2 = version([TaggedItems, Tags])
    plan = await v2.push()
    assert not plan.has_data_loss and "legacy_orders" not in sql_of(plan)
    assert await fetch(db, "SELECT id, total FROM legacy_orders") == [(1, 42)]
    assert await registered(db) == ["items", "items_tags", "tags"]
    assert REGISTRY_TABLE not in sql_of(await v2.plan())


async def test_a_removed_collection_is_still_dropped_after_confirmation(
    version: Version,
) -> None:
    await with_legacy(version)
    v1 = version([TaggedItems, Tags])
    await v1.push()
    await v1.connect()
    tag = await v1.tags.create({"label": "red"})
    await v1.items.create({"name": "a", "tags": [tag["id"]]})

    v2 = version([Items])
    plan = await v2.plan()
    dropped = [s.sql for s in plan.statements if s.sql.upper().startswith("DROP TABLE")]
    assert sorted(dropped) == ["DROP TABLE items_tags", "DROP TABLE tags"]
    with pytest.raises(DataLossError):
        await v2.push()
    assert {"tags", "items_tags"} <= await tables(v2)  # refused: nothing changed
    await v2.push(accept_data_loss=True)
    assert await tables(v2) == {"items", "legacy_orders", REGISTRY_TABLE}
    assert await registered(v2) == ["items"]
    assert (await v2.plan()).is_empty


async def test_a_database_pushed_before_the_registry_existed_is_adopted(
    version: Version,
) -> None:
    v1 = version([TaggedItems, Tags])
    await v1.push()
    await execute(v1, f"DROP TABLE {REGISTRY_TABLE}", LEGACY)  # as an older version left it
    assert (await v1.plan()).is_empty  # no registry yet: still works, nothing to do
    await v1.push()  # the first push adopts the tables the collections declare
    assert await registered(v1) == ["items", "items_tags", "tags"]
    v2 = version([Items])
    dropped = {s.sql for s in (await v2.plan()).statements}
    assert dropped == {"DROP TABLE items_tags", "DROP TABLE tags"}


async def test_a_table_named_by_renamed_from_is_ours_without_the_registry(
    version: Version,
) -> None:
    v1 = version([Items])
    await v1.push()
    await execute(v1, f"DROP TABLE {REGISTRY_TABLE}")  # as an older version left it
    await v1.connect()
    await v1.items.create({"name": "kept"})
    things = collection(
        slug="things", renamed_from="items", fields={"name": required(field(type=text(max=40)))}
    )
    v2 = version([things])
    plan = await v2.push()
    assert not plan.has_data_loss and "RENAME" in sql_of(plan).upper()
    assert await fetch(v2, "SELECT name FROM things") == [("kept",)]
    assert await registered(v2) == ["things"]


async def test_manage_patterns_widen_and_narrow_what_is_ours(
    database_url: str, version: Version
) -> None:
    await with_legacy(version)
    await version([Items, Tags]).push()

    def db(manage: Sequence[str] | Any) -> Any:
        return define_config(provider=database_url, collections=[Items], manage=manage)

    widened = await db(["legacy_*"]).plan()
    assert {s.sql for s in widened.statements} == {"DROP TABLE legacy_orders", "DROP TABLE tags"}
    narrowed = await db(["!tags"]).plan()
    assert narrowed.is_empty  # tags was ours, but the filter keeps it out
    everything = await db(["*"]).plan()  # the registry itself is never planned
    assert REGISTRY_TABLE not in sql_of(everything) and "legacy_orders" in sql_of(everything)
    by_callable = await db(lambda name: name.startswith("legacy")).plan()
    assert {s.sql for s in by_callable.statements} == {"DROP TABLE legacy_orders"}
    undecided = await db(lambda name: None).plan()  # no opinion: the default rule
    assert {s.sql for s in undecided.statements} == {"DROP TABLE tags"}


@pytest.mark.parametrize(
    ("manage", "message"),
    [
        ("legacy_*", "a list of glob patterns"),
        ([1], "a list of glob patterns"),
        (["!"], "empty pattern"),
    ],
)
def test_a_wrong_manage_value_is_a_config_error(manage: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        define_config(provider="sqlite://:memory:", collections=[Items], manage=manage)


@pytest.mark.parametrize("slug", [REGISTRY_TABLE, "alembic_version"])
def test_the_bookkeeping_tables_are_no_collection_slugs(slug: str) -> None:
    clash = collection(slug=slug, fields={"name": field(type=text())})
    with pytest.raises(ConfigError, match="reserved for schema bookkeeping"):
        define_config(provider="sqlite://:memory:", collections=[clash])


async def test_the_registry_is_left_out_of_snapshots_and_plans(version: Version) -> None:
    db = version([Items])
    await db.push()
    assert set(await snapshot(db)) == {"items"}
    assert REGISTRY_TABLE in await tables(db)
