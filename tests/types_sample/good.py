"""Correct use of a typed database: mypy --strict and pyright (strict) find no error.

Copied next to the generated ``db_types.py`` by tests/test_types_cli.py, type-checked,
then run on SQLite: ``scenario`` returns the rows it got, checked against the TypedDicts.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Literal, cast

from db_types import (
    BlogPostsRow,
    CommentsRead,
    TypedDatabase,
    UsersOrderBy,
    UsersPage,
    UsersRead,
    UsersRow,
    typed,
)

from deesse_async import agg, placeholder


class UsersWithCounts(UsersRow):
    """A users row with the aggregates the query asks for (docs/types.md)."""

    post_count: int
    top_views: int | None


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
    bob = await db.users.create({"name": "Bob", "email": "bob@example.com"})

    # stream: rows typed as find_many's, one at a time or a chunk (a list) at a time.
    users = db.query.users.stream(order_by={"email": "asc"}, chunk_size=1)
    streamed: list[str] = [row["email"] async for row in users]
    chunk_sizes: list[int] = []
    async with db.query.blog_posts.stream(with_={"author": True}, chunk_size=1) as stream:
        async for chunk in stream.chunks():
            chunk_sizes.append(len(chunk))
            titles = [p["title"] for p in chunk]
            assert titles
    async with db.transaction(isolation="repeatable_read") as tx:
        in_tx = [u["name"] async for u in tx.query.users.stream(limit=1, offset=1)]

    # find_page: a page of rows and the token of the next one.
    page: UsersPage = await db.query.users.find_page(order_by={"name": "asc"}, first=1)
    pages = [[u["name"] for u in page["items"]]]
    while page["next"] is not None:
        page = await db.query.users.find_page(order_by={"name": "asc"}, first=1, after=page["next"])
        pages.append([u["name"] for u in page["items"]])
    more: bool = page["has_more"]

    # aggregates: their keys are not in UsersRow; a TypedDict subclass declares them.
    counts = {"post_count": agg.count("posts"), "top_views": agg.max("posts", "views")}
    with_counts = cast(
        list[UsersWithCounts],
        await db.query.users.find_many(
            aggregates=counts,
            order_by=cast(UsersOrderBy, {"post_count": "desc"}),  # an aggregate's name
            with_={"posts": {"aggregates": {"n_comments": agg.count("comments")}}},
        ),
    )
    post_counts = [(u["name"], u["post_count"], u["top_views"]) for u in with_counts]
    n_comments = [cast(dict[str, int], p)["n_comments"] for p in with_counts[0].get("posts", [])]
    async for u in db.query.users.stream(aggregates=counts, order_by={"id": "asc"}):
        streamed_count: int = cast(UsersWithCounts, u)["post_count"]
        post_counts.append((u["name"], streamed_count, None))
    counted_page = await db.query.users.find_page(aggregates=counts, first=5)
    page_counts = [cast(UsersWithCounts, u)["post_count"] for u in counted_page["items"]]

    # Views choosing where reads go (the primary without replicas=).
    on_primary: int = await db.primary().users.count()
    on_replica = await db.replica().query.users.find_first(where={"id": bob["id"]})
    replica_name = on_replica["name"] if on_replica is not None else None

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
        "streamed": streamed,
        "chunk_sizes": chunk_sizes,
        "in_tx": in_tx,
        "page": page,
        "pages": pages,
        "more": more,
        "with_counts": with_counts,
        "post_counts": post_counts,
        "page_counts": page_counts,
        "n_comments": n_comments,
        "on_primary": on_primary,
        "replica_name": replica_name,
    }
