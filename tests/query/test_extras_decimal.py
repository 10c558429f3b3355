"""A ``Decimal`` literal inside an extra or a ``RAW`` where binds on every backend.

sqlite3 binds no ``Decimal``; the SQLite codecs bind it as a float (SQLAlchemy's own
SQLite dialect does the same), so arithmetic and comparisons keep their numeric meaning.

An extra typed ``sa.Numeric`` comes back as a ``Decimal`` with its exact digits at every
level, with both strategies, on every path (docs/queries.md, "Limits").
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from deesse_async import agg, collection, field, number, placeholder, relation, required, text
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
    # typed Numeric: a Decimal on every backend (SQLite's is its double's repr)
    assert type(rows[0]["half"]) is Decimal and rows[0]["half"] == Decimal("0.5")
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


# -- An extra typed sa.Numeric is a Decimal, exact, at every level, on every path -------
# (API.md §3: same Python types whatever the dialect and the strategy; nothing loses
# precision on its way through JSON.)

Authors = collection(
    slug="authors",
    fields={"name": required(field(type=text())), "score": required(field(type=number()))},
)
Posts = collection(
    slug="posts",
    fields={
        "title": required(field(type=text())),
        "score": required(field(type=number())),
        "author": required(field(type=relation("authors", related_name="posts"))),
    },
)

BIG = "12345678901234567890.123456789"  # more digits than a double holds
EXTRAS: dict[str, Any] = {
    "price": lambda t: sa.cast(t.c.score, sa.Numeric(20, 2)),
    "half": lambda t: sa.literal(Decimal("0.50"), sa.Numeric(10, 2)),
    "big": lambda t: sa.literal(Decimal(BIG), sa.Numeric(38, 9)),
    "dec": lambda t: sa.cast(t.c.score, sa.DECIMAL(20, 2)),
    "exact": lambda t: sa.literal(Decimal("12345678901234.56"), sa.Numeric(20, 2)),
    "none": lambda t: sa.cast(sa.null(), sa.Numeric(10, 2)),
    "ratio": lambda t: t.c.score / 2,  # a Float extra stays a float
}
# PostgreSQL casts a double to numeric through its 15 significant digits: the scores
# have fewer, and "exact" and "big" carry the long ones.
SCORES = {"a": 1234.5, "b": 0.1, "c": 2.0}


def expected_decimal(backend: str, text: str) -> Decimal:
    """What an exact numeric ``text`` comes back as: itself, digits and scale, from
    PostgreSQL and MariaDB; from SQLite (REAL only) the double's shortest repr."""
    value = Decimal(text)
    return Decimal(repr(float(value))) if backend == "sqlite" else value


def exact(value: Any) -> Any:
    """``value`` with every leaf as (type, repr): ``Decimal("0.1") == Decimal("0.10")``
    and ``0.5 == Decimal("0.5")``, so ``==`` alone would not see a lost digit or a float."""
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [exact(v) for v in value]
    return (type(value).__name__, repr(value))


def expected_values(backend: str, score: float) -> dict[str, Any]:
    return {
        "price": expected_decimal(backend, f"{Decimal(repr(score)):.2f}"),
        "half": expected_decimal(backend, "0.50"),
        "big": expected_decimal(backend, BIG),
        "exact": expected_decimal(backend, "12345678901234.56"),
        "dec": expected_decimal(backend, f"{Decimal(repr(score)):.2f}"),
        "none": None,
        "ratio": score / 2,
    }


async def _blog(make_db: MakeDb) -> Any:
    db = await make_db([Authors, Posts])
    for name, score in SCORES.items():
        author = await db.authors.create({"name": name, "score": score})
        for i, post_score in enumerate((score, 0.1)):
            await db.posts.create(
                {"title": f"{name}{i}", "score": post_score, "author_id": author["id"]}
            )
    return db


OPTIONS: dict[str, Any] = {
    "columns": {"name": True, "score": True},
    "extras": EXTRAS,
    "order_by": {"name": "asc"},
    "with_": {
        "posts": {
            "columns": {"title": True, "score": True},
            "extras": EXTRAS,
            "order_by": {"title": "asc"},
            "with": {"author": {"columns": {"name": True, "score": True}, "extras": EXTRAS}},
        }
    },
}


