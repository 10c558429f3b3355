"""``deesse_async.fastapi.install_error_handlers`` (API.md §8) on a real app and database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx  # the test extra installs httpx and fastapi: missing is a failure, not a skip
import pytest
from fastapi import FastAPI

from deesse_async import (
    collection,
    define_config,
    field,
    integer,
    relation,
    required,
    text,
    unique,
)
from deesse_async.fastapi import install_error_handlers

pytestmark = pytest.mark.anyio

Authors = collection(slug="authors", fields={"name": unique(required(field(type=text(max=20))))})
Notes = collection(
    slug="notes",
    fields={
        "body": required(field(type=text(min=1, max=50))),
        "author": field(type=relation("authors")),
    },
    access={"delete": lambda ctx: False},
)


async def test_client_errors_are_problem_details(tmp_path: Path, anyio_backend: str) -> None:
    db = define_config(provider=f"sqlite:///{tmp_path / 'app.db'}", collections=[Authors, Notes])
    app = FastAPI(lifespan=db.lifespan())
    install_error_handlers(app)

    @app.post("/authors")
    async def create_author(data: dict[str, Any]) -> Any:
        return await db.authors.create(data)

    @app.post("/notes")
    async def create_note(data: dict[str, Any]) -> Any:
        return await db.notes.create(data)

    @app.patch("/notes/{id}")
    async def update_note(id: int, data: dict[str, Any]) -> Any:
        return await db.notes.update(id, data)

    @app.delete("/notes/{id}")
    async def delete_note(id: int) -> Any:
        return await db.notes.delete(id)

    @app.get("/notes")
    async def list_notes(order: str = "id") -> Any:
        return await db.query.notes.find_many(order_by={order: "asc"})

    async with db:
        await db.push()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ok = await client.post("/authors", json={"name": "ann"})
            assert ok.status_code == 200

            async def problem(method: str, url: str, **kw: Any) -> tuple[int, str, Any]:
                r = await client.request(method, url, **kw)
                assert r.headers["content-type"] == "application/problem+json"
                body = r.json()
                assert body["status"] == r.status_code and body["type"] == "about:blank"
                return r.status_code, body["title"], body.get("errors")

            assert await problem("PATCH", "/notes/99", json={"body": "x"}) == (
                404, "Not Found", None)  # fmt: skip
            status, title, errors = await problem("POST", "/notes", json={"body": ""})
            assert (status, title) == (422, "Unprocessable Content")
            assert errors == [
                {"loc": ["body"], "msg": "String should have at least 1 character",
                 "type": "string_too_short"}
            ]  # fmt: skip
            status, title, errors = await problem("POST", "/authors", json={"name": "ann"})
            assert (status, title, errors[0]["loc"], errors[0]["type"]) == (
                409, "Conflict", ["name"], "UniqueViolation")  # fmt: skip
            status, title, errors = await problem(
                "POST", "/notes", json={"body": "b", "author_id": 999}
            )
            assert (status, title, errors[0]["loc"], errors[0]["type"]) == (
                409, "Conflict", ["author_id"], "ForeignKeyViolation")  # fmt: skip
            note = (await client.post("/notes", json={"body": "b"})).json()
            assert await problem("DELETE", f"/notes/{note['id']}") == (403, "Forbidden", None)
            status, title, errors = await problem("GET", "/notes?order=bdy")
            assert (status, title) == (400, "Bad Request")
            assert errors[0]["loc"] == ["order_by", "bdy"]
            assert "did you mean 'body'" in errors[0]["msg"]


async def test_user_view_binds_the_request_user(tmp_path: Path, anyio_backend: str) -> None:
    from fastapi import Depends, Header

    from deesse_async.fastapi import user_view

    Docs = collection(
        slug="docs",
        fields={"title": required(field(type=text())), "owner": field(type=text())},
        access={"read": lambda ctx: {"owner": ctx.user} if ctx.user else False},
    )
    db = define_config(provider=f"sqlite:///{tmp_path / 'v.db'}", collections=[Docs])

    def current_user(x_user: str | None = Header(default=None)) -> str | None:
        return x_user

    View = user_view(db, current_user)
    app = FastAPI(lifespan=db.lifespan())

    @app.get("/documents")
    async def documents(view: Any = Depends(View)) -> Any:  # noqa: B008 - FastAPI's idiom
        rows = await view.query.docs.find_many(columns={"title": True}, order_by={"id": "asc"})
        return [r["title"] for r in rows]

    async with db:
        await db.push()
        await db.trusted().docs.create_many(
            [{"title": "a1", "owner": "ann"}, {"title": "b1", "owner": "bob"},
             {"title": "a2", "owner": "ann"}]
        )  # fmt: skip
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/documents", headers={"x-user": "ann"})).json() == [
                "a1",
                "a2",
            ]
            assert (await client.get("/documents", headers={"x-user": "bob"})).json() == ["b1"]
            assert (await client.get("/documents")).json() == []  # anonymous


async def test_request_validation_errors(tmp_path: Path, anyio_backend: str) -> None:
    """FastAPI's own 422s share the problem-details shape, unless ``request_errors=False``."""
    from fastapi import Query

    define_config(provider=f"sqlite:///{tmp_path / 'r.db'}", collections=[Authors, Notes])

    for request_errors in (True, False):
        app = FastAPI()
        install_error_handlers(app, request_errors=request_errors)

        @app.post("/notes/{id}")
        async def note(id: int, body: Notes.create_model, n: int = Query(ge=1)) -> Any:  # type: ignore[name-defined]
            return {}

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.post("/notes/x?n=0", json={"body": "", "extra": 1})
        assert r.status_code == 422
        if not request_errors:
            assert r.headers["content-type"] == "application/json"
            assert isinstance(r.json()["detail"], list)
            continue
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert {k: body[k] for k in ("type", "title", "status")} == {
            "type": "about:blank", "title": "Unprocessable Content", "status": 422
        }  # fmt: skip
        assert [(e["loc"], e["type"]) for e in body["errors"]] == [
            (["path", "id"], "int_parsing"),
            (["query", "n"], "greater_than_equal"),
            (["body", "body"], "string_too_short"),
            (["body", "extra"], "extra_forbidden"),
        ]
        assert body["detail"].startswith("invalid request: path.id: Input should be a valid")


Counters = collection(slug="counters", fields={"n": required(field(type=integer()))})


@pytest.mark.backends("postgresql")
async def test_transaction_conflict_is_503_with_retry_after(make_db: Any) -> None:
    """A real serialization failure that escapes a route (no retries left) is the server's
    transient problem: 503 with ``Retry-After``, as problem details."""
    db = await make_db([Counters])
    row = await db.counters.create({"n": 0})
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/bump")
    async def bump() -> Any:
        async with db.transaction(isolation="repeatable_read") as tx:
            await tx.counters.read(row["id"])  # the snapshot is taken here
            await db.counters.update(row["id"], {"n": 5})  # another connection commits
            return await tx.counters.update(row["id"], {"n": 1})  # 40001

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/bump")
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"] == "1"
    body = r.json()
    assert (body["title"], body["status"]) == ("Service Unavailable", 503)
    assert "run_in_transaction" in body["detail"]
    assert (await db.counters.read(row["id"]))["n"] == 5  # the conflicting write stands
