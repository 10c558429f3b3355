"""``Query.response_model`` / ``PreparedQuery.response_model`` (API.md §4 "Shapes and
types"): real rows of several shapes validate against their model and dump back to the
same row, on every backend and strategy; the model is cached per shape; a FastAPI app's
OpenAPI document holds the nested shape (a snapshot) and its real responses validate
against that published schema."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import uuid
from pathlib import Path
from typing import Any

import httpx  # the test extra installs httpx, fastapi and jsonschema: missing is a failure
import jsonschema
import pydantic
import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Header

from deesse_async import (
    Database,
    collection,
    field,
    number,
    placeholder,
    relation,
    required,
    text,
)
from tests.blog import BLOG
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio

STRATEGIES = ("lateral", "batched")
SNAPSHOT = Path(__file__).parent / "snapshots" / "openapi_response_model.json"
UPDATE = os.environ.get("DEESSE_UPDATE_SNAPSHOTS") == "1"

# A field read rule hides `salary` from all but the boss, and `manager` (its column, the
# relation, and `reports`, the relation back over it) from anonymous callers.
Staff = collection(
    slug="staff",
    fields={
        "name": required(field(type=text(max=40))),
        "salary": field(type=number(), access={"read": lambda ctx: ctx.user == "boss"}),
        "manager": field(
            type=relation("staff", related_name="reports"),
            access={"read": lambda ctx: ctx.user is not None},
        ),
    },
)


async def seed(db: Database) -> dict[str, Any]:
    ann = await db.users.create(
        {"name": "ann", "email": "ann@example.com", "age": 31, "score": 0.1 + 0.2,
         "active": False, "last_seen": dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
         "external_id": uuid.UUID(int=7), "profile": {"k": [1, None]},
         "born": dt.date(1990, 5, 6), "nickname": "a"}
    )  # fmt: skip
    bob = await db.users.create(
        {"name": "bob", "email": "bob@example.com", "invited_by_id": ann["id"], "score": 2.5}
    )
    tags = await db.tags.create_many([{"name": "red"}, {"name": "blue"}])
    p1 = await db.posts.create(
        {"title": "p1", "author_id": ann["id"], "status": "published",
         "tags": [t["id"] for t in tags]}
    )  # fmt: skip
    p2 = await db.posts.create({"title": "p2", "author_id": ann["id"], "content": "x"})
    await db.posts.create({"title": "p3", "author_id": bob["id"]})
    await db.comments.create({"body": "c1", "post_id": p1["id"], "author_id": bob["id"]})
    await db.comments.create({"body": "c2", "post_id": p1["id"]})  # author None
    await db.comments.create({"body": "c3", "post_id": p2["id"], "author_id": ann["id"]})
    return {"ann": ann, "bob": bob, "tags": tags}


def same_row(model: type[pydantic.BaseModel], row: dict[str, Any], backend: str = "") -> None:
    """``row`` validates against ``model`` and dumps back to exactly ``row`` (keys, nested
    rows, values and their types)."""
    dumped = model.model_validate(row).model_dump(by_alias=True)
    assert dumped == row
    assert _types(dumped, backend) == _types(row, backend)


def _types(value: Any, backend: str) -> Any:
    if isinstance(value, dict):
        return {k: _types(v, backend) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v, backend) for v in value]
    if isinstance(value, decimal.Decimal) and backend == "sqlite":
        return float  # SQLite has no decimal type: a NUMERIC expression gives a float
    return type(value)


def PRICE(t: Any) -> Any:
    # Exact in binary too: SQLite (no decimal type) returns a float, the model a Decimal.
    return sa.cast(t.c.id, sa.Numeric(10, 2)) + sa.literal_column("0.25")


# name -> (find_many options, names of the top-level fields in order)
SHAPES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "three levels, one relation None": (
        {
            "columns": {"id": True, "name": True, "last_seen": True, "external_id": True},
            "with_": {
                "invited_by": {"columns": {"name": True}},
                "posts": {
                    "columns": {"title": True, "status": True},
                    "with": {"comments": {"with": {"author": {"columns": {"name": True}}}}},
                },
            },
        },
        ["id", "name", "last_seen", "external_id", "invited_by", "posts"],
    ),
    "columns all but": (
        {"columns": {"profile": False, "email": False, "created_at": False}},
        "id name invited_by_id age score active born last_seen external_id role nickname "
        "updated_at".split(),
    ),
    "extras of every type": (
        {
            "columns": {"id": True},
            "extras": {
                "price": lambda t: PRICE(t),
                "is_late": lambda t: t.c.id > 1,
                "seen": lambda t: t.c.last_seen,
                "upper": lambda t: sa.func.upper(t.c.name),  # no known type: Any
            },
            "with_": {"posts": {"columns": {}, "extras": {"n": lambda t: t.c.id + 1}}},
        },
        ["id", "price", "is_late", "seen", "upper", "posts"],
    ),
    "only a relation": (
        {"columns": {}, "with_": {"invitees": {"columns": {"email": True, "active": True}}}},
        ["invitees"],
    ),
}


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("shape", list(SHAPES))
async def test_rows_validate_against_their_model(
    make_db: MakeDb, backend: str, strategy: str, shape: str
) -> None:
    db = await make_db(BLOG)
    await seed(db)
    options, names = SHAPES[shape]
    q = db.query.users.find_many(**options, order_by={"id": "asc"}, strategy=strategy)
    model = q.response_model
    assert list(model.model_fields) == names
    rows = await q
    assert len(rows) == 2
    for row in rows:
        same_row(model, row, backend)
    first = await db.query.users.find_first(**options, strategy=strategy)
    assert first is not None
    same_row(model, first, backend)
    if shape == "three levels, one relation None":
        assert rows[0]["invited_by"] is None and rows[1]["invited_by"] == {"name": "ann"}
        comments = rows[0]["posts"][0]["comments"]
        assert [c["author"] for c in comments] == [{"name": "bob"}, None]
        valid = model.model_validate(rows[0])
        assert isinstance(valid.last_seen, dt.datetime)  # type: ignore[attr-defined]
        assert isinstance(valid.external_id, uuid.UUID)  # type: ignore[attr-defined]
    if shape == "extras of every type":
        fields = model.model_fields
        assert fields["price"].annotation == decimal.Decimal | None
        assert fields["is_late"].annotation == bool | None
        assert fields["seen"].annotation == dt.datetime | None
        assert fields["upper"].annotation == Any
        assert [r["is_late"] for r in rows] == [False, True]
        price = model.model_validate(rows[1]).price  # type: ignore[attr-defined]
        assert price == decimal.Decimal("2.25") and isinstance(price, decimal.Decimal)
        # Where the driver gives Decimal, so does the row (SQLite has no decimal type).
        if backend != "sqlite":
            assert rows[1]["price"] == decimal.Decimal("2.25")


async def test_model_rejects_rows_it_does_not_describe(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    await seed(db)
    options = SHAPES["three levels, one relation None"][0]
    model = db.query.users.find_many(**options).response_model
    row = (await db.query.users.find_many(**options))[0]
    same_row(model, row)

    def errors(bad: dict[str, Any]) -> list[tuple[Any, ...]]:
        with pytest.raises(pydantic.ValidationError) as info:
            model.model_validate(bad)
        return [(e["type"], e["loc"]) for e in info.value.errors()]

    # A selected column missing (even a nullable one: the key is always there).
    assert errors({k: v for k, v in row.items() if k != "name"}) == [("missing", ("name",))]
    assert errors({k: v for k, v in row.items() if k != "invited_by"}) == [
        ("missing", ("invited_by",))
    ]
    # A nested row missing a column; a wrong type.
    post = {k: v for k, v in row["posts"][0].items() if k != "title"}
    assert errors({**row, "posts": [post]}) == [("missing", ("posts", 0, "title"))]
    assert errors({**row, "external_id": "not a uuid"})[0][1] == ("external_id",)
    # A many relation is a list, never None.
    assert errors({**row, "posts": None}) == [("list_type", ("posts",))]


async def test_one_model_per_shape(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    shape = {"columns": {"id": True}, "with_": {"posts": {"columns": {"title": True}}}}
    q = db.query.users.find_many(**shape, where={"id": 1})
    model = q.response_model
    # Same shape: where values, where itself, limits, find_first, the prepared query, a
    # transaction's and a user's view all describe the same row.
    assert db.query.users.find_many(**shape, where={"id": 2}).response_model is model
    assert db.query.users.find_many(**shape, limit=3).response_model is model
    assert db.query.users.find_first(**shape).response_model is model
    prepared = db.query.users.find_many(**shape, where={"id": placeholder("id")}).prepare()
    assert prepared.response_model is model
    assert prepared.with_user("x").response_model is model
    assert db.with_user("x").query.users.find_many(**shape).response_model is model
    async with db.transaction() as tx:
        assert tx.query.users.find_many(**shape).response_model is model
    # The full row of a collection is one model, named after it, top level or nested.
    full = db.query.posts.find_many().response_model
    assert full.__name__ == "PostsRow"
    nested = db.query.users.find_many(with_={"posts": True}).response_model
    assert nested.model_fields["posts"].annotation == list[full]  # type: ignore[valid-type]
    # Another shape: another class and another name.
    shapes = [
        {"columns": {"id": True}},
        {"columns": {"name": True}},
        {"columns": {"id": True}, "with_": {"posts": {"columns": {"id": True}}}},
        {"columns": {"id": True}, "with_": {"invited_by": {"columns": {"id": True}}}},
        {"columns": {"id": True}, "extras": {"x": lambda t: t.c.id + 1}},
        {"columns": {"id": True}, "extras": {"x": lambda t: t.c.name}},
    ]
    models = [model, *(db.query.users.find_many(**s).response_model for s in shapes)]
    assert len({id(m) for m in models}) == len(models)
    assert len({m.__name__ for m in models}) == len(models)
    assert all(m.__name__.startswith("UsersRow_") for m in models)


async def test_names_are_deterministic(make_db: MakeDb, tmp_path: Path) -> None:
    from deesse_async import define_config

    db = await make_db(BLOG)
    other = define_config(provider=f"sqlite:///{tmp_path / 'other.db'}", collections=BLOG)
    options = SHAPES["three levels, one relation None"][0]
    a = db.query.users.find_many(**options).response_model
    b = other.query.users.find_many(**options).response_model
    assert a is not b  # one cache per database
    assert json.dumps(a.model_json_schema(), sort_keys=True) == json.dumps(
        b.model_json_schema(), sort_keys=True
    )
    assert a.__name__ == b.__name__


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_fields_hidden_from_some_callers(
    make_db: MakeDb, backend: str, strategy: str
) -> None:
    db = await make_db([Staff])
    admin = db.trusted()
    boss = await admin.staff.create({"name": "boss", "salary": 100.5})
    await admin.staff.create({"name": "eve", "salary": 50.25, "manager_id": boss["id"]})
    options: dict[str, Any] = {
        "columns": {"id": True, "name": True, "salary": True, "manager_id": True},
        "with_": {"manager": {"columns": {"name": True}}, "reports": {"columns": {"name": True}}},
        "order_by": {"id": "asc"},
        "strategy": strategy,
    }
    model = db.query.staff.find_many(**options).response_model
    seen = {
        None: await db.query.staff.find_many(**options),
        "eve": await db.with_user("eve").query.staff.find_many(**options),
        "boss": await db.with_user("boss").query.staff.find_many(**options),
        "trusted": await admin.query.staff.find_many(**options),
    }
    assert [set(rows[0]) for rows in seen.values()] == [
        {"id", "name"},
        {"id", "name", "manager_id", "manager", "reports"},
        {"id", "name", "salary", "manager_id", "manager", "reports"},
        {"id", "name", "salary", "manager_id", "manager", "reports"},
    ]
    for rows in seen.values():
        for row in rows:
            same_row(model, row)  # hidden keys stay out of the dump, not null
    assert seen["boss"][1]["salary"] == 50.25 and seen["eve"][1]["manager"] == {"name": "boss"}
    # The published schema: the hidden keys are optional, never null, no default.
    schema = model.model_json_schema(mode="serialization")
    assert schema["required"] == ["id", "name"]
    assert schema["properties"]["salary"] == {
        "anyOf": [{"type": "number"}, {"type": "null"}],  # salary is not required
        "title": "Salary",
    }
    assert "hidden from some callers" in schema["description"]
    # Still rejects a row without a key every caller gets.
    with pytest.raises(pydantic.ValidationError):
        model.model_validate({"id": 1})


def users_app(db: Database) -> tuple[FastAPI, dict[str, Any]]:
    """A FastAPI app whose routes declare ``response_model=list[q.response_model]``."""
    app = FastAPI(title="shapes", version="1")
    users = db.query.users.find_many(
        columns={"id": True, "name": True, "score": True, "last_seen": True,
                 "external_id": True, "active": True, "born": True, "profile": True},
        with_={
            "invited_by": {"columns": {"id": True, "name": True}},
            "posts": {
                "columns": {"title": True, "status": True},
                "where": {"status": "published"},
                "with": {"comments": {"columns": {"body": True},
                                      "with": {"author": {"columns": {"name": True}}}},
                         "tags": {"columns": {"name": True}}},
            },
        },
        extras={"price": lambda t: PRICE(t)},
        order_by={"id": "asc"},
    ).prepare("users")  # fmt: skip
    one_user = db.query.users.find_first(
        columns={"id": True, "email": True}, where={"id": placeholder("id")}
    ).prepare("one_user")
    staff = db.query.staff.find_many(
        with_={"manager": {"columns": {"name": True}}}, order_by={"id": "asc"}
    ).prepare("staff")

    @app.get("/users", response_model=list[users.response_model])  # type: ignore[name-defined]
    async def list_users() -> Any:
        return await users.execute()

    @app.get("/users/{id}", response_model=one_user.response_model | None)
    async def get_user(id: int) -> Any:
        return await one_user.execute(id=id)

    @app.get("/staff", response_model=list[staff.response_model])  # type: ignore[name-defined]
    async def list_staff(x_user: str | None = Header(default=None)) -> Any:
        return await staff.with_user(x_user).execute()

    return app, {"/users": users, "/staff": staff}


def check_against_openapi(openapi: dict[str, Any], path: str, body: Any) -> None:
    """``body`` validates against the 200 response schema ``openapi`` publishes."""
    response = openapi["paths"][path]["get"]["responses"]["200"]
    schema = response["content"]["application/json"]["schema"]
    document = {**schema, "components": openapi["components"]}
    jsonschema.Draft202012Validator(document).validate(body)


async def test_fastapi_routes_and_openapi(make_db: MakeDb, backend: str) -> None:
    db = await make_db([*BLOG, Staff])
    people = await seed(db)
    admin = db.trusted()
    boss = await admin.staff.create({"name": "boss", "salary": 9.5})
    await admin.staff.create({"name": "eve", "salary": 1.5, "manager_id": boss["id"]})
    app, queries = users_app(db)

    openapi = app.openapi()
    text_now = json.dumps(openapi, indent=2) + "\n"
    if UPDATE:
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text_now)
    assert text_now == SNAPSHOT.read_text(), (
        "the OpenAPI document changed; if on purpose, rerun with DEESSE_UPDATE_SNAPSHOTS=1"
    )
    # The nested shape is in the document: users -> posts -> comments -> author.
    schemas = openapi["components"]["schemas"]
    users_schema = schemas[queries["/users"].response_model.__name__]
    posts_ref = users_schema["properties"]["posts"]["items"]["$ref"].rsplit("/", 1)[1]
    comments_ref = schemas[posts_ref]["properties"]["comments"]["items"]["$ref"]
    comment = schemas[comments_ref.rsplit("/", 1)[1]]
    assert list(comment["properties"]) == ["body", "author"]
    assert comment["required"] == ["body", "author"]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/users")
        assert r.status_code == 200
        body = r.json()
        check_against_openapi(openapi, "/users", body)
        rows = await queries["/users"].execute()
        model = queries["/users"].response_model
        adapter = pydantic.TypeAdapter(list[model])  # type: ignore[valid-type]
        assert body == adapter.dump_python(adapter.validate_python(rows), mode="json")
        ann = body[0]
        assert ann["external_id"] == "00000000-0000-0000-0000-000000000007"
        assert ann["last_seen"] == "2024-01-02T03:04:05.000006Z"
        assert [row["price"] for row in body] == ["1.25", "2.25"]
        assert ann["invited_by"] is None and body[1]["invited_by"]["name"] == "ann"
        assert [c["author"] for c in ann["posts"][0]["comments"]] == [{"name": "bob"}, None]
        assert ann["posts"][0]["tags"] == [{"name": "red"}, {"name": "blue"}]

        r = await client.get(f"/users/{people['bob']['id']}")
        assert r.json() == {"id": people["bob"]["id"], "email": "bob@example.com"}
        check_against_openapi(openapi, "/users/{id}", r.json())
        r = await client.get("/users/999")
        assert (r.status_code, r.json()) == (200, None)

        # Hidden fields: absent (not null) for the anonymous caller, present for the boss.
        anon = (await client.get("/staff")).json()
        assert [set(row) for row in anon] == [{"id", "name", "created_at", "updated_at"}] * 2
        chief = (await client.get("/staff", headers={"x-user": "boss"})).json()
        assert [row["salary"] for row in chief] == [9.5, 1.5]
        assert chief[1]["manager"] == {"name": "boss"}
        for staff_body in (anon, chief):
            check_against_openapi(openapi, "/staff", staff_body)


async def test_keys_pydantic_reserves(make_db: MakeDb) -> None:
    """Row keys that cannot be pydantic attribute names (BaseModel's own, a leading
    underscore) are aliases: validated and dumped under the row's own key."""
    db = await make_db(BLOG)
    await seed(db)
    q = db.query.users.find_many(
        columns={"id": True},
        extras={
            "_e": lambda t: t.c.id + 1,
            "json": lambda t: t.c.name,
            "model_fields": lambda t: t.c.id > 1,
            "copy": lambda t: t.c.age,
            "f_copy": lambda t: t.c.id,  # the attribute name "copy" would get first
        },
        order_by={"id": "asc"},
    )
    model = q.response_model
    rows = await q
    assert rows[0] == {
        "id": 1, "_e": 2, "json": "ann", "model_fields": False, "copy": 31, "f_copy": 1
    }  # fmt: skip
    for row in rows:
        same_row(model, row)
        assert json.loads(model.model_validate(row).model_dump_json()) == row
    properties = model.model_json_schema(mode="serialization")["properties"]
    assert list(properties) == ["id", "_e", "json", "model_fields", "copy", "f_copy"]
    with pytest.raises(pydantic.ValidationError):
        model.model_validate({k: v for k, v in rows[0].items() if k != "_e"})
