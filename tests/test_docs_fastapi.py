"""docs/fastapi.md's app runs as written (on SQLite, in a temporary folder) and answers
what the page's table says; its OpenAPI document holds the shapes the page names, and
every 200 answer validates against the schema it publishes."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx  # the test extra installs httpx, fastapi and jsonschema: missing is a failure
import jsonschema
import pytest

from tests import doc_apps

pytestmark = pytest.mark.anyio

DOC = Path(__file__).parent.parent / "docs" / "fastapi.md"
ADA = {"x-user": "ada"}
PROBLEM = "application/problem+json"


def example() -> str:
    return doc_apps.example("fastapi.md")


def load(folder: Path) -> ModuleType:
    return doc_apps.load("fastapi.md", folder, "fastapi_doc_app")


@pytest.fixture
async def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ModuleType]:
    """The example module, its app started (lifespan), tables pushed, ``seed()`` run."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DEESSE_ENV", raising=False)
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        module = load(tmp_path)
        async with module.app.router.lifespan_context(module.app):
            await module.db.push()
            await module.seed()
            yield module
        assert (tmp_path / "blog.db").exists()  # the example's own SQLite file
    finally:
        os.chdir(cwd)


@pytest.fixture
async def client(app: ModuleType) -> AsyncIterator[Any]:
    transport = httpx.ASGITransport(app=app.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def published(openapi: dict[str, Any], method: str, path: str, status: str) -> Any:
    """The JSON schema ``openapi`` publishes for that answer, ready to validate with."""
    content = openapi["paths"][path][method]["responses"][status]["content"]
    return {**content["application/json"]["schema"], "components": openapi["components"]}


async def test_reads_per_caller(client: Any, app: ModuleType) -> None:
    openapi = app.app.openapi()
    posts_schema = published(openapi, "get", "/posts", "200")
    r = await client.get("/posts")
    assert r.status_code == 200
    assert r.json() == [
        {"id": 1, "title": "Hello", "status": "published", "author": {"name": "Ada"}}
    ]
    jsonschema.Draft202012Validator(posts_schema).validate(r.json())
    r = await client.get("/posts", headers=ADA)
    ada = {"name": "Ada", "email": "ada@example.com"}
    assert r.json() == [
        {"id": 2, "title": "Notes", "status": "draft", "author": ada},
        {"id": 1, "title": "Hello", "status": "published", "author": ada},
    ]
    jsonschema.Draft202012Validator(posts_schema).validate(r.json())
    assert (await client.get("/posts?limit=1", headers=ADA)).json() == r.json()[:1]

    r = await client.get("/authors/1")
    assert (r.status_code, r.json()) == (
        200,
        {"id": 1, "name": "Ada", "name_length": 3, "posts": [{"id": 1, "title": "Hello"}]},
    )
    jsonschema.Draft202012Validator(published(openapi, "get", "/authors/{id}", "200")).validate(
        r.json()
    )
    r = await client.get("/authors/1", headers=ADA)
    assert [p["title"] for p in r.json()["posts"]] == ["Notes", "Hello"]


async def test_errors_are_problem_details(client: Any) -> None:
    async def problem(method: str, url: str, **kw: Any) -> tuple[int, dict[str, Any]]:
        r = await client.request(method, url, **kw)
        assert r.headers["content-type"] == PROBLEM
        body = r.json()
        assert body["status"] == r.status_code and body["type"] == "about:blank"
        return r.status_code, body

    status, body = await problem("GET", "/authors/99")
    assert (status, body["title"], body["detail"]) == (
        404, "Not Found", "authors with id 99 does not exist")  # fmt: skip
    status, body = await problem("GET", "/posts?limit=0")
    assert (status, body["title"]) == (422, "Unprocessable Content")
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [
        (["query", "limit"], "greater_than_equal")
    ]
    new = {"title": "New", "author_id": 1}
    status, body = await problem("POST", "/posts", json=new)
    assert (status, body["detail"]) == (403, "create on 'posts' is denied by its access rule")
    r = await client.post("/posts", json=new, headers=ADA)
    assert r.status_code == 201
    row = r.json()
    assert {k: v for k, v in row.items() if not k.endswith("_at")} == {
        "id": 3, "title": "New", "body": None, "status": "draft", "author_id": 1
    }  # fmt: skip
    status, body = await problem("POST", "/posts", json=new, headers=ADA)
    assert (status, body["errors"][0]["loc"], body["errors"][0]["type"]) == (
        409, ["title"], "UniqueViolation")  # fmt: skip
    status, body = await problem("POST", "/posts", json={**new, "title": ""}, headers=ADA)
    assert (status, body["errors"]) == (
        422,
        [{"loc": ["body", "title"], "msg": "String should have at least 1 character",
          "type": "string_too_short"}],
    )  # fmt: skip
    status, body = await problem("POST", "/posts", json={"title": "X", "author_id": 9}, headers=ADA)
    assert (status, body["errors"][0]["loc"], body["errors"][0]["type"]) == (
        409, ["author_id"], "ForeignKeyViolation")  # fmt: skip
    status, body = await problem("PATCH", "/posts/77", json={"title": "Y"}, headers=ADA)
    assert (status, body["detail"]) == (404, "posts with id 77 does not exist")
    r = await client.patch("/posts/3", json={"status": "published"}, headers=ADA)
    assert (r.status_code, r.json()["status"]) == (200, "published")
    assert [p["title"] for p in (await client.get("/posts")).json()] == ["New", "Hello"]


async def test_openapi_shows_the_shapes_the_page_names(app: ModuleType) -> None:
    openapi = app.app.openapi()
    schemas = openapi["components"]["schemas"]
    text = DOC.read_text()
    named = set(re.findall(r"\b((?:Posts|Authors)Row_[0-9a-f]{8})\b", text))
    assert named == {"PostsRow_c6ad006b", "AuthorsRow_d94e47a6"}
    assert named <= set(schemas)
    items = openapi["paths"]["/posts"]["get"]["responses"]["200"]["content"]
    assert items["application/json"]["schema"]["items"] == {
        "$ref": "#/components/schemas/PostsRow_c6ad006b"
    }
    author = schemas["PostsRow_c6ad006b"]["properties"]["author"]
    assert author == {
        "anyOf": [{"$ref": "#/components/schemas/AuthorsRow_d94e47a6"}, {"type": "null"}]
    }
    assert schemas["AuthorsRow_d94e47a6"]["required"] == ["name"]  # email: hidden from some
    page = schemas[app.author_page.response_model.__name__]
    assert page["properties"]["name_length"] == {
        "anyOf": [{"type": "integer"}, {"type": "null"}],
        "title": "Name Length",
    }
    create = openapi["paths"]["/posts"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PostsCreate"
    }
    assert list(create["responses"]) == ["201", "422"]
