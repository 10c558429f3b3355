"""docs/access.md's FastAPI example runs as written (on SQLite, in a temporary folder) and
answers what the page says to two users and an anonymous visitor."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx  # the test extra installs httpx and fastapi: missing is a failure, not a skip
import pytest

from tests import doc_apps

pytestmark = pytest.mark.anyio

ADA = {"Authorization": "Bearer ada-token"}  # admin
BOB = {"Authorization": "Bearer bob-token"}  # member
ANON: dict[str, str] = {}


def example() -> str:
    return doc_apps.example("access.md")


def load(folder: Path) -> ModuleType:
    return doc_apps.load("access.md", folder, "access_doc_app")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One folder for the module's tests, the database file removed before each: the
    # schema sync keeps an engine per URL text, and SQLAlchemy makes a relative SQLite
    # path absolute when the engine is created, so the same relative URL in another
    # folder would be planned against the first folder's file.
    return tmp_path_factory.mktemp("access_doc")


@pytest.fixture
async def app(folder: Path) -> AsyncIterator[ModuleType]:
    """The example module, its app started (lifespan), tables pushed, ``seed()`` run."""
    for name in ("blog.db", "blog.db-wal", "blog.db-shm"):
        (folder / name).unlink(missing_ok=True)
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        module = load(folder)
        async with module.app.router.lifespan_context(module.app):
            await module.db.push()
            await module.seed()
            yield module
        assert (folder / "blog.db").exists()  # the example's own SQLite file
    finally:
        os.chdir(cwd)


@pytest.fixture
async def client(app: ModuleType) -> AsyncIterator[Any]:
    transport = httpx.ASGITransport(app=app.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def strip_times(row: dict[str, Any]) -> dict[str, Any]:
    assert set(row) >= {"created_at", "updated_at"}
    return {k: v for k, v in row.items() if k not in ("created_at", "updated_at")}


ADA_PUBLIC = {"name": "Ada"}
BOB_PUBLIC = {"name": "Bob"}
ADA_SEEN = {"name": "Ada", "email": "ada@example.com"}
BOB_SEEN = {"name": "Bob", "email": "bob@example.com"}


async def test_list_posts_per_caller(client: Any) -> None:
    anon = await client.get("/posts", headers=ANON)
    assert anon.status_code == 200
    assert anon.json() == [
        {"id": 1, "title": "Welcome", "status": "published", "author": ADA_PUBLIC},
        {"id": 3, "title": "Hello", "status": "published", "author": BOB_PUBLIC},
    ]
    bob = await client.get("/posts", headers=BOB)
    assert bob.json() == [
        {"id": 1, "title": "Welcome", "status": "published", "author": ADA_SEEN},
        {"id": 3, "title": "Hello", "status": "published", "author": BOB_SEEN},
        {"id": 4, "title": "Bob's draft", "status": "draft", "author": BOB_SEEN},
    ]
    ada = await client.get("/posts", headers=ADA)
    assert ada.json() == [
        {"id": 1, "title": "Welcome", "status": "published", "author": ADA_SEEN},
        {"id": 2, "title": "Ada's draft", "status": "draft", "author": ADA_SEEN},
        {"id": 3, "title": "Hello", "status": "published", "author": BOB_SEEN},
        {"id": 4, "title": "Bob's draft", "status": "draft", "author": BOB_SEEN},
    ]
    # A token that matches nobody is an anonymous visitor.
    stranger = await client.get("/posts", headers={"Authorization": "Bearer nope"})
    assert stranger.json() == anon.json()


async def test_get_post_prepared_with_user(client: Any) -> None:
    # Ada's draft: only Ada may read it; the others get 404, not 403 (no oracle).
    for headers in (ANON, BOB):
        r = await client.get("/posts/2", headers=headers)
        assert (r.status_code, r.json()) == (404, {"detail": "post 2 not found"})
    r = await client.get("/posts/2", headers=ADA)
    assert r.status_code == 200
    assert strip_times(r.json()) == {
        "id": 2, "title": "Ada's draft", "status": "draft", "author_id": 1, "author": ADA_SEEN
    }  # fmt: skip
    # Bob's draft: Bob and Ada, not the anonymous visitor.
    assert (await client.get("/posts/4", headers=ANON)).status_code == 404
    r = await client.get("/posts/4", headers=BOB)
    assert strip_times(r.json()) == {
        "id": 4, "title": "Bob's draft", "status": "draft", "author_id": 2, "author": BOB_SEEN
    }  # fmt: skip
    # A published post: everyone; the anonymous visitor without the author's email.
    r = await client.get("/posts/3", headers=ANON)
    assert strip_times(r.json()) == {
        "id": 3, "title": "Hello", "status": "published", "author_id": 2, "author": BOB_PUBLIC
    }  # fmt: skip
    assert (await client.get("/posts/99", headers=ADA)).status_code == 404


async def test_create_post_rules(client: Any, app: ModuleType) -> None:
    new = {"title": "New", "status": "draft", "author_id": 2}
    r = await client.post("/posts", headers=ANON, json=new)
    assert (r.status_code, r.json()) == (
        403,
        {"detail": "create on 'posts' is denied by its access rule"},
    )
    # Bob writing a post as Ada: inserted, checked against {"author_id": 2}, rolled back.
    r = await client.post("/posts", headers=BOB, json={**new, "author_id": 1})
    assert r.status_code == 403
    assert "does not match the rule's where-dict" in r.json()["detail"]
    r = await client.post("/posts", headers=BOB, json=new)
    assert r.status_code == 201
    assert strip_times(r.json()) == {"id": 5, "title": "New", "status": "draft", "author_id": 2}
    # The admin may write for anyone.
    r = await client.post("/posts", headers=ADA, json={**new, "title": "For Bob"})
    assert r.status_code == 201
    assert strip_times(r.json()) == {
        "id": 6, "title": "For Bob", "status": "draft", "author_id": 2
    }  # fmt: skip
    # Nothing else was written: the trusted view sees every post.
    rows = await app.db.trusted().query.posts.find_many(columns={"id": True, "title": True})
    assert rows == [
        {"id": 1, "title": "Welcome"},
        {"id": 2, "title": "Ada's draft"},
        {"id": 3, "title": "Hello"},
        {"id": 4, "title": "Bob's draft"},
        {"id": 5, "title": "New"},
        {"id": 6, "title": "For Bob"},
    ]


async def test_update_post_rules(client: Any, app: ModuleType) -> None:
    change = {"title": "Changed"}
    # Ada's published post: Bob may read it but not update it -> 403.
    r = await client.patch("/posts/1", headers=BOB, json=change)
    assert (r.status_code, r.json()) == (
        403,
        {"detail": "update of 'posts' id 1 is denied by its access rule"},
    )
    # Ada's draft: Bob may not even read it -> 404, as for a post that does not exist.
    r = await client.patch("/posts/2", headers=BOB, json=change)
    assert (r.status_code, r.json()) == (404, {"detail": "posts with id 2 does not exist"})
    r = await client.patch("/posts/99", headers=BOB, json=change)
    assert (r.status_code, r.json()) == (404, {"detail": "posts with id 99 does not exist"})
    r = await client.patch("/posts/4", headers=ANON, json=change)
    assert r.status_code == 403
    # His own draft: updated.
    r = await client.patch("/posts/4", headers=BOB, json=change)
    assert r.status_code == 200
    assert strip_times(r.json()) == {"id": 4, "title": "Changed", "status": "draft", "author_id": 2}
    r = await client.patch("/posts/1", headers=ADA, json={"title": "Welcome!"})
    assert strip_times(r.json()) == {
        "id": 1, "title": "Welcome!", "status": "published", "author_id": 1
    }  # fmt: skip
    titles = await app.db.trusted().query.posts.find_many(columns={"title": True})
    assert titles == [
        {"title": "Welcome!"},
        {"title": "Ada's draft"},
        {"title": "Hello"},
        {"title": "Changed"},
    ]


async def test_token_never_leaves_the_server(client: Any, app: ModuleType) -> None:
    bodies = []
    for headers in (ANON, BOB, ADA):
        bodies.append((await client.get("/posts", headers=headers)).text)
        bodies.append((await client.get("/posts/1", headers=headers)).text)
    bodies.append((await client.patch("/posts/1", headers=ADA, json={"title": "W"})).text)
    assert not [b for b in bodies if "token" in b]
    # Not even an admin's view reads it; trusted server code does.
    row = await app.db.with_user({"id": 1, "role": "admin"}).users.read(1)
    assert row is not None and "token" not in row and row["email"] == "ada@example.com"
    assert (await app.db.users.read(1) or {}).keys() == {
        "id", "name", "role", "created_at", "updated_at"
    }  # fmt: skip
    trusted = await app.db.trusted().users.read(1)
    assert trusted is not None and trusted["token"] == "ada-token"


async def test_seed_announces_each_published_post_once(app: ModuleType) -> None:
    # seed() ran on the trusted view: hooks still run there; create_many is one
    # transaction, whose commit runs each post's callback once.
    assert app.outbox == ["published: Welcome", "published: Hello"]


async def test_on_commit_announces_once_after_commit(client: Any, app: ModuleType) -> None:
    app.outbox.clear()
    r = await client.post(
        "/posts", headers=BOB, json={"title": "Hi", "status": "published", "author_id": 2}
    )
    assert r.status_code == 201
    assert app.outbox == ["published: Hi"]
    # Refused (rolled back): no announcement.
    r = await client.post(
        "/posts", headers=BOB, json={"title": "Fake", "status": "published", "author_id": 1}
    )
    assert r.status_code == 403
    r = await client.patch("/posts/4", headers=BOB, json={"status": "published"})
    assert r.status_code == 200
    assert app.outbox == ["published: Hi", "published: Bob's draft"]
