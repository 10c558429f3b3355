"""The differential harness's dataset: four collections and a deterministic seed.

The seed goes through the CRUD API and keeps every row exactly as CRUD returned it:
those rows (and the many-to-many links) are the reference evaluator's source of truth.

Choices that keep the three backends comparable:

- every text value is lower-case ascii letters/digits (underscore only where nothing
  orders or range-compares by it), so collations agree; e-mails are one letter and two
  digits before a common ``@example.com``, so they order by that prefix everywhere;
  ``posts.content`` is the like-test column and holds a ``%``, a ``_`` and a
  (lower-case: databases fold non-ascii case differently) unicode value;
- the columns test trees order by (``ORDERABLE``) are NOT NULL in the data;
- floats are chosen to survive a JSON round trip, and ``views`` holds 2**53 + 1 so that
  any path losing integer precision through JSON shows up;
- users 10-12 have no posts, ``zeta`` has no post, some posts have no comment or tag,
  user 5 invited itself, users 1 -> 2 -> 3 -> 4 form an invitation chain;
- comments come from one ``create_many`` call, so they share ``created_at`` (ties that
  only the ``id`` tie-break can order).
"""

from __future__ import annotations

import datetime as dt
import uuid as uuid_mod
from collections.abc import Mapping, Sequence
from typing import Any

from deesse_async import (
    Collection,
    Database,
    boolean,
    collection,
    date,
    email,
    field,
    integer,
    json,
    number,
    relation,
    required,
    select,
    text,
    timestamp,
    unique,
    uuid,
)
from deesse_async.compile.schema import Schema

from .reference import Dataset, Row

__all__ = [
    "ORDERABLE",
    "Dataset",
    "make_collections",
    "offline_dataset",
    "seed",
    "seed_plan",
]

UTC = dt.UTC

# Columns test trees may order by (and range-compare text on): NOT NULL in the data and
# made of lower-case ascii letters/digits only, so every collation orders them alike.
ORDERABLE: dict[str, tuple[str, ...]] = {
    "users": ("id", "name", "email", "created_at"),
    "posts": ("id", "title", "status", "views", "created_at"),
    "comments": ("id", "body", "created_at"),
    "tags": ("id", "name", "created_at"),
}


def make_collections() -> list[Collection]:
    """Fresh collection objects (compiling mutates them, so every test takes its own)."""
    users = collection(
        slug="users",
        fields={
            "name": required(field(type=text(min=1, max=100))),
            "email": unique(required(field(type=email()))),
            "age": field(type=integer()),
            "score": field(type=number()),
            "active": field(type=boolean()),
            "born": field(type=date()),
            "last_seen": field(type=timestamp()),
            "ext": field(type=uuid()),
            "profile": field(type=json()),
            "role": field(type=select("admin", "member"), default="member"),
            "invited_by": field(type=relation("users", related_name="invitees")),
        },
    )
    posts = collection(
        slug="posts",
        fields={
            "title": unique(required(field(type=text(min=1, max=100)))),
            "content": field(type=text(max=1000)),
            "status": required(field(type=select("draft", "published"))),
            "views": required(field(type=integer())),
            "author": required(field(type=relation("users", related_name="posts"))),
            "tags": field(type=relation("tags", many=True, related_name="posts")),
        },
    )
    comments = collection(
        slug="comments",
        fields={
            "body": required(field(type=text(min=1, max=200))),
            "post": required(
                field(type=relation("posts", related_name="comments", on_delete="cascade"))
            ),
            "author": field(type=relation("users", related_name="comments")),
        },
    )
    tags = collection(slug="tags", fields={"name": unique(required(field(type=text(max=40))))})
    return [users, posts, comments, tags]


# -- the seed, as plain data -----------------------------------------------------------

_NAMES = ["ada", "bob", "cy", "dee", "eve", "fay", "gus", "hal", "ivy", "jo", "kim", "ada"]
_AGES = [36, None, 17, 42, 0, None, 99, 17, -3, 150, None, 36]
_SCORES = [12.5, None, 0.1, -2.25, 1 / 3, None, 100.0, 0.0, 1e20, -0.5, None, 12.5]
_ACTIVE: list[bool | None] = [
    True,
    False,
    True,
    None,
    True,
    False,
    True,
    True,
    False,
    None,
    True,
    True,
]
_PROFILES: list[Any] = [
    {"langs": ["en", "fr"], "n": 1, "nested": {"ok": True, "none": None}},
    None,
    [1, 2.5, "x"],
    "plain",
    7,
    None,
    {"big": 9007199254740993, "f": 0.1},
    True,
    {},
    None,
    [],
    {"k": "v"},
]
# (user index, inviter index); users are 0-based here, ids are whatever CRUD returns.
_INVITES = {1: 0, 2: 1, 3: 2, 5: 0, 8: 6, 11: 4}
_SELF_INVITE = 4

_TAGS = ["alpha", "beta", "gamma", "delta", "eps", "zeta"]
_WORDS = ["sun", "moon", "star", "rain", "wind", "leaf", "rock", "tide", "fire", "snow"]
_CONTENTS: list[str | None] = [
    "hello_world",
    None,
    "100%pure",
    "caf\u00e9",
    "abc",
    "under_score",
    None,
    "x",
    "percent%and_under",
    "abcabc",
    "zzz",
    None,
]
_BIG = 2**53 + 1


