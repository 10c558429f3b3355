"""Mistakes a typed database catches: every line marked ``# error: <name>`` must get a
mypy AND a pyright error (tests/test_types_cli.py), and no other line may get one."""

from __future__ import annotations

from typing import Any

from db_types import BlogPostsCreate, typed


async def mistakes(app_db: Any) -> None:
    db = typed(app_db)
    user = await db.users.create({"name": "Ann", "email": "ann@example.com"})
    user["emial"]  # error: misspelt key
    user["id"].upper()  # error: int has no upper
    await db.users.create({"name": 3, "email": "x@example.com"})  # error: int for a str
    await db.users.create({"name": "Bob"})  # error: missing required key
    post: BlogPostsCreate = {"title": "t", "author_id": 1, "status": "archived"}  # error: choice
    await db.blog_posts.create(post)
    await db.users.update(1, {"emial": "x@example.com"})  # error: unknown update key
    await db.tags.read(3)  # error: int id for a uuid collection
    rows = await db.query.users.find_many(where={"emial": "x"})  # error: unknown where key
    rows[0]["nme"]  # error: misspelt row key
    await db.query.users.find_many(with_={"postz": True})  # error: unknown relation
    await db.query.users.find_many(columns={"nme": True})  # error: unknown column
    first = await db.query.users.find_first()
    first["name"]  # error: row may be None
    prepared = db.query.blog_posts.find_many().prepare()
    (await prepared.execute())[0]["titel"]  # error: misspelt key of a prepared query row
    await db.posts.count()  # error: no such collection
    async for streamed in db.query.users.stream():
        streamed["emial"]  # error: misspelt key of a streamed row
    page = await db.query.users.find_page(first=20)
    page["items"][0]["nme"]  # error: misspelt key of a page item
    page["itemz"]  # error: misspelt page key
    await db.query.users.find_page(first="20")  # error: first is an int