def expected_rows(backend: str) -> list[dict[str, Any]]:
    backend = "postgresql" if backend == "pgbouncer" else backend
    rows = []
    for name, score in SCORES.items():
        author = {"name": name, "score": score, **expected_values(backend, score)}
        posts = [
            {
                "title": f"{name}{i}",
                "score": post_score,
                **expected_values(backend, post_score),
                "author": author,
            }
            for i, post_score in enumerate((score, 0.1))
        ]
        rows.append({**author, "posts": posts})
    return rows


@pytest.mark.parametrize("strategy", ["lateral", "batched"])
async def test_a_numeric_extra_is_an_exact_decimal_at_every_level(
    make_db: MakeDb, backend: str, strategy: str
) -> None:
    db = await _blog(make_db)
    rows = await db.query.authors.find_many(**OPTIONS, strategy=strategy)
    assert exact(rows) == exact(expected_rows(backend))


async def test_stream_pages_and_prepared_queries_give_the_same_decimals(
    make_db: MakeDb, backend: str
) -> None:
    db = await _blog(make_db)
    expected = exact(expected_rows(backend))
    modes = ("keyset", "cursor") if db.dialect.server_cursors else ("keyset",)
    for strategy in ("lateral", "batched"):
        for mode in modes:
            stream = db.query.authors.stream(**OPTIONS, strategy=strategy, chunk_size=2, mode=mode)
            assert exact([r async for r in stream]) == expected, (strategy, mode)
        page = await db.query.authors.find_page(**OPTIONS, strategy=strategy, first=2)
        after = await db.query.authors.find_page(
            **OPTIONS, strategy=strategy, first=2, after=page["next"]
        )
        assert exact(page["items"] + after["items"]) == expected, strategy
        prepared = db.query.authors.find_many(
            **{**OPTIONS, "where": {"score": {"gte": placeholder("min")}}}, strategy=strategy
        ).prepare()
        assert exact(await prepared.execute(min=0)) == expected, strategy
        assert exact(await prepared.execute(min=1)) == [
            r for r in expected if r["name"] != ("str", "'b'")
        ]


async def test_a_numeric_placeholder_in_an_extra(make_db: MakeDb, backend: str) -> None:
    db = await _blog(make_db)
    for strategy in ("lateral", "batched"):
        prepared = db.query.authors.find_many(
            columns={"name": True},
            extras={"k": lambda t: sa.cast(placeholder("k"), sa.Numeric(10, 2))},
            with_={
                "posts": {
                    "columns": {"title": True},
                    "extras": {"k": lambda t: sa.cast(placeholder("k"), sa.Numeric(10, 2))},
                }
            },
            where={"name": "b"},
            strategy=strategy,
        ).prepare()
        row = (await prepared.execute(k=Decimal("0.10")))[0]
        want = ("Decimal", repr(expected_decimal(backend, "0.10")))
        assert exact(row["k"]) == want
        assert [exact(p["k"]) for p in row["posts"]] == [want, want]


async def test_the_response_model_validates_the_decimals(make_db: MakeDb) -> None:
    db = await _blog(make_db)
    q = db.query.authors.find_many(**OPTIONS)
    rows = await q
    model = q.response_model
    for row in rows:
        validated = model.model_validate(row).model_dump()
        assert exact(validated) == exact(row)


async def test_float_and_aggregates_keep_their_types(make_db: MakeDb) -> None:
    db = await _blog(make_db)
    for strategy in ("lateral", "batched"):
        rows = await db.query.authors.find_many(
            columns={"name": True},
            extras={
                "f": lambda t: sa.type_coerce(t.c.score * 2, sa.Float),
            },
            aggregates={
                "total": agg.sum("posts", "score"),
                "low": agg.min("posts", "score"),
                "high": agg.max("posts", "score"),
            },
            with_={
                "posts": {
                    "columns": {"title": True},
                    "extras": {"f": lambda t: sa.type_coerce(t.c.score * 2, sa.Float)},
                }
            },
            order_by={"name": "asc"},
            strategy=strategy,
        )
        for row in rows:
            assert type(row["f"]) is float, row
            assert all(type(row[k]) is float for k in ("total", "low", "high")), row
            assert all(type(p["f"]) is float for p in row["posts"]), row
        assert rows[1]["low"] == 0.1 and rows[0]["high"] == 1234.5
