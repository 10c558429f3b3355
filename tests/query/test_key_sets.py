"""Parent key sets (``Dialect.key_filter`` / ``encode_keys``): one bound value per child
level, whatever the number of parents, for one-column and composite keys."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from deesse_async import (
    collection,
    date,
    define_config,
    define_relations,
    field,
    integer,
    many,
    one,
    text,
)
from deesse_async.dialects import DIALECTS, compile_sql

pytestmark = pytest.mark.anyio

Editions = collection(
    slug="editions",
    fields={
        "book": field(type=integer()),
        "published": field(type=date()),
        "title": field(type=text()),
    },
)
Reprints = collection(
    slug="reprints",
    fields={
        "book": field(type=integer()),
        "published": field(type=date()),
        "printed": field(type=integer()),
    },
)
RELATIONS = define_relations(
    editions={"reprints": many("reprints", from_=("book", "published"), to=("book", "published"))},
    reprints={"edition": one("editions", from_=("book", "published"), to=("book", "published"))},
)
D1, D2 = dt.date(2020, 1, 2), dt.date(2021, 3, 4)


@pytest.mark.parametrize("strategy", ["lateral", "batched"])
async def test_composite_keys_load_on_every_backend(database_url: str, strategy: str) -> None:
    db = define_config(provider=database_url, collections=[Editions, Reprints], relations=RELATIONS)
    async with db:
        await db.push()
        await db.editions.create_many(
            [{"book": 1, "published": D1, "title": "a"}, {"book": 1, "published": D2, "title": "b"},
             {"book": 2, "published": D1, "title": "c"}]
        )  # fmt: skip
        await db.reprints.create_many(
            [{"book": 1, "published": D1, "printed": 10}, {"book": 1, "published": D1, "printed": 11},
             {"book": 2, "published": D1, "printed": 12}, {"book": 2, "published": D2, "printed": 13}]
        )  # fmt: skip
        rows = await db.query.editions.find_many(
            columns={"title": True},
            with_={"reprints": {"columns": {"printed": True}, "limit": 1, "offset": 1}},
            strategy=strategy,
        )
        assert rows == [
            {"title": "a", "reprints": [{"printed": 11}]},
            {"title": "b", "reprints": []},
            {"title": "c", "reprints": []},
        ]
        back = await db.query.reprints.find_many(
            columns={"printed": True}, with_={"edition": {"columns": {"title": True}}},
            strategy=strategy,
        )  # fmt: skip
        assert [r["edition"] and r["edition"]["title"] for r in back] == ["a", "a", "c", None]


KEY = sa.table("t", sa.column("a", sa.Integer()), sa.column("b", sa.String()))
ONE_KEY_SQL = {
    "postgresql": "t.a = ANY ($1::INTEGER[])",
    "sqlite": "t.a IN (SELECT anon_1.value \nFROM json_each(?) AS anon_1)",
    "mysql": "t.a IN (SELECT jt.k0 FROM JSON_TABLE(%s, '$[*]' COLUMNS (k0 BIGINT PATH '$')) AS jt)",
}


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_key_filter_binds_one_value(name: str) -> None:
    dialect = DIALECTS[name]
    one_key = compile_sql(dialect.key_filter([KEY.c.a], ["int"], "__keys"), dialect)
    assert one_key.sql == ONE_KEY_SQL[name]
    both = compile_sql(dialect.key_filter([KEY.c.a, KEY.c.b], ["int", "str"], "__keys"), dialect)
    given = dialect.encode_keys([(1, "x"), (2, "y")], "__keys")
    # What the statement leaves open is exactly what encode_keys fills, whatever the keys.
    assert {n for n in both.names if both.values.get(n) is None} == set(given)
    many_keys = dialect.encode_keys([(i, str(i)) for i in range(100_000)], "__keys")
    assert many_keys.keys() == given.keys()
