"""Every where operator and SQL's NULL semantics, on every backend and both strategies."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from deesse_async import Database
from tests.blog import BLOG
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio

PEOPLE = [
    {"name": "al", "email": "al@example.com", "age": 10, "nickname": "50%_off", "active": True},
    {"name": "Bea", "email": "bea@example.com", "age": 20, "nickname": "b_b", "active": False},
    {"name": "cy", "email": "cy@example.com", "age": None, "nickname": None, "active": True},
    {"name": "dé", "email": "de@example.com", "age": 40, "nickname": "ünï", "active": False,
     "last_seen": dt.datetime(2024, 6, 1, tzinfo=dt.UTC)},
]  # fmt: skip

CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({"age": 10}, ["al"]),
    ({"age": {"eq": 20}}, ["Bea"]),
    ({"age": {"ne": 10}}, ["Bea", "dé"]),  # NULL is not "not 10": it is unknown
    ({"age": None}, ["cy"]),
    ({"age": {"ne": None}}, ["al", "Bea", "dé"]),
    ({"age": {"is_null": True}}, ["cy"]),
    ({"age": {"is_null": False}}, ["al", "Bea", "dé"]),
    ({"age": {"is_not_null": True}}, ["al", "Bea", "dé"]),
    ({"age": {"gt": 10}}, ["Bea", "dé"]),
    ({"age": {"gte": 20, "lt": 40}}, ["Bea"]),
    ({"age": {"lte": 20}}, ["al", "Bea"]),
    ({"age": {"in": [10, 40, 99]}}, ["al", "dé"]),
    ({"age": {"in": []}}, []),
    ({"age": {"not_in": [10]}}, ["Bea", "dé"]),
    ({"age": {"not_in": []}}, ["al", "Bea", "cy", "dé"]),
    ({"age": {"not_in": [10, None]}}, []),  # x NOT IN (10, NULL) is never true
    ({"name": {"like": "b%"}}, []),
    ({"name": {"like": "B%"}}, ["Bea"]),
    ({"name": {"ilike": "b%"}}, ["Bea"]),
    ({"name": {"not_like": "%e%"}}, ["al", "cy", "dé"]),
    ({"name": {"not_ilike": "B%"}}, ["al", "cy", "dé"]),
    ({"name": {"like": "d_"}}, ["dé"]),  # _ is one character, é included
    ({"nickname": {"like": "50%"}}, ["al"]),
    ({"nickname": {"like": "%\\_%"}}, ["al", "Bea"]),  # backslash escapes: a literal "_"
    ({"nickname": {"like": "%\\%%"}}, ["al"]),  # a literal "%"
    ({"nickname": {"like": "b_b"}}, ["Bea"]),
    ({"nickname": {"like": "ünï"}}, ["dé"]),
    ({"nickname": {"not_like": "%"}}, []),  # NULL nickname is unknown, not kept
    ({"active": True}, ["al", "cy"]),
    ({"last_seen": {"gt": dt.datetime(2024, 1, 1)}}, ["dé"]),
    ({"OR": [{"age": {"lt": 15}}, {"age": None}]}, ["al", "cy"]),
    ({"AND": [{"age": {"gt": 5}}, {"active": False}]}, ["Bea", "dé"]),
    ({"OR": []}, []),
    ({"AND": []}, ["al", "Bea", "cy", "dé"]),
    ({"NOT": {"age": 10}}, ["Bea", "dé"]),  # NOT unknown is unknown
    ({"NOT": {"OR": [{"age": 10}, {"age": None}]}}, ["Bea", "dé"]),
    ({"age": {"OR": [{"lt": 15}, {"gt": 30}]}}, ["al", "dé"]),
    ({"age": {"OR": [10, 20]}}, ["al", "Bea"]),
    ({"age": {"NOT": 10}}, ["Bea", "dé"]),
    ({"age": {"AND": [{"gt": 5}, {"lt": 30}], "ne": 20}}, ["al"]),
    ({"name": "x' OR '1'='1"}, []),  # values are bound, never pasted into SQL
    ({"name": {"like": "%'; DROP TABLE users; --"}}, []),
]


async def people(make_db: MakeDb) -> Database:
    db = await make_db(BLOG)
    await db.users.create_many(PEOPLE)
    return db


@pytest.mark.parametrize("strategy", ["lateral", "batched"])
async def test_operators(make_db: MakeDb, strategy: str) -> None:
    db = await people(make_db)
    failures = []
    for where, expected in CASES:
        rows = await db.query.users.find_many(
            columns={"name": True}, where=where, with_={"posts": True}, strategy=strategy
        )
        got = sorted(r["name"] for r in rows)
        if got != sorted(expected):
            failures.append(f"{where}: got {got}, expected {sorted(expected)}")
        if await db.users.count(where) != len(expected):
            failures.append(f"count({where}) != {len(expected)}")
    assert failures == []
    assert await db.users.count() == 4  # the injection attempts changed nothing


async def test_malicious_values_round_trip_as_data(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    evil = "Robert'); DROP TABLE users; --"
    await db.users.create({"name": evil, "email": "bobby@example.com", "nickname": '"; --'})
    rows = await db.query.users.find_many(where={"name": evil, "nickname": '"; --'})
    assert [r["name"] for r in rows] == [evil]
    assert await db.users.count() == 1
