"""The data the stream and page tests read: blog users with duplicates and NULLs in the
order columns, each with posts and comments (3 levels), seeded once per test."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

from deesse_async import Database

BASE = dt.datetime(2024, 5, 6, 7, 8, 9, 0, tzinfo=dt.UTC)

# Orders the tests walk: ascending and descending over NULLs and duplicates, mixed
# directions, typed columns, the primary key in the middle, none at all.
ORDERS: list[dict[str, str] | None] = [
    None,
    {"age": "asc"},
    {"age": "desc"},
    {"age": "desc", "name": "asc"},
    {"score": "asc", "age": "desc"},
    {"last_seen": "desc"},
    {"last_seen": "asc", "born": "desc"},
    {"born": "desc", "age": "asc"},
    {"external_id": "asc"},
    {"active": "desc", "id": "desc", "name": "asc"},
]

NESTED: dict[str, Any] = {
    "posts": {
        "columns": {"title": True, "status": True},
        "order_by": {"title": "asc"},
        "with": {
            "comments": {"columns": {"body": True}, "with": {"author": {"columns": {"name": True}}}}
        },
    },
    "invited_by": {"columns": {"name": True}},
}


def user_row(i: int) -> dict[str, Any]:
    """User ``i``: ages repeat with NULLs between, timestamps and floats that differ only
    in their last digit (a token must carry them exactly), some values missing."""
    return {
        "name": f"u{i:03d}",
        "email": f"u{i}@example.com",
        "age": None if i % 4 == 0 else 20 + 10 * (i % 3),
        "score": None if i % 5 == 0 else (0.1 + 0.2 if i % 2 else 0.3),
        "last_seen": None if i % 6 == 0 else BASE + dt.timedelta(microseconds=i % 7),
        "born": None if i % 3 == 0 else dt.date(1990, 1, 1 + i % 5),
        "external_id": None if i % 7 == 0 else uuid.UUID(int=(i * 7919) % 101),
        "active": i % 2 == 0,
    }


async def seed(db: Database, count: int = 40) -> list[dict[str, Any]]:
    """``count`` users (each invited by the one before), posts and comments."""
    users = await db.users.create_many([user_row(i) for i in range(count)])
    for before, user in itertools.pairwise(users):
        if user["id"] % 3:
            await db.users.update(user["id"], {"invited_by_id": before["id"]})
    posts = await db.posts.create_many(
        [
            {"title": f"p{u['id']}-{j}", "author_id": u["id"], "status": "published"}
            for u in users
            for j in range(u["id"] % 3)
        ]
    )
    await db.comments.create_many(
        [
            {"body": f"c{p['id']}-{k}", "post_id": p["id"], "author_id": users[k]["id"]}
            for p in posts
            for k in range(p["id"] % 3)
        ]
    )
    return users
