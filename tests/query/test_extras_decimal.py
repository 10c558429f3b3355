"""A ``Decimal`` literal inside an extra or a ``RAW`` where binds on every backend.

sqlite3 binds no ``Decimal``; the SQLite codecs bind it as a float (SQLAlchemy's own
SQLite dialect does the same), so arithmetic and comparisons keep their numeric meaning.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from deesse_async import collection, field, number, placeholder, required, text
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio

Items = collection(
    slug="items",
    fields={"name": required(field(type=text())), "score": required(field(type=number()))},
)


async def _db(make_db: MakeDb) -> Any:
    db = await make_db([Items])
    await db.items.create({"name": "a", "score": 2.0})
    await db.items.create({"name": "b", "score": 4.5})
    return db


@pytest.mark.parametrize("strategy", ["lateral", "batched"])
async def test_a_decimal_literal_in_an_extra(make_db: MakeDb, strategy: str) -> None:
    db = await _db(make_db)
    rows = await db.query.items.find_many(
        columns={"name": True},
        extras={
            "times": lambda t: t.c.score * Decimal("1.5"),
            "plus": lambda t: t.c.score + sa.literal(Decimal("1.25")),
        },
        order_by={"name": "asc"},
        strategy=strategy,
    )
    assert [r["name"] for r in rows] == ["a", "b"]
    assert [float(r["times"]) for r in rows] == [3.0, 6.75]
    assert [float(r["plus"]) for r in rows] == [3.25, 5.75]


async def test_a_decimal_literal_alone_and_in_a_raw_where(make_db: MakeDb) -> None:
    db = await _db(make_db)
    rows = await db.query.items.find_many(
        columns={"name": True},
        where={"RAW": lambda t: t.c.score > Decimal("2.5")},
        extras={"half": lambda t: sa.literal(Decimal("0.50"))},
    )
    assert [r["name"] for r in rows] == ["b"]
    # Numeric: Decimal from PostgreSQL and MariaDB, float from SQLite (docs/queries.md)
    assert rows[0]["half"] == Decimal("0.5")
    # A Decimal compared with a number stays a numeric comparison on SQLite too.
    rows = await db.query.items.find_many(
        columns={"name": True},
        where={"RAW": lambda t: sa.literal(Decimal("10")) > t.c.score},
        order_by={"name": "asc"},
    )
    assert [r["name"] for r in rows] == ["a", "b"]


async def test_a_decimal_in_a_nested_extra(make_db: MakeDb) -> None:
    db = await _db(make_db)
    row = await db.query.items.find_first(
        columns={"name": True},
        where={"name": "b"},
        extras={"d": lambda t: t.c.score - Decimal("0.5")},
    )
    assert row is not None and float(row["d"]) == 4.0


async def test_a_decimal_placeholder_value_in_raw_and_extras(make_db: MakeDb) -> None:
    db = await _db(make_db)
    prepared = db.query.items.find_many(
        columns={"name": True},
        where={"RAW": lambda t: t.c.score > placeholder("min")},
        extras={"scaled": lambda t: t.c.score * placeholder("k")},
        order_by={"name": "asc"},
    ).prepare("decimal_placeholders")
    rows = await prepared.execute({"min": Decimal("1.5"), "k": Decimal("2")})
    assert [(r["name"], float(r["scaled"])) for r in rows] == [("a", 4.0), ("b", 9.0)]
    rows = await prepared.execute(min=Decimal("3"), k=Decimal("0.5"))
    assert [(r["name"], float(r["scaled"])) for r in rows] == [("b", 2.25)]
