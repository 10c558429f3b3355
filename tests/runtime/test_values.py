"""Ordinary bad input is a ``QueryError``/``ValidationError`` naming the path, the same on
every backend; no write commits and then raises; nothing half-written.

One row per class of escape found by the fuzzer of issue 7 (item 7), run on one pushed
database per backend (module-scoped: pushing the blog per case would cost minutes).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from deesse_async import (
    Database,
    DeesseError,
    QueryError,
    ValidationError,
    define_config,
    placeholder,
)
from tests.blog import BLOG
from tests.conftest import BACKENDS, MYSQL_URL, POSTGRES_URL, _mysql_kwargs, _plain, require_backend

pytestmark = pytest.mark.anyio

UTC = dt.UTC
MINUS_5 = dt.timezone(dt.timedelta(hours=-5))
PLUS_5 = dt.timezone(dt.timedelta(hours=5))


@pytest.fixture(scope="module", params=BACKENDS)
async def shared_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    """One pushed blog database per backend for the whole module."""
    backend = str(request.param)
    await require_backend(backend)
    async with _database_url(backend, tmp_path_factory.mktemp("values")) as url:
        db = define_config(provider=url, collections=BLOG)
        await db.connect()
        try:
            await db.push()
            yield db
        finally:
            await db.close()


class _database_url:
    def __init__(self, backend: str, tmp: Path) -> None:
        self.backend, self.tmp = backend, tmp
        self.name = f"t_{uuid.uuid4().hex[:12]}"

    async def __aenter__(self) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.tmp / 'values.db'}"
        if self.backend == "postgresql":
            import asyncpg

            conn = await asyncpg.connect(_plain(POSTGRES_URL))
            await conn.execute(f'CREATE SCHEMA "{self.name}"')
            await conn.close()
            return f"{POSTGRES_URL}?schema={self.name}"
        import asyncmy

        conn = await asyncmy.connect(**{**_mysql_kwargs(MYSQL_URL), "database": None})
        async with conn.cursor() as cur:
            await cur.execute(f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4")
        conn.close()
        return f"{MYSQL_URL.rsplit('/', 1)[0]}/{self.name}"

    async def __aexit__(self, *exc: object) -> None:
        if self.backend == "postgresql":
            import asyncpg

            conn = await asyncpg.connect(_plain(POSTGRES_URL))
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')
            await conn.close()
        elif self.backend == "mysql":
            import asyncmy

            conn = await asyncmy.connect(**{**_mysql_kwargs(MYSQL_URL), "database": None})
            async with conn.cursor() as cur:
                await cur.execute(f"DROP DATABASE IF EXISTS `{self.name}`")
            conn.close()


Call = Callable[[Database], Awaitable[Any]]


def _deep_where(levels: int) -> dict[str, Any]:
    where: dict[str, Any] = {"id": 1}
    for _ in range(levels):
        where = {"NOT": where}
    return where


def _deep_json(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


async def _prepared_int(db: Database) -> Any:
    q = db.query.users.find_many(where={"id": placeholder("id")}).prepare()
    return await q.execute(id=2**64)


async def _prepared_limit(db: Database) -> Any:
    q = db.query.users.find_many(limit=placeholder("n")).prepare()
    return await q.execute(n=2**63)


async def _raw_placeholder_set(db: Database) -> Any:
    q = db.query.users.find_many(where={"RAW": lambda t: t.c.name == placeholder("p")}).prepare()
    return await q.execute(p={1, 2})


def _q(**options: Any) -> Call:
    return lambda db: db.query.users.find_many(**options)


def _create(data: dict[str, Any]) -> Call:
    # A fresh e-mail per call: a value wrongly accepted must not fail the next case.
    return lambda db: db.users.create(
        {"name": "x", "email": f"{uuid.uuid4().hex}@example.com", **data}
    )


# (id, call, error class, text the message must contain)
CASES: list[tuple[str, Call, type[DeesseError], str]] = [
    ("int beyond int64 in filter", _q(where={"id": 2**64}), QueryError, "where.id"),
    ("negative int beyond int64", _q(where={"age": {"gt": -(2**70)}}), QueryError, "where.age.gt"),
    (
        "int beyond int64 in in-list",
        _q(where={"id": {"in": [1, 2**63]}}),
        QueryError,
        "where.id.in[1]",
    ),
    ("limit beyond int64", _q(limit=2**64), QueryError, "limit"),
    ("offset beyond int64", _q(offset=2**63), QueryError, "offset"),
    (
        "nested limit beyond int64",
        _q(with_={"posts": {"limit": 2**64}}),
        QueryError,
        "with_.posts.limit",
    ),
    ("placeholder int beyond int64", _prepared_int, QueryError, "placeholder 'id'"),
    (
        "placeholder limit beyond int64",
        _prepared_limit,
        QueryError,
        "placeholder 'n'",
    ),
    (
        "10**400 on a number filter",
        _q(where={"score": {"lt": 10**400}}),
        QueryError,
        "where.score.lt",
    ),
    ("10**400 on a number write", _create({"score": 10**400}), ValidationError, "score"),
    ("nan on a number filter", _q(where={"score": float("nan")}), QueryError, "where.score"),
    (
        "datetime.max at -05:00 in a filter",
        _q(where={"last_seen": {"lt": dt.datetime.max.replace(tzinfo=MINUS_5)}}),
        QueryError,
        "where.last_seen.lt",
    ),
    (
        "datetime.max at -05:00 on write",
        _create({"last_seen": dt.datetime.max.replace(tzinfo=MINUS_5)}),
        ValidationError,
        "last_seen",
    ),
    (
        "datetime.min at +05:00 on write",
        _create({"last_seen": dt.datetime.min.replace(tzinfo=PLUS_5)}),
        ValidationError,
        "last_seen",
    ),
    (
        "datetime.max in UTC on write",
        _create({"last_seen": dt.datetime.max.replace(tzinfo=UTC)}),
        ValidationError,
        "last_seen",
    ),
    (
        "datetime.min naive on write",
        _create({"last_seen": dt.datetime.min}),
        ValidationError,
        "last_seen",
    ),
    ("date.max on write", _create({"born": dt.date.max}), ValidationError, "born"),
    (
        "datetime.max in a filter",
        _q(where={"last_seen": {"lt": dt.datetime.max}}),
        QueryError,
        "where.last_seen.lt",
    ),
    ("date.min in a filter", _q(where={"born": dt.date.min}), QueryError, "where.born"),
    ("lone surrogate on write", _create({"nickname": "a\ud800"}), ValidationError, "nickname"),
    ("lone surrogate in a filter", _q(where={"name": "\ud800"}), QueryError, "where.name"),
    (
        "lone surrogate in like",
        _q(where={"name": {"like": "%\udfff"}}),
        QueryError,
        "where.name.like",
    ),
    ("lone surrogate in json", _create({"profile": {"k": "\ud800"}}), ValidationError, "profile"),
    ("NUL in json", _create({"profile": ["a\x00b"]}), ValidationError, "profile"),
    ("NUL in a filter", _q(where={"name": "a\x00"}), QueryError, "where.name"),
    ("set in a json filter", _q(where={"profile": {"set"}}), QueryError, "where.profile"),
    ("nan in a json filter", _q(where={"profile": [float("nan")]}), QueryError, "where.profile"),
    ("json nested too deep", _create({"profile": _deep_json(200)}), ValidationError, "profile"),
    ("where nested 2000 deep", _q(where=_deep_where(2000)), QueryError, "where.NOT.NOT"),
    (
        "order_by callable returning a string",
        _q(order_by=lambda t: "name"),
        QueryError,
        "order_by",
    ),
    ("order_by callable returning None", _q(order_by=lambda t: [None]), QueryError, "order_by"),
    ("order_by callable raising", _q(order_by=lambda t: t.c.nope), QueryError, "order_by"),
    (
        "nested order_by returning an int",
        _q(with_={"posts": {"order_by": lambda t: [5]}}),
        QueryError,
        "with_.posts.order_by",
    ),
    ("extras named __rn", _q(extras={"__rn": lambda t: t.c.id}), QueryError, "extras"),
    (
        "extras named __k0 nested",
        _q(with_={"posts": {"extras": {"__k0": lambda t: t.c.id}}}),
        QueryError,
        "with_.posts.extras",
    ),
    (
        "extras named id nested",
        _q(with_={"posts": {"extras": {"id": lambda t: t.c.id}}}),
        QueryError,
        "with_.posts.extras",
    ),
    (
        "extras named like a relation",
        _q(extras={"posts": lambda t: t.c.id}, with_={"posts": True}),
        QueryError,
        "extras",
    ),
    (
        "extras returning 5 (lateral)",
        lambda db: db.query.users.find_many(
            extras={"five": lambda t: 5}, with_={"posts": True}, strategy="lateral"
        ),
        QueryError,
        "extras.five",
    ),
    (
        "extras returning 5 nested",
        _q(with_={"posts": {"extras": {"five": lambda t: 5}}}),
        QueryError,
        "with_.posts.extras.five",
    ),
    (
        "extras callable raising",
        _q(extras={"boom": lambda t: 1 / 0}),
        QueryError,
        "extras.boom",
    ),
    ("RAW callable raising", _q(where={"RAW": lambda t: t.c.nope}), QueryError, "where.RAW"),
    ("placeholder named param_1", lambda db: _param_1(db), QueryError, "'param_1'"),
    ("placeholder set in RAW", _raw_placeholder_set, QueryError, "placeholder 'p'"),
]


async def _param_1(db: Database) -> Any:
    q = db.query.users.find_many(where={"id": placeholder("param_1")}, limit=3).prepare()
    return await q.execute(param_1=1)


@pytest.mark.parametrize(("case", "call", "error", "text"), CASES, ids=[c[0] for c in CASES])
async def test_bad_input_is_a_deesse_error(
    shared_db: Database, case: str, call: Call, error: type[DeesseError], text: str
) -> None:
    before = await shared_db.users.count()
    with pytest.raises(error) as info:
        await call(shared_db)
    assert text in str(info.value), str(info.value)
    assert await shared_db.users.count() == before  # nothing half-written


# -- values that are accepted: the same answer on every backend ---------------------------


async def test_limit_and_offset_up_to_int64_work_everywhere(shared_db: Database) -> None:
    user = await shared_db.users.create({"name": "lim", "email": "lim@example.com"})
    try:
        for limit in (2**31, 2**63 - 1):
            rows = await shared_db.query.users.find_many(where={"id": user["id"]}, limit=limit)
            assert [r["id"] for r in rows] == [user["id"]]
            nested = await shared_db.query.users.find_many(
                where={"id": user["id"]}, with_={"posts": {"limit": limit}}
            )
            assert nested[0]["posts"] == []
        assert await shared_db.query.users.find_many(offset=2**63 - 1) == []
        q = shared_db.query.users.find_many(limit=placeholder("n")).prepare()
        assert len(await q.execute(n=2**63 - 1)) == await shared_db.users.count()
    finally:
        await shared_db.users.delete(user["id"])


async def test_int64_bounds_in_filters(shared_db: Database) -> None:
    assert await shared_db.query.users.find_many(where={"id": 2**63 - 1}) == []
    assert await shared_db.query.users.find_many(where={"id": -(2**63)}) == []


async def test_early_and_late_timestamps_round_trip(shared_db: Database) -> None:
    """Years below 1000 are stored zero-padded; the bounds just inside the limits work."""
    values = [
        dt.datetime(999, 6, 1, 12, 30, 15, 123456, tzinfo=UTC),
        dt.datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999998, tzinfo=UTC),
        dt.datetime(45, 3, 4, 5, 6, 7, tzinfo=UTC),
    ]
    for i, value in enumerate(values):
        # date.min/date.max themselves are refused (see below)
        born = min(max(value.date(), dt.date(1, 1, 2)), dt.date(9999, 12, 30))
        row = await shared_db.users.create(
            {"name": "t", "email": f"ts{i}@example.com", "last_seen": value, "born": born}
        )
        assert row["last_seen"] == value and row["last_seen"].tzinfo is not None
        assert row["born"] == born
        for strategy in ("lateral", "batched"):
            found = await shared_db.query.users.find_many(
                where={"last_seen": value}, with_={"invitees": True}, strategy=strategy
            )
            assert [(r["id"], r["last_seen"]) for r in found] == [(row["id"], value)]
            nested = await shared_db.query.users.find_first(
                where={"id": row["id"]}, with_={"invited_by": True}, strategy=strategy
            )
            assert nested is not None and nested["last_seen"] == value
        assert (await shared_db.users.read(row["id"]))["last_seen"] == value  # type: ignore[index]
        assert (await shared_db.users.delete(row["id"]))["last_seen"] == value  # type: ignore[index]


async def test_datetime_max_is_refused_the_same_everywhere(shared_db: Database) -> None:
    """PostgreSQL reads datetime.max/min as +-infinity: refused on every backend."""
    for value in (dt.datetime.max.replace(tzinfo=UTC), dt.datetime.min.replace(tzinfo=UTC)):
        with pytest.raises(ValidationError) as info:
            await shared_db.users.create(
                {"name": "x", "email": "max@example.com", "last_seen": value}
            )
        assert info.value.errors[0]["loc"] == ("last_seen",)
        with pytest.raises(QueryError, match=r"where\.last_seen"):
            await shared_db.query.users.find_many(where={"last_seen": value})


async def test_extras_with_literal_values(shared_db: Database) -> None:
    """Literal datetimes, dates, uuids and JSON inside extras and RAW bind on every backend."""
    when = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    user = await shared_db.users.create(
        {"name": "lit", "email": "lit@example.com", "last_seen": when, "profile": {"a": 1}}
    )
    try:
        rows = await shared_db.query.users.find_many(
            columns={"id": True},
            where={"RAW": lambda t: t.c.last_seen == sa.literal(when, sa.DateTime(timezone=True))},
            extras={
                "later": lambda t: t.c.last_seen >= sa.literal(when, sa.DateTime(timezone=True)),
                "tag": lambda t: sa.literal("x", sa.String()),
                "doc": lambda t: sa.literal({"a": [1, "b"]}, sa.JSON()),
                "day": lambda t: sa.literal(dt.date(2024, 5, 6), sa.Date()),
                "at": lambda t: sa.literal(when, sa.DateTime(timezone=True)),
            },
        )
        expected = {"id": user["id"], "later": True, "tag": "x", "doc": {"a": [1, "b"]}}
        assert rows == [{**expected, "day": dt.date(2024, 5, 6), "at": when}]
        for strategy in ("lateral", "batched"):
            nested = await shared_db.query.users.find_many(
                columns={"id": True},
                where={"id": user["id"]},
                with_={
                    "invitees": {
                        "extras": {"doc": lambda t: sa.literal({"a": [1, "b"]}, sa.JSON())}
                    }
                },
                extras={"doc": lambda t: sa.literal({"a": [1, "b"]}, sa.JSON())},
                strategy=strategy,
            )
            assert nested == [{"id": user["id"], "doc": {"a": [1, "b"]}, "invitees": []}]
        # CAST(... AS DATE) is a date on PostgreSQL and MariaDB, a number on SQLite: a
        # value that does not decode as the declared type is a QueryError, not a TypeError.
        try:
            cast = await shared_db.query.users.find_many(
                columns={"id": True},
                where={"id": user["id"]},
                extras={"d": lambda t: sa.cast("2024-05-06", sa.Date())},
            )
        except QueryError as exc:
            assert "does not decode as its declared type" in str(exc)
        else:
            assert cast == [{"id": user["id"], "d": dt.date(2024, 5, 6)}]
    finally:
        await shared_db.users.delete(user["id"])


async def test_sqlite_rows_written_with_unpadded_years_stay_readable(tmp_path: Path) -> None:
    """Earlier versions wrote '999-06-01 ...' (strftime's %Y is not padded on glibc): such
    a table can still be read, queried and deleted from."""
    import sqlite3

    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    db = define_config(provider=url, collections=BLOG)
    async with db:
        await db.push()
        row = await db.users.create({"name": "old", "email": "old@example.com"})
    with sqlite3.connect(tmp_path / "legacy.db") as raw:
        raw.execute(
            "UPDATE users SET last_seen = '999-06-01 12:00:00.000000' WHERE id = ?", (row["id"],)
        )
    expected = dt.datetime(999, 6, 1, 12, tzinfo=UTC)
    async with db:
        assert (await db.users.read(row["id"]))["last_seen"] == expected  # type: ignore[index]
        for strategy in ("lateral", "batched"):
            found = await db.query.users.find_first(
                where={"id": row["id"]}, with_={"invited_by": True}, strategy=strategy
            )
            assert found is not None and found["last_seen"] == expected
        assert (await db.users.delete(row["id"]))["last_seen"] == expected  # type: ignore[index]
        assert await db.users.count() == 0


# -- one coercion rule for writes and filters ----------------------------------------------

# (field, value, accepted): the same answer on create, update and in a filter (pydantic's
# lax mode, a boolean never a number, bytes never converted; every path in
# tests/query/test_coercion_rule.py).
COERCION: list[tuple[str, Any, bool]] = [
    ("age", "3", True),
    ("age", 3.0, True),
    ("age", "3.5", False),
    ("age", True, False),
    ("age", 3, True),
    ("active", "yes", True),
    ("active", "true", True),
    ("active", 1, True),
    ("active", "maybe", False),
    ("active", True, True),
    ("score", "1.5", True),
    ("score", "abc", False),
    ("score", 2, True),
    ("score", 1.5, True),
    ("name", 5, False),
    ("name", b"bytes", False),
    ("last_seen", "2024-05-06T07:08:09+02:00", True),
    ("last_seen", "2024-05-06", True),
    ("last_seen", 1714979289, True),
    ("last_seen", "yesterday", False),
    ("born", "2024-05-06", True),
    ("born", dt.datetime(2024, 5, 6, tzinfo=UTC), True),
    ("born", dt.datetime(2024, 5, 6, 7, tzinfo=UTC), False),
    ("external_id", "12345678-1234-5678-1234-567812345678", True),
    ("external_id", 5, False),
    ("invited_by_id", "x", False),
]


@pytest.mark.parametrize(("column", "value", "accepted"), COERCION, ids=repr)
async def test_one_coercion_rule_for_writes_and_filters(
    shared_db: Database, column: str, value: Any, accepted: bool
) -> None:
    email = f"{uuid.uuid4().hex}@example.com"
    invited = None
    if column == "invited_by_id":
        invited = await shared_db.users.create({"name": "inv", "email": f"i{email}"})
    try:
        if accepted:
            row = await shared_db.users.create({"name": "c", "email": email, column: value})
            found = await shared_db.query.users.find_many(
                where={"email": email, column: value}, columns={"id": True}
            )
            assert found == [{"id": row["id"]}]
            updated = await shared_db.users.update(row["id"], {column: value})
            assert updated[column] == row[column]
            await shared_db.users.delete(row["id"])
            return
        before = await shared_db.users.count()
        with pytest.raises(ValidationError) as info:
            await shared_db.users.create({"name": "c", "email": email, column: value})
        assert info.value.errors[0]["loc"] == (column,)
        with pytest.raises(QueryError, match=rf"^where\.{column}: "):
            await shared_db.query.users.find_many(where={column: value})
        assert await shared_db.users.count() == before
    finally:
        if invited is not None:
            await shared_db.users.delete(invited["id"])


async def test_empty_where_dicts_filter_nothing(shared_db: Database) -> None:
    """Found by the fuzzer: ``{}`` inside OR/AND/NOT or a relation filter compiled to an
    empty ``and_()`` (a SQLAlchemy deprecation, an error under strict warnings)."""
    total = await shared_db.users.count()
    assert await shared_db.users.count({"OR": [{}]}) == total
    assert await shared_db.users.count({"NOT": {}}) == 0
    rows = await shared_db.query.users.find_many(where={"AND": [{}, {}]}, columns={"id": True})
    assert len(rows) == total
    for strategy in ("lateral", "batched"):
        nested = await shared_db.query.users.find_many(
            where={}, with_={"posts": {"where": {"OR": [{}]}}}, strategy=strategy
        )
        assert len(nested) == total


@pytest.mark.backends("postgresql")
async def test_postgresql_infinity_written_by_others_reads_as_aware_bounds(
    make_db: Any, backend: str, database_url: str
) -> None:
    """Rows another program stored as 'infinity' read back as aware datetime.max/min (not
    naive, not a ValueError in the lateral strategy's JSON)."""
    import asyncpg

    db = await make_db(BLOG)
    a = await db.users.create({"name": "a", "email": "a@example.com"})
    b = await db.users.create({"name": "b", "email": "b@example.com", "invited_by_id": a["id"]})
    schema = database_url.rsplit("schema=", 1)[1]
    conn = await asyncpg.connect(_plain(POSTGRES_URL))
    try:
        await conn.execute(
            f"UPDATE \"{schema}\".users SET last_seen = CASE WHEN id = $1 THEN 'infinity' "
            "ELSE '-infinity' END::timestamptz",
            a["id"],
        )
    finally:
        await conn.close()
    top, bottom = dt.datetime.max.replace(tzinfo=UTC), dt.datetime.min.replace(tzinfo=UTC)
    assert (await db.users.read(a["id"]))["last_seen"] == top  # type: ignore[index]
    for strategy in ("lateral", "batched"):
        row = await db.query.users.find_first(
            where={"id": b["id"]}, with_={"invited_by": True}, strategy=strategy
        )
        assert row is not None
        assert row["last_seen"] == bottom and row["last_seen"].tzinfo is not None
        assert row["invited_by"]["last_seen"] == top
        assert row["invited_by"]["last_seen"].tzinfo is not None
