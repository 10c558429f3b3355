"""Correct use of a typed database: mypy --strict and pyright (strict) find no error.

Copied next to the generated ``db_types.py`` by tests/test_types_cli.py, type-checked,
then run on SQLite: ``scenario`` returns the rows it got, checked against the TypedDicts.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Literal

from db_types import BlogPostsRow, CommentsRead, TypedDatabase, UsersRead, UsersRow, typed

from deesse_async import placeholder


async def add_tag(db: TypedDatabase, label: str) -> uuid.UUID:
    tag = await db.tags.create({"label": label})
    return tag["id"]


async def tag_twice(tx: TypedDatabase) -> int:
    first = await tx.tags.create({"label": "first of two"})
    await tx.tags.create({"label": "second of two"})
    return len(first["label"])


async def scenario(app_db: Any) -> dict[str, Any]:
    db = typed(app_db)
    ann: UsersRead = await db.users.create(
        {"name": "Ann", "email": "ann@example.com", "settings": {"theme": ["dark", 1]}}
    )
    shout: str = ann["name"].upper()
    role: Literal["admin", "member"] = ann["role"]
    tag_id = await add_tag(db, "python")
    post = await db.blog_posts.create(
        {
            "title": "Hello",
            "author_id": ann["id"],
            "tags": [tag_id],
            "day": "2024-05-01",
            "published_at": datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.UTC),
            "score": 1.5,
            "status": "draft",
        }
    )
    linked: list[uuid.UUID] = post["tags"]
    comments: list[CommentsRead] = await db.comments.create_many(
        [
            {"text": "first", "post_id": post["id"], "author_id": ann["id"]},
            {"text": "anonymous", "post_id": post["id"]},
        ]
    )
    updated = await db.blog_posts.update(post["id"], {"status": "published", "views": 3})
    views: int | None = updated["views"]
    found = await db.users.read(ann["id"])
    email = found["email"].lower() if found is not None else ""

    posts: list[BlogPostsRow] = await db.query.blog_posts.find_many(
        with_={
            "author": True,
            "tags": True,
            "comments": {"with": {"author": True}, "order_by": {"id": "asc"}},
        },
        where={"status": "published", "views": {"gte": 1}},
        order_by={"id": "desc"},
        limit=10,
    )
    first = posts[0]
    author = first.get("author")
    author_name = author["name"] if author is not None else None
    texts = [c["text"] for c in first.get("comments", [])]
    day: datetime.date | None = first["day"]

    user: UsersRow | None = await db.query.users.find_first(
        where={"id": ann["id"]}, with_={"posts": {"columns": {"title": True, "id": True}}}
    )
    by_id = db.query.users.find_first(where={"id": placeholder("id")}).prepare("user_by_id")
    again = await by_id.execute(id=ann["id"])
    again_name = again["name"] if again is not None else None
    counted: int = await db.comments.count({"post_id": post["id"]})
    async with db.transaction() as tx:
        await tx.tags.create({"label": "in a transaction"})
    as_ann: int = await db.with_user({"id": ann["id"]}).users.count()
    retried: int = await db.run_in_transaction(tag_twice, retries=2)
    shape = db.query.users.find_many(columns={"name": True}).response_model
    fields = sorted(shape.model_fields)
    deleted = await db.comments.delete(comments[1]["id"])
    return {
        "user": ann,
        "shout": shout,
        "role": role,
        "post": post,
        "linked": linked,
        "comments": comments,
        "updated": updated,
        "views": views,
        "email": email,
        "rows": posts,
        "author_name": author_name,
        "texts": texts,
        "day": day,
        "found": user,
        "again_name": again_name,
        "counted": counted,
        "as_ann": as_ann,
        "retried": retried,
        "fields": fields,
        "deleted": deleted,
    }