def seed_plan() -> dict[str, list[dict[str, Any]]]:
    """The create payloads per collection, in creation order (ids refer to positions).

    Relation ids are given as 1-based positions and mapped to real ids by ``seed``.
    """
    users: list[dict[str, Any]] = []
    for i, name in enumerate(_NAMES):
        letter = chr(ord("a") + (i * 5) % 12)
        user: dict[str, Any] = {
            "name": name,
            "email": f"{letter}{i:02d}@example.com",
            "age": _AGES[i],
            "score": _SCORES[i],
            "active": _ACTIVE[i],
            "born": None if i % 4 == 1 else dt.date(1815 + i * 17, 1 + i % 12, 1 + (i * 3) % 28),
            "last_seen": None
            if i % 3 == 2
            else dt.datetime(2024, 1 + i % 12, 1 + i, 8, i, i, (i * 123457) % 1_000_000, UTC),
            "ext": None if i % 3 == 1 else uuid_mod.UUID(int=(i * 0x9E3779B97F4A7C15) % 2**128),
            "profile": _PROFILES[i],
            "invited_by_id": _INVITES[i] + 1 if i in _INVITES else None,
        }
        if i % 4 == 0:
            user["role"] = "admin"
        elif i != 10:  # user 11 leaves it to the default
            user["role"] = "member"
        users.append(user)
    tags = [{"name": n} for n in _TAGS]
    posts: list[dict[str, Any]] = []
    for i in range(30):
        word = _WORDS[(i * 7) % len(_WORDS)]
        posts.append(
            {
                "title": f"{word}{i:02d}",
                "content": _CONTENTS[i % len(_CONTENTS)],
                "status": "published" if i % 3 else "draft",
                "views": _BIG if i == 13 else [0, 5, -7, 5, 120, 33, 5][i % 7] * (1 + i // 7),
                "author_id": 1 + (i * 4) % 9,  # users 10, 11, 12 write nothing
                "tags": [] if i % 5 == 4 else sorted({1 + (i % 5), 1 + (i * 2) % 5}),
            }
        )
    comments: list[dict[str, Any]] = []
    for i in range(60):
        post = 1 + (i * 7) % 24  # posts 25..30 have no comments
        comments.append(
            {
                "body": f"{_WORDS[(i * 3) % len(_WORDS)]}{(i * 11) % 60:02d}",
                "post_id": post,
                "author_id": None if i % 6 == 5 else 1 + (i * 5) % 12,
            }
        )
    return {"users": users, "tags": tags, "posts": posts, "comments": comments}


# One-relation columns of the plan, given as 1-based positions: column -> target slug.
_FKS = {
    "users": {"invited_by_id": "users"},
    "posts": {"author_id": "users"},
    "comments": {"post_id": "posts", "author_id": "users"},
}


def _resolve(
    item: Mapping[str, Any], slug: str, ids: Mapping[str, Sequence[Any]]
) -> dict[str, Any]:
    out = dict(item)
    for column, target in _FKS.get(slug, {}).items():
        if out.get(column) is not None:
            out[column] = ids[target][out[column] - 1]
    if slug == "posts":
        out["tags"] = [ids["tags"][t - 1] for t in out["tags"]]
    return out


async def seed(db: Database) -> Dataset:
    """Create the dataset through CRUD; returns it with the rows exactly as CRUD gave them."""
    plan = seed_plan()
    created: dict[str, list[Row]] = {}
    ids: dict[str, list[Any]] = {}
    for slug in ("users", "tags", "posts"):
        api = db.collection(slug)
        created[slug] = []
        for item in plan[slug]:  # inviters come first, except the self-invite (below)
            created[slug].append(await api.create(_resolve(item, slug, ids)))
            ids[slug] = [r["id"] for r in created[slug]]
    me = created["users"][_SELF_INVITE]
    created["users"][_SELF_INVITE] = await db.users.update(me["id"], {"invited_by_id": me["id"]})
    created["comments"] = await db.comments.create_many(
        [_resolve(item, "comments", ids) for item in plan["comments"]]
    )
    return Dataset.from_schema(db.schema, created)


def offline_dataset(schema: Schema) -> Dataset:
    """The same dataset without a database: ids 1..n, timestamps made up, defaults applied.

    Lets the reference and the generators be exercised before the query API exists.
    """
    plan = seed_plan()
    base = dt.datetime(2025, 1, 1, tzinfo=UTC)
    created: dict[str, list[Row]] = {}
    ids = {slug: list(range(1, len(items) + 1)) for slug, items in plan.items()}
    tick = 0
    for slug in ("users", "tags", "posts", "comments"):
        created[slug] = []
        for n, item in enumerate(plan[slug], start=1):
            tick += 0 if slug == "comments" and n > 1 else 1  # comments share one, as in seed
            stamp = base + dt.timedelta(seconds=tick)
            row = {"id": n, **_resolve(item, slug, ids), "created_at": stamp, "updated_at": stamp}
            if slug == "users":
                row.setdefault("role", "member")
            created[slug].append(row)
    created["users"][_SELF_INVITE]["invited_by_id"] = _SELF_INVITE + 1
    return Dataset.from_schema(schema, created)
