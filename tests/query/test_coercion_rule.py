"""One coercion rule for every path a value takes (issue 10).

A value of the wrong Python type is converted as pydantic's lax mode converts it (what
FastAPI does with a request: ``"7"`` -> 7, an ISO string -> a datetime, ``"true"`` -> True),
with two exceptions: a boolean is never a number and bytes are never converted. What
cannot convert is a ``ValidationError`` on writes and a ``QueryError`` in queries, naming
the field or path, the value and the expected type; never a driver error.

Each case runs through every path on the same pushed database (one per backend): create,
update, ``count(where=...)``, a ``find_many`` literal, an ``in`` list, a prepared query's
placeholder (alone and in an ``in`` list), and ``read``/``update``/``delete`` by id; the
outcome must be the same on all of them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from deesse_async import Database, DeesseError, QueryError, ValidationError, define_config
from deesse_async import placeholder as ph
from tests.blog import BLOG
from tests.conftest import BACKENDS, fresh_database, require_backend

pytestmark = pytest.mark.anyio

UTC = dt.UTC
U = "12345678-1234-5678-1234-567812345678"
REFUSED = object()  # the expected outcome of a value that cannot convert

# (column, value given, value stored/compared or REFUSED, words the error must contain)
CASES: list[tuple[str, Any, Any, str]] = [
    # integer()
    ("age", 7, 7, ""),
    ("age", "7", 7, ""),
    ("age", " 7 ", 7, ""),
    ("age", 7.0, 7, ""),
    ("age", decimal.Decimal("7"), 7, ""),
    ("age", "x", REFUSED, "expected an integer, got 'x'"),
    ("age", "7.5", REFUSED, "expected an integer, got '7.5'"),
    ("age", 7.5, REFUSED, "expected an integer, got 7.5"),
    ("age", True, REFUSED, "expected an integer, got True (a boolean is not a number)"),
    ("age", b"7", REFUSED, "expected an integer, got b'7' (bytes are not converted)"),
    ("age", "", REFUSED, "expected an integer, got ''"),
    # number()
    ("score", 1.5, 1.5, ""),
    ("score", 2, 2.0, ""),
    ("score", "1.5", 1.5, ""),
    ("score", "1e2", 100.0, ""),
    ("score", decimal.Decimal("1.5"), 1.5, ""),
    ("score", "abc", REFUSED, "expected a number, got 'abc'"),
    ("score", "nan", REFUSED, "nan is not a finite number"),
    ("score", False, REFUSED, "expected a number, got False (a boolean is not a number)"),
    # boolean()
    ("active", True, True, ""),
    ("active", "true", True, ""),
    ("active", "false", False, ""),
    ("active", "1", True, ""),
    ("active", 0, False, ""),
    ("active", "yes", True, ""),
    ("active", "off", False, ""),
    ("active", "maybe", REFUSED, "expected a boolean, got 'maybe'; use true/false, yes/no"),
    ("active", 2, REFUSED, "expected a boolean, got 2; use true/false, yes/no, on/off or 1/0"),
    # timestamp()
    ("last_seen", "2024-05-06T07:08:09+02:00", dt.datetime(2024, 5, 6, 5, 8, 9, tzinfo=UTC), ""),
    ("last_seen", "2024-05-06T07:08:09Z", dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC), ""),
    ("last_seen", "2024-05-06 07:08:09", dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC), ""),
    ("last_seen", "2024-05-06", dt.datetime(2024, 5, 6, tzinfo=UTC), ""),
    ("last_seen", 1714979289, dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC), ""),
    ("last_seen", "garbage", REFUSED, "expected a datetime, got 'garbage'"),
    ("last_seen", "2024-13-45", REFUSED, "expected a datetime, got '2024-13-45'"),
    ("last_seen", True, REFUSED, "expected a datetime, got True"),
    # date()
    ("born", "2024-05-06", dt.date(2024, 5, 6), ""),
    ("born", dt.datetime(2024, 5, 6), dt.date(2024, 5, 6), ""),
    ("born", dt.datetime(2024, 5, 6, 7), REFUSED, "expected a date, got datetime.datetime"),
    ("born", "2024-05-06T07:00:00", REFUSED, "expected a date, got '2024-05-06T07:00:00'"),
    ("born", "soon", REFUSED, "expected a date, got 'soon'"),
    # uuid()
    ("external_id", U, uuid.UUID(U), ""),
    ("external_id", U.replace("-", ""), uuid.UUID(U), ""),
    ("external_id", U.upper(), uuid.UUID(U), ""),
    ("external_id", "nope", REFUSED, "expected a UUID, got 'nope'"),
    ("external_id", b"1234567812345678", REFUSED, "(bytes are not converted)"),
    ("external_id", 5, REFUSED, "expected a UUID, got 5"),
    # text()
    ("nickname", "bob", "bob", ""),
    ("nickname", 5, REFUSED, "expected a string, got 5"),
    ("nickname", b"bob", REFUSED, "expected a string, got b'bob' (bytes are not converted)"),
]


@pytest.fixture(scope="module", params=BACKENDS)
async def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    """One pushed blog database per backend for the whole module."""
    backend = str(request.param)
    await require_backend(backend)
    tmp: Path = tmp_path_factory.mktemp("coercion")
    async with fresh_database(backend, tmp / "c.db") as url:
        database = define_config(provider=url, collections=BLOG)
        await database.connect()
        try:
            await database.push()
            yield database
        finally:
            await database.close()


def _email() -> str:
    return f"{uuid.uuid4().hex}@example.com"


@pytest.mark.parametrize(
    ("column", "given", "expected", "words"),
    CASES,
    ids=[f"{c}={g!r}:{'refused' if e is REFUSED else 'ok'}" for c, g, e, _ in CASES],
)
async def test_one_rule_on_every_path(
    db: Database, column: str, given: Any, expected: Any, words: str
) -> None:
    if expected is REFUSED:
        await _refused_everywhere(db, column, given, words)
    else:
        await _accepted_everywhere(db, column, given, expected)


async def _accepted_everywhere(db: Database, column: str, given: Any, expected: Any) -> None:
    email = _email()
    row = await db.users.create({"name": "c", "email": email, column: given})
    try:
        assert row[column] == expected and type(row[column]) is type(expected)
        assert (await db.users.read(row["id"]))[column] == expected  # type: ignore[index]
        updated = await db.users.update(row["id"], {column: given})
        assert updated[column] == expected
        where = {"email": email, column: given}
        assert await db.users.count(where=where) == 1
        found = await db.query.users.find_many(where=where, columns={"id": True})
        assert found == [{"id": row["id"]}]
        in_list = {"email": email, column: {"in": [given]}}
        assert await db.query.users.find_many(where=in_list, columns={"id": True}) == found
        assert await db.users.count(where=in_list) == 1
        prepared = db.query.users.find_many(
            where={"email": ph("e"), column: ph("v")}, columns={"id": True}
        ).prepare()
        assert await prepared.execute(e=email, v=given) == found
        prepared_in = db.query.users.find_many(
            where={"email": ph("e"), column: {"in": [ph("v")]}}, columns={"id": True}
        ).prepare()
        assert await prepared_in.execute(e=email, v=given) == found
    finally:
        await db.users.delete(row["id"])


async def _refused_everywhere(db: Database, column: str, given: Any, words: str) -> None:
    email = _email()
    before = await db.users.count()
    with pytest.raises(ValidationError) as info:
        await db.users.create({"name": "c", "email": email, column: given})
    assert info.value.errors[0]["loc"] == (column,)
    assert words in info.value.errors[0]["msg"]
    assert f"{column}: " in str(info.value)
    row = await db.users.create({"name": "c", "email": email})
    try:
        with pytest.raises(ValidationError) as info:
            await db.users.update(row["id"], {column: given})
        assert info.value.errors[0]["loc"] == (column,) and words in info.value.errors[0]["msg"]
        for path, call in [
            (f"where.{column}", lambda: db.users.count(where={column: given})),
            (f"where.{column}", lambda: db.query.users.find_many(where={column: given})),
            (f"where.{column}.in[0]", lambda: db.users.count(where={column: {"in": [given]}})),
            (
                f"where.{column}.not_in[0]",
                lambda: db.query.users.find_many(where={column: {"not_in": [given]}}),
            ),
            (
                f"where.{column}.gt",
                lambda: db.query.users.find_first(where={column: {"gt": given}}),
            ),
        ]:
            with pytest.raises(QueryError) as qinfo:
                await call()
            assert str(qinfo.value) == f"{path}: {words}" or (
                str(qinfo.value).startswith(f"{path}: ") and words in str(qinfo.value)
            ), str(qinfo.value)
            assert qinfo.value.path == path
        for prepared in (
            db.query.users.find_many(where={column: ph("v")}).prepare(),
            db.query.users.find_many(where={column: {"in": [ph("v")]}}).prepare(),
        ):
            with pytest.raises(QueryError) as qinfo:
                await prepared.execute(v=given)
            assert str(qinfo.value).startswith("placeholder 'v': "), str(qinfo.value)
            assert words in str(qinfo.value)
        assert await db.users.count() == before + 1
    finally:
        await db.users.delete(row["id"])


# -- ids: read/update/delete and relation ids ------------------------------------------------

ID_CASES: list[tuple[Any, bool]] = [
    ("{id}", True),
    (" {id} ", True),
    ("{id}.0", True),
    ("x", False),
    (True, False),
    ("{id}.5", False),
]


@pytest.mark.parametrize(("template", "ok"), ID_CASES, ids=[repr(t) for t, _ in ID_CASES])
async def test_ids_follow_the_rule(db: Database, template: Any, ok: bool) -> None:
    owner = await db.users.create({"name": "o", "email": _email()})
    given = template.format(id=owner["id"]) if isinstance(template, str) else template
    try:
        if ok:
            assert (await db.users.read(given))["id"] == owner["id"]  # type: ignore[index]
            assert (await db.users.update(given, {"name": "p"}))["name"] == "p"
            assert await db.users.count(where={"id": given}) == 1
            found = await db.query.users.find_first(where={"id": given}, columns={"id": True})
            assert found == {"id": owner["id"]}
            invited = await db.users.create(
                {"name": "i", "email": _email(), "invited_by_id": given}
            )
            assert invited["invited_by_id"] == owner["id"]
            await db.users.delete(invited["id"])
            return
        for call in (
            lambda: db.users.read(given),
            lambda: db.users.update(given, {"name": "p"}),
            lambda: db.users.delete(given),
        ):
            with pytest.raises(ValidationError) as info:
                await call()
            assert info.value.errors[0]["loc"] == ("id",)
            assert "expected an integer, got" in info.value.errors[0]["msg"]
        with pytest.raises(ValidationError) as info:
            await db.users.create({"name": "i", "email": _email(), "invited_by_id": given})
        assert info.value.errors[0]["loc"] == ("invited_by_id",)
        assert "expected an integer, got" in info.value.errors[0]["msg"]
        with pytest.raises(QueryError, match=r"^where\.id: expected an integer, got "):
            await db.users.count(where={"id": given})
    finally:
        await db.users.delete(owner["id"])


async def test_uuid_ids_follow_the_rule(db: Database) -> None:
    owner = await db.users.create({"name": "o", "email": _email()})
    note = await db.notes.create({"body": "b", "owner_id": owner["id"]})
    try:
        text = str(note["id"]).replace("-", "").upper()
        assert (await db.notes.read(text))["id"] == note["id"]  # type: ignore[index]
        assert await db.notes.count(where={"id": text}) == 1
        with pytest.raises(ValidationError) as info:
            await db.notes.read("nope")
        assert info.value.errors[0]["loc"] == ("id",)
        assert "expected a UUID, got 'nope'" in info.value.errors[0]["msg"]
        with pytest.raises(ValidationError, match="bytes are not converted"):
            await db.notes.read(note["id"].bytes)
    finally:
        await db.notes.delete(note["id"])
        await db.users.delete(owner["id"])


# -- limit and offset ----------------------------------------------------------------------


async def test_limit_and_offset_follow_the_rule(db: Database) -> None:
    emails = [_email() for _ in range(3)]
    rows = [await db.users.create({"name": "l", "email": e}) for e in emails]
    try:
        where = {"email": {"in": emails}}
        got = await db.query.users.find_many(
            where=where, limit="2", offset=" 1 ", columns={"id": True}, order_by={"id": "asc"}
        )
        assert got == [{"id": rows[1]["id"]}, {"id": rows[2]["id"]}]
        prepared = db.query.users.find_many(
            where=where, limit=ph("n"), columns={"id": True}, order_by={"id": "asc"}
        ).prepare()
        assert await prepared.execute(n="1") == [{"id": rows[0]["id"]}]
        with pytest.raises(QueryError, match=r"^limit: expected an integer, got 'two'"):
            db.query.users.find_many(limit="two")
        with pytest.raises(QueryError, match=r"^offset: expected an integer, got True"):
            db.query.users.find_many(offset=True)
        with pytest.raises(QueryError, match=r"^limit: must be >= 0, got -1"):
            db.query.users.find_many(limit="-1")
        with pytest.raises(QueryError, match=r"^placeholder 'n': expected an integer, got 'x'"):
            await prepared.execute(n="x")
        with pytest.raises(QueryError, match=r"^placeholder 'n': limit/offset must be >= 0"):
            await prepared.execute(n="-1")
    finally:
        for row in rows:
            await db.users.delete(row["id"])


async def test_no_driver_error_escapes(db: Database) -> None:
    """Values that pass the rule but that a driver might choke on are still ours to refuse."""
    for column, value in [
        ("age", "9" * 30),
        ("score", "1e400"),
        ("last_seen", "9999-12-31T23:59:59.999999+00:00"),
        ("born", "0001-01-01"),
        ("nickname", "a\x00b"),
    ]:
        with pytest.raises(ValidationError):
            await db.users.create({"name": "c", "email": _email(), column: value})
        with pytest.raises(QueryError, match=rf"^where\.{column}: "):
            await db.users.count(where={column: value})
        prepared = db.query.users.find_many(where={column: ph("v")}).prepare()
        with pytest.raises(DeesseError, match=r"^placeholder 'v': "):
            await prepared.execute(v=value)


def test_a_value_of_the_type_is_taken_as_it_is() -> None:
    """The fast path: no conversion, no copy (prepared queries bind through it)."""
    from deesse_async.compile.coercion import coerce_value

    for kind, value in [
        ("int", 7),
        ("str", "s"),
        ("float", 1.5),
        ("bool", False),
        ("uuid", uuid.UUID(U)),
        ("date", dt.date(2024, 5, 6)),
        ("datetime", dt.datetime(2024, 5, 6, tzinfo=UTC)),
    ]:
        assert coerce_value(kind, value) is value, kind
