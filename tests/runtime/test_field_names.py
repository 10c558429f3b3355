"""Field names that are pydantic ``BaseModel`` attributes (``copy``, ``json``,
``model_dump``...) work: the collection's models give them another attribute name and
the field's name as alias, so that every key a caller writes or reads is the field's.
A name starting with ``_`` (pydantic's private attributes) is refused by ``collection()``.
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx  # the test extra installs httpx and fastapi: missing is a failure
import pytest
from fastapi import FastAPI

from deesse_async import (
    AccessDenied,
    ConfigError,
    ValidationError,
    collection,
    define_config,
    field,
    integer,
    relation,
    required,
    text,
)
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio

# Every one of these made pydantic warn (or fail: model_dump, model_config).
NAMES = [
    "copy",
    "json",
    "dict",
    "schema",
    "validate",
    "construct",
    "model_dump",
    "model_config",
    "model_fields",
    "fields",
]


def _notes() -> Any:
    fields: dict[str, Any] = {n: field(type=text()) for n in NAMES}
    fields["copy"] = required(field(type=text(max=10)))
    fields["f_copy"] = field(type=integer())  # the attribute name "copy" would take
    return collection(slug="notes", fields=fields)


def test_the_models_build_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Notes = _notes()
        define_config("sqlite://:memory:", [Notes])
        create, update, read = Notes.create_model, Notes.update_model, Notes.read_model
    body = {"copy": "c", "json": "j", "model_dump": "m", "model_config": "k", "f_copy": 3}
    made = create.model_validate(body)
    assert made.model_dump(exclude_unset=True) == body
    assert set(create.model_json_schema()["properties"]) == {*NAMES, "f_copy"}
    assert update.model_validate({"schema": "s"}).model_dump(exclude_unset=True) == {"schema": "s"}
    row = {"id": 1, **{n: n.upper() for n in NAMES}, "f_copy": 7}
    row |= {"created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
    dumped = read.model_validate(row).model_dump()
    assert {k: dumped[k] for k in [*NAMES, "f_copy"]} == {k: row[k] for k in [*NAMES, "f_copy"]}
    # Only the field's own name is its key: the attribute name is not a second spelling.
    with pytest.raises(Exception, match="Extra inputs are not permitted"):
        create.model_validate({"copy": "c", "f_copy_": 1})


async def test_crud_and_queries_round_trip(make_db: MakeDb) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        db = await make_db([_notes()])
    row = await db.notes.create({"copy": "one", "json": "j", "model_dump": "md", "f_copy": 1})
    assert (row["copy"], row["json"], row["model_dump"], row["f_copy"]) == ("one", "j", "md", 1)
    assert row["dict"] is None
    got = await db.notes.read(row["id"])
    assert got is not None and got["copy"] == "one" and got["model_dump"] == "md"
    changed = await db.notes.update(row["id"], {"copy": "two", "schema": "s"})
    assert (changed["copy"], changed["schema"], changed["json"]) == ("two", "s", "j")
    many = await db.notes.create_many(
        [{"copy": "three", "validate": "v"}, {"copy": "four", "model_config": "k"}]
    )
    assert [(r["copy"], r["validate"], r["model_config"]) for r in many] == [
        ("three", "v", None),
        ("four", None, "k"),
    ]
    # A model instance is dumped by its field names.
    from_model = await db.notes.create(
        _notes_model(db).model_validate({"copy": "five", "json": "x"})
    )
    assert (from_model["copy"], from_model["json"]) == ("five", "x")
    q = db.query.notes.find_many(
        columns={"copy": True, "model_dump": True},
        where={"copy": {"in": ["two", "three"]}},
        order_by={"copy": "asc"},
    )
    rows = await q
    assert rows == [{"copy": "three", "model_dump": None}, {"copy": "two", "model_dump": "md"}]
    assert [q.response_model.model_validate(r).model_dump() for r in rows] == rows
    everything = await db.query.notes.find_first(where={"copy": "two"})
    assert everything is not None and everything["schema"] == "s"
    with pytest.raises(ValidationError, match="copy"):
        await db.notes.create({"copy": "x" * 11})
    with pytest.raises(ValidationError, match=r"unknown field 'copyy'.*did you mean 'copy'"):
        await db.notes.create({"copy": "ok", "copyy": 1})
    assert await db.notes.count() == 4


def _notes_model(db: Any) -> Any:
    return db.schema["notes"].create_model


async def test_fastapi_request_bodies_use_the_field_name(make_db: MakeDb) -> None:
    db = await make_db([_notes()])
    Create = _notes_model(db)
    Read = db.schema["notes"].read_model
    app = FastAPI()

    async def create(body: Any) -> Any:
        return await db.notes.create(body)

    create.__annotations__["body"] = Create  # the model itself (this module's are strings)
    app.post("/notes", response_model=Read)(create)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ok = await client.post("/notes", json={"copy": "c", "model_dump": "m", "dict": "d"})
        bad = await client.post("/notes", json={"json": "no copy"})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert (body["copy"], body["model_dump"], body["dict"], body["json"]) == ("c", "m", "d", None)
    assert bad.status_code == 422 and "copy" in bad.text
    assert (await db.notes.read(body["id"]))["dict"] == "d"  # type: ignore[index]


@pytest.mark.parametrize("name", ["_x", "_copy", "_"])
def test_a_leading_underscore_is_refused(name: str) -> None:
    with pytest.raises(
        ConfigError,
        match=rf"collection 'things', field '{name}': field names cannot start with '_': "
        r"pydantic treats them as private; rename it",
    ):
        collection(slug="things", fields={"n": field(type=text()), name: field(type=text())})


async def test_relations_named_like_basemodel_attributes(make_db: MakeDb) -> None:
    tags = collection(slug="tags", fields={"name": required(field(type=text()))})
    links = collection(
        slug="links",
        fields={
            "json": field(type=relation("tags", many=True, related_name="json_links")),
            "schema": field(type=relation("tags", related_name="schema_links")),
        },
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        db = await make_db([tags, links])
    a, b = await db.tags.create_many([{"name": "a"}, {"name": "b"}])
    link = await db.links.create({"json": [b["id"], a["id"]], "schema_id": a["id"]})
    assert (link["json"], link["schema_id"]) == (sorted([a["id"], b["id"]]), a["id"])
    link = await db.links.update(link["id"], {"json": [b["id"]]})
    assert link["json"] == [b["id"]]
    q = db.query.links.find_many(
        columns={"id": True}, with_={"json": {"columns": {"name": True}}, "schema": True}
    )
    rows = await q
    assert rows[0]["json"] == [{"name": "b"}] and rows[0]["schema"]["name"] == "a"
    assert q.response_model.model_validate(rows[0]).model_dump() == rows[0]


async def test_a_field_write_rule_sees_the_field_name_of_a_model_instance(
    make_db: MakeDb,
) -> None:
    """A model instance's set fields are attributes ("f_copy"); the rule is on "copy"."""
    secrets = collection(
        slug="secrets",
        fields={
            "copy": field(type=text(), access={"create": lambda ctx: False}),
            "dict": field(type=text()),
        },
    )
    db = await make_db([secrets])
    model = db.schema["secrets"].create_model
    user = db.with_user({"id": 1})
    with pytest.raises(AccessDenied, match="writing the field 'copy' is denied"):
        await user.secrets.create(model(copy="no"))
    with pytest.raises(AccessDenied, match="writing the field 'copy' is denied"):
        await user.secrets.create({"copy": "no"})
    row = await user.secrets.create(model(dict="yes"))
    assert (row["dict"], row["copy"]) == ("yes", None)
    assert await db.secrets.count() == 1
