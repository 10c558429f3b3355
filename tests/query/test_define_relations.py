"""define_relations (Drizzle's defineRelations): explicit edges, junctions, filters, checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from deesse_async import (
    ConfigError,
    Database,
    collection,
    define_config,
    define_relations,
    field,
    integer,
    many,
    one,
    required,
    select,
    text,
    through,
)

pytestmark = pytest.mark.anyio

Users = collection(
    slug="users",
    fields={
        "name": required(field(type=text())),
        "invited_by": field(type=integer(), references="users.id"),
    },
)
Posts = collection(
    slug="posts",
    fields={
        "title": required(field(type=text())),
        "status": field(type=select("draft", "published"), default="draft"),
        "owner_id": required(field(type=integer(), references="users.id")),
    },
)
Groups = collection(slug="groups", fields={"name": required(field(type=text()))})
UsersToGroups = collection(
    slug="users_to_groups",
    fields={
        "user_id": required(field(type=integer(), references="users.id")),
        "group_id": required(field(type=integer(), references="groups.id")),
    },
)
COLLECTIONS = [Users, Posts, Groups, UsersToGroups]
RELATIONS = define_relations(
    users={
        "invitee": one("users", from_="invited_by", to="id"),
        "posts": many("posts", from_="id", to="owner_id"),
        "groups": many(
            "groups", from_="id", to="id",
            through=through("users_to_groups", from_="user_id", to="group_id"),
        ),
        "first_group": one(
            "groups", from_="id", to="id",
            through=through("users_to_groups", from_="user_id", to="group_id"),
        ),
        "recent_posts": many("posts", from_="id", to="owner_id", where={"status": "published"}),
    },
    posts={"author": one("users", from_="owner_id", to="id", optional=False)},
    groups={"members": many("users", from_="id", to="id",
                            through=through("users_to_groups", from_="group_id", to="user_id"))},
)  # fmt: skip


@pytest.fixture
async def rdb(database_url: str) -> Any:
    db = define_config(provider=database_url, collections=COLLECTIONS, relations=RELATIONS)
    async with db:
        await db.push()
        ann = await db.users.create({"name": "ann"})
        bob = await db.users.create({"name": "bob", "invited_by": ann["id"]})
        g1, g2 = await db.groups.create_many([{"name": "g1"}, {"name": "g2"}])
        # bob joins g2 first, then g1: the first linked group is g2 (lowest junction id)
        await db.users_to_groups.create_many(
            [{"user_id": bob["id"], "group_id": g2["id"]}, {"user_id": bob["id"], "group_id": g1["id"]},
             {"user_id": ann["id"], "group_id": g1["id"]}]
        )  # fmt: skip
        await db.posts.create_many(
            [{"title": "a1", "owner_id": ann["id"], "status": "published"},
             {"title": "a2", "owner_id": ann["id"]},
             {"title": "b1", "owner_id": bob["id"], "status": "published"}]
        )  # fmt: skip
        yield db


@pytest.mark.parametrize("strategy", ["lateral", "batched"])
async def test_explicit_relations_load(rdb: Database, strategy: str) -> None:
    rows = await rdb.query.users.find_many(
        columns={"name": True},
        with_={
            "invitee": {"columns": {"name": True}},
            "posts": {"columns": {"title": True}},
            "recent_posts": {"columns": {"title": True}},
            "groups": {"columns": {"name": True}},
            "first_group": {"columns": {"name": True}},
        },
        strategy=strategy,
    )
    assert rows == [
        {"name": "ann", "invitee": None, "posts": [{"title": "a1"}, {"title": "a2"}],
         "recent_posts": [{"title": "a1"}], "groups": [{"name": "g1"}], "first_group": {"name": "g1"}},
        {"name": "bob", "invitee": {"name": "ann"}, "posts": [{"title": "b1"}],
         "recent_posts": [{"title": "b1"}], "groups": [{"name": "g1"}, {"name": "g2"}],
         "first_group": {"name": "g2"}},
    ]  # fmt: skip
    groups = await rdb.query.groups.find_many(
        columns={"name": True}, with_={"members": {"columns": {"name": True}}}, strategy=strategy
    )
    assert groups == [
        {"name": "g1", "members": [{"name": "ann"}, {"name": "bob"}]},
        {"name": "g2", "members": [{"name": "bob"}]},
    ]


@pytest.mark.parametrize("strategy", ["lateral", "batched"])
async def test_predefined_filter_in_relation_filters_and_nested_where(
    rdb: Database, strategy: str
) -> None:
    rows = await rdb.query.users.find_many(
        columns={"name": True}, where={"recent_posts": {"title": "a2"}}, strategy=strategy
    )
    assert rows == []  # a2 is a draft: the predefined filter applies inside EXISTS too
    rows = await rdb.query.posts.find_many(
        columns={"title": True},
        with_={"author": {"columns": {"name": True}, "where": {"name": "bob"}}},
        strategy=strategy,
    )
    # optional=False declares the row exists; a nested where may still filter it out.
    assert rows == [{"title": "a1", "author": None}, {"title": "a2", "author": None},
                    {"title": "b1", "author": {"name": "bob"}}]  # fmt: skip


def test_reverse_inference_and_alias() -> None:
    relations = define_relations(
        posts={"author": one("users", from_="owner_id", to="id")},
        users={"posts": many("posts")},
    )
    db = define_config(provider="sqlite://:memory:", collections=COLLECTIONS, relations=relations)
    rel = db.schema["users"].relations["posts"]
    assert (rel.source_columns, rel.target_columns, rel.cardinality) == (
        ("id",),
        ("owner_id",),
        "many",
    )


CONFIG_ERRORS: list[tuple[str, Callable[[], Any], str]] = [
    (
        "unknown source",
        lambda: define_relations(usr={"x": many("posts", from_="id", to="owner_id")}),
        "unknown collection 'usr'; did you mean 'users'?",
    ),
    (
        "unknown target",
        lambda: define_relations(users={"x": many("post", from_="id", to="owner_id")}),
        "users.x: unknown target collection 'post'; did you mean 'posts'?",
    ),
    (
        "unknown from column",
        lambda: define_relations(users={"x": many("posts", from_="uid", to="owner_id")}),
        "users.x: from_='uid' is not a column of 'users'",
    ),
    (
        "unknown to column",
        lambda: define_relations(users={"x": many("posts", from_="id", to="owner")}),
        "users.x: to='owner' is not a column of 'posts'; did you mean 'owner_id'?",
    ),
    (
        "composite mismatch",
        lambda: define_relations(users={"x": many("posts", from_=("id", "name"), to="owner_id")}),
        "from_ has 2 columns but to has 1",
    ),
    (
        "unknown junction",
        lambda: define_relations(
            users={
                "x": many(
                    "groups",
                    from_="id",
                    to="id",
                    through=through("u2g", from_="user_id", to="group_id"),
                )
            }
        ),
        "through table 'u2g' is neither a collection nor a junction",
    ),
    (
        "nothing to reverse",
        lambda: define_relations(users={"x": many("groups")}),
        "many('groups') without from_/to must reverse exactly one one() relation",
    ),
    (
        "ambiguous reverse",
        lambda: define_relations(
            posts={
                "author": one("users", from_="owner_id", to="id"),
                "editor": one("users", from_="owner_id", to="id"),
            },
            users={"x": many("posts")},
        ),
        "(found: posts.author, posts.editor); pass alias=",
    ),
    (
        "name used twice",
        lambda: define_relations(users={"name": many("posts", from_="id", to="owner_id")}),
        "the relation name 'name' clashes with a column",
    ),
    (
        "bad predefined where",
        lambda: define_relations(
            users={"x": many("posts", from_="id", to="owner_id", where={"titel": 1})}
        ),
        "users.x.where.titel: unknown column or relation 'titel' on 'posts'; did you mean 'title'?",
    ),
    (
        "one without columns",
        lambda: define_relations(users={"x": one("posts")}),
        "one() needs from_= and to=",
    ),
    (
        "half given",
        lambda: define_relations(users={"x": many("posts", from_="id")}),
        "give both from_= and to=, or neither",
    ),
]


@pytest.mark.parametrize(
    ("case", "build", "message"), CONFIG_ERRORS, ids=[c[0] for c in CONFIG_ERRORS]
)
def test_config_errors(case: str, build: Callable[[], Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        define_config(provider="sqlite://:memory:", collections=COLLECTIONS, relations=build())
    assert message in str(info.value)


@pytest.mark.parametrize("strategy", ["lateral", "batched"])
async def test_a_one_relation_through_a_junction_with_nested_relations(
    rdb: Database, strategy: str
) -> None:
    """The first linked row is picked before its own relations are nested over it."""
    query = rdb.query.users.find_many(
        columns={"name": True},
        with_={
            "first_group": {
                "columns": {"name": True},
                "with": {"members": {"columns": {"name": True}, "with": {"posts": True}}},
            }
        },
        strategy=strategy,
    )
    if strategy == "lateral":  # the kept row (k_groups_N) is picked, then nested over
        assert "k_groups_" in query.to_sql()
    rows = await query
    titles = {"ann": ["a1", "a2"], "bob": ["b1"]}

    def member(name: str) -> dict[str, Any]:
        return {"name": name, "posts": [{"title": t} for t in titles[name]]}

    got = [
        {
            "name": r["name"],
            "first_group": {
                "name": r["first_group"]["name"],
                "members": [
                    {"name": m["name"], "posts": [{"title": p["title"]} for p in m["posts"]]}
                    for m in r["first_group"]["members"]
                ],
            },
        }
        for r in rows
    ]
    assert got == [
        {"name": "ann", "first_group": {"name": "g1", "members": [member("ann"), member("bob")]}},
        {"name": "bob", "first_group": {"name": "g2", "members": [member("bob")]}},
    ]
