"""Relation aggregates (``aggregates={"n": agg.count("posts")}``): exact values and types
on every backend and both strategies, in where/order_by, prepared, with access rules, and
the mistakes a caller can make."""

from __future__ import annotations

import datetime as dt
import re
import typing
from typing import Any

import pytest
import sqlglot

from deesse_async import (
    Aggregate,
    Database,
    QueryError,
    agg,
    collection,
    define_config,
    define_relations,
    field,
    integer,
    number,
    one,
    placeholder,
    relation,
    required,
    select,
    text,
    unique,
)
from tests.access.world import SLUGS, seed, world_collections
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio

STRATEGIES = ("lateral", "batched")


def blog() -> tuple[list[Any], Any]:
    users = collection(
        slug="users",
        fields={
            "name": required(field(type=text(max=50))),
            "invited_by": field(type=relation("users", related_name="invitees")),
        },
    )
    tags = collection(slug="tags", fields={"name": unique(required(field(type=text(max=20))))})
    posts = collection(
        slug="posts",
        fields={
            "title": unique(required(field(type=text(max=50)))),
            "status": field(type=select("draft", "published"), default="draft"),
            "score": field(type=integer()),
            "rating": field(type=number()),
            "author": required(field(type=relation("users", related_name="posts"))),
            "tags": field(type=relation("tags", many=True, related_name="posts")),
        },
    )
    comments = collection(
        slug="comments",
        fields={
            "body": required(field(type=text(max=50))),
            "post": required(field(type=relation("posts", related_name="comments"))),
        },
    )
    # A one relation with several candidates: the first (lowest id) is the related row.
    relations = define_relations(users={"first_post": one("posts", from_="id", to="author_id")})
    return [users, tags, posts, comments], relations


async def seeded(make_db: MakeDb) -> tuple[Database, dict[str, dict[str, Any]]]:
    """ada (p1 p2 p3), bob (p4, invited by ada), cy (no post, invited by ada)."""
    collections, relations = blog()
    db = await make_db(collections, relations=relations)
    rows: dict[str, dict[str, Any]] = {"users": {}, "tags": {}, "posts": {}}
    ada = rows["users"]["ada"] = await db.users.create({"name": "ada"})
    for name in ("bob", "cy"):
        rows["users"][name] = await db.users.create({"name": name, "invited_by_id": ada["id"]})
    for name in ("py", "sql", "go"):
        rows["tags"][name] = await db.tags.create({"name": name})
    tag = {n: r["id"] for n, r in rows["tags"].items()}
    for title, status, score, rating, author, tags in (
        ("p1", "published", 5, 1.5, "ada", ["py", "sql"]),
        ("p2", "draft", 7, 2.25, "ada", ["py"]),
        ("p3", "published", 9, None, "ada", []),
        ("p4", "published", 1, 0.5, "bob", ["sql"]),
    ):
        rows["posts"][title] = await db.posts.create(
            {
                "title": title,
                "status": status,
                "score": score,
                "rating": rating,
                "author_id": rows["users"][author]["id"],
                "tags": [tag[t] for t in tags],
            }
        )
    post = {n: r["id"] for n, r in rows["posts"].items()}
    for body, title in (("c1", "p1"), ("c2", "p1"), ("c3", "p2"), ("c4", "p4")):
        await db.comments.create({"body": body, "post_id": post[title]})
    return db, rows


def exact(rows: Any, expected: Any) -> None:
    """Equal, and every value of the very same type (an int is no float, None no 0)."""
    assert rows == expected
    pairs = [(rows, expected)]
    while pairs:
        a, e = pairs.pop()
        assert type(a) is type(e), (a, e)
        if isinstance(e, dict):
            pairs += [(a[k], e[k]) for k in e]
        elif isinstance(e, list):
            pairs += list(zip(a, e, strict=True))


async def test_values_and_types(make_db: MakeDb) -> None:
    db, rows = await seeded(make_db)
    created = {n: r["created_at"] for n, r in rows["posts"].items()}
    for strategy in STRATEGIES:
        got = await db.query.users.find_many(
            columns={"name": True},
            aggregates={
                "post_count": agg.count("posts"),
                "published": agg.count("posts", where={"status": "published"}),
                "top": agg.max("posts", "score"),
                "total": agg.sum("posts", "score"),
                "mean": agg.avg("posts", "score"),
                "low": agg.min("posts", "rating"),
                "rated": agg.sum("posts", "rating"),
                "latest": agg.max("posts", "created_at"),
                "first_title": agg.min("posts", "title"),
            },
            order_by={"id": "asc"},
            strategy=strategy,
        )
        exact(
            got,
            [
                {"name": "ada", "post_count": 3, "published": 2, "top": 9, "total": 21,
                 "mean": 7.0, "low": 1.5, "rated": 3.75, "latest": created["p3"],
                 "first_title": "p1"},
                {"name": "bob", "post_count": 1, "published": 1, "top": 1, "total": 1,
                 "mean": 1.0, "low": 0.5, "rated": 0.5, "latest": created["p4"],
                 "first_title": "p4"},
                {"name": "cy", "post_count": 0, "published": 0, "top": None, "total": None,
                 "mean": None, "low": None, "rated": None, "latest": None,
                 "first_title": None},
            ],
        )  # fmt: skip
        assert got[0]["latest"].tzinfo is not None


async def test_nested_levels_many_to_many_and_self(make_db: MakeDb) -> None:
    db, _ = await seeded(make_db)
    for strategy in STRATEGIES:
        got = await db.query.users.find_many(
            columns={"name": True},
            aggregates={"invitees_n": agg.count("invitees")},
            with_={
                "posts": {
                    "columns": {"title": True},
                    "aggregates": {
                        "comments_n": agg.count("comments"),
                        "tags_n": agg.count("tags"),
                    },
                    "with": {
                        "tags": {
                            "columns": {"name": True},
                            "aggregates": {
                                "posts_n": agg.count("posts"),
                                "score_sum": agg.sum("posts", "score"),
                            },
                        }
                    },
                },
            },
            where={"name": {"in": ["ada", "cy"]}},
            strategy=strategy,
        )
        py = {"name": "py", "posts_n": 2, "score_sum": 12}
        sql = {"name": "sql", "posts_n": 2, "score_sum": 6}
        exact(
            got,
            [
                {
                    "name": "ada",
                    "invitees_n": 2,
                    "posts": [
                        {"title": "p1", "comments_n": 2, "tags_n": 2, "tags": [py, sql]},
                        {"title": "p2", "comments_n": 1, "tags_n": 1, "tags": [py]},
                        {"title": "p3", "comments_n": 0, "tags_n": 0, "tags": []},
                    ],
                },
                {"name": "cy", "invitees_n": 0, "posts": []},
            ],
        )
        tags = await db.query.tags.find_many(
            columns={"name": True},
            aggregates={"n": agg.count("posts"), "mean": agg.avg("posts", "score")},
            strategy=strategy,
        )
        exact(
            tags,
            [
                {"name": "py", "n": 2, "mean": 6.0},
                {"name": "sql", "n": 2, "mean": 3.0},
                {"name": "go", "n": 0, "mean": None},
            ],
        )


async def test_where_and_order_by_an_aggregate(make_db: MakeDb) -> None:
    db, _ = await seeded(make_db)
    n = {"n": agg.count("posts")}
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"where": {"n": {"gt": 0}}, "order_by": {"n": "asc"}}, ["bob", "ada"]),
        ({"where": {"n": 0}}, ["cy"]),
        ({"where": {"n": {"in": [1, 3]}}, "order_by": {"n": "desc"}}, ["ada", "bob"]),
        ({"where": {"n": {"not_in": [3]}}}, ["bob", "cy"]),
        ({"where": {"OR": [{"n": {"gte": 3}}, {"name": "cy"}]}}, ["ada", "cy"]),
        ({"where": {"NOT": {"n": {"lte": 1}}}}, ["ada"]),
        ({"where": {"n": {"OR": [0, {"gt": 2}]}}}, ["ada", "cy"]),
        ({"order_by": {"n": "desc", "name": "asc"}}, ["ada", "bob", "cy"]),
    ]
    for strategy in STRATEGIES:
        for options, names in cases:
            got = await db.query.users.find_many(
                columns={"name": True}, aggregates=n, strategy=strategy, **options
            )
            assert [r["name"] for r in got] == names, (strategy, options)
        # A nullable aggregate: None compares as NULL (never true), is_null finds it.
        top = {"top": agg.max("posts", "score")}
        got = await db.query.users.find_many(
            aggregates=top, where={"top": {"is_null": True}}, strategy=strategy
        )
        assert [r["name"] for r in got] == ["cy"]
        got = await db.query.users.find_many(
            aggregates=top, where={"top": {"lt": 100}}, strategy=strategy
        )
        assert [r["name"] for r in got] == ["ada", "bob"]
        # In a with level: the latest-commented posts first, per user, limited.
        got = await db.query.users.find_first(
            columns={"name": True},
            where={"name": "ada"},
            with_={
                "posts": {
                    "columns": {"title": True},
                    "aggregates": {"c": agg.count("comments")},
                    "where": {"c": {"lt": 2}},
                    "order_by": {"c": "desc"},
                    "limit": 1,
                }
            },
            strategy=strategy,
        )
        assert got == {"name": "ada", "posts": [{"title": "p2", "c": 1}]}
        # find_first by the largest count
        best = await db.query.users.find_first(
            columns={"name": True}, aggregates=n, order_by={"n": "desc"}, strategy=strategy
        )
        assert best == {"name": "ada", "n": 3}


async def test_aggregate_where_with_relation_filter_and_one_relations(make_db: MakeDb) -> None:
    db, _ = await seeded(make_db)
    for strategy in STRATEGIES:
        got = await db.query.users.find_many(
            columns={"name": True},
            aggregates={
                "commented": agg.count("posts", where={"comments": True}),
                "tagged_py": agg.count("posts", where={"tags": {"name": "py"}}),
                # One relation over several candidates: the first (as with_ loads it),
                # picked after the aggregate's where.
                "first_score": agg.max("first_post", "score"),
                "first_draft": agg.count("first_post", where={"status": "draft"}),
                "inviter": agg.count("invited_by"),
            },
            strategy=strategy,
        )
        exact(
            got,
            [
                {"name": "ada", "commented": 2, "tagged_py": 2, "first_score": 5,
                 "first_draft": 1, "inviter": 0},
                {"name": "bob", "commented": 1, "tagged_py": 0, "first_score": 1,
                 "first_draft": 0, "inviter": 1},
                {"name": "cy", "commented": 0, "tagged_py": 0, "first_score": None,
                 "first_draft": 0, "inviter": 1},
            ],
        )  # fmt: skip
        loaded = await db.query.users.find_many(
            columns={"name": True}, with_={"first_post": {"columns": {"score": True}}}
        )
        assert [r["first_post"] and r["first_post"]["score"] for r in loaded] == [5, 1, None]


async def test_columns_selection_keeps_aggregates(make_db: MakeDb) -> None:
    db, _ = await seeded(make_db)
    for strategy in STRATEGIES:
        only = await db.query.users.find_many(
            columns={}, aggregates={"n": agg.count("posts")}, strategy=strategy
        )
        assert only == [{"n": 3}, {"n": 1}, {"n": 0}]
        excluded = await db.query.tags.find_many(
            columns={"id": False, "created_at": False, "updated_at": False},
            aggregates={"n": agg.count("posts")},
            with_={"posts": {"columns": {}, "aggregates": {"c": agg.count("comments")}}},
            strategy=strategy,
        )
        assert excluded == [
            {"name": "py", "n": 2, "posts": [{"c": 2}, {"c": 1}]},
            {"name": "sql", "n": 2, "posts": [{"c": 2}, {"c": 1}]},
            {"name": "go", "n": 0, "posts": []},
        ]


async def test_prepared_with_placeholders(make_db: MakeDb) -> None:
    db, _ = await seeded(make_db)
    for strategy in STRATEGIES:
        q = db.query.users.find_many(
            columns={"name": True},
            aggregates={"n": agg.count("posts", where={"status": placeholder("status")})},
            where={"n": {"gte": placeholder("least")}},
            order_by={"n": "desc"},
            strategy=strategy,
        ).prepare()
        assert await q.execute(status="published", least=1) == [
            {"name": "ada", "n": 2},
            {"name": "bob", "n": 1},
        ]
        assert await q.execute(status="draft", least=1) == [{"name": "ada", "n": 1}]
        assert await q.execute({"status": "draft", "least": 0}) == [
            {"name": "ada", "n": 1},
            {"name": "bob", "n": 0},
            {"name": "cy", "n": 0},
        ]
        with pytest.raises(QueryError, match="missing 'least'"):
            await q.execute(status="draft")
        with pytest.raises(QueryError, match="status"):
            await q.execute(status=3, least=0)


async def test_to_sql_is_a_correlated_subquery(make_db: MakeDb) -> None:
    db, _ = await seeded(make_db)
    for strategy in STRATEGIES:
        sql = db.query.users.find_many(
            aggregates={"n": agg.count("posts", where={"status": "draft"})},
            where={"n": {"gt": 0}},
            order_by={"n": "desc"},
            with_={"posts": {"aggregates": {"c": agg.count("comments")}}},
            strategy=strategy,
        ).to_sql()
        assert sql.lower().count("count(*)") >= 4, sql  # select, where, order by, nested
        assert "draft" not in sql  # a bound value


# -- mistakes ---------------------------------------------------------------------------

ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("clash with a column", {"aggregates": {"name": agg.count("posts")}},
     "aggregates.name: aggregate name 'name' is taken: it is a column of 'users'"),
    ("clash with a relation", {"aggregates": {"posts": agg.count("posts")}},
     "aggregates.posts: aggregate name 'posts' is taken: it is a relation of 'users'"),
    ("clash with an extra",
     {"extras": {"x": lambda t: t.c.id}, "aggregates": {"x": agg.count("posts")}},
     "aggregates.x: aggregate name 'x' is taken: it is an extra of 'users'"),
    ("nested clash", {"with_": {"posts": {"aggregates": {"title": agg.count("tags")}}}},
     "with_.posts.aggregates.title: aggregate name 'title' is taken"),
    ("unknown relation", {"aggregates": {"n": agg.count("psts")}},
     "aggregates.n: agg.count: unknown relation 'psts' on 'users'; did you mean 'posts'?"),
    ("unknown column", {"aggregates": {"n": agg.sum("posts", "scor")}},
     "aggregates.n: agg.sum: unknown column 'scor' on 'posts' (relation 'posts'); "
     "did you mean 'score'?"),
    ("sum of text", {"aggregates": {"n": agg.sum("posts", "title")}},
     "aggregates.n: agg.sum takes a number column (integer, number); 'title' of 'posts' is "
     "a text column"),
    ("avg of a timestamp", {"aggregates": {"n": agg.avg("posts", "created_at")}},
     "'created_at' of 'posts' is a timestamp column"),
    ("unknown column in the aggregate's where",
     {"aggregates": {"n": agg.count("posts", where={"stauts": "draft"})}},
     "aggregates.n.where.stauts: unknown column or relation 'stauts' on 'posts'; did you "
     "mean 'status'?"),
    ("bad value in the aggregate's where",
     {"aggregates": {"n": agg.count("posts", where={"score": "x"})}},
     "aggregates.n.where.score: expected an integer, got 'x'"),
    ("not an aggregate", {"aggregates": {"n": 3}}, "aggregates.n: expected agg.count(...)"),
    ("reserved name", {"aggregates": {"OR": agg.count("posts")}},
     "aggregates.OR: aggregate name 'OR' is reserved"),
    ("unknown function", {"aggregates": {"n": Aggregate("median", "posts", "score")}},  # type: ignore[arg-type]
     "aggregates.n: unknown aggregate function 'median'"),
    ("min of a boolean-free kind", {"aggregates": {"n": agg.min("posts", "tags")}},
     "aggregates.n: agg.min: unknown column 'tags' on 'posts'"),
    ("where not a dict", {"aggregates": {"n": agg.count("posts", where=5)}},  # type: ignore[arg-type]
     "aggregates.n.where: expected a dict, got int"),
    ("not a dict", {"aggregates": [agg.count("posts")]},
     "aggregates: expected a dict of name -> agg.count(...)"),
    ("unknown name in where", {"aggregates": {"post_n": agg.count("posts")},
                               "where": {"post_m": 1}},
     "where.post_m: unknown column, relation or aggregate 'post_m' on 'users'; did you mean "
     "'post_n'?"),
    ("unknown name in order_by", {"aggregates": {"post_n": agg.count("posts")},
                                  "order_by": {"post_m": "desc"}},
     "order_by.post_m: unknown column or aggregate 'post_m' on 'users'; did you mean 'post_n'?"),
    ("aggregate of another level in where",
     {"aggregates": {"n": agg.count("posts")}, "with_": {"posts": {"where": {"n": 1}}}},
     "with_.posts.where.n: unknown column or relation 'n' on 'posts'"),
    ("wrong value for a count", {"aggregates": {"n": agg.count("posts")},
                                 "where": {"n": "three"}},
     "where.n: expected an integer, got 'three'"),
    ("like on a count", {"aggregates": {"n": agg.count("posts")},
                         "where": {"n": {"like": 3}}},
     "where.n.like: like takes a string pattern"),
]  # fmt: skip


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize(("case", "options", "message"), ERRORS, ids=[c[0] for c in ERRORS])
async def test_mistakes(make_db: MakeDb, case: str, options: dict[str, Any], message: str) -> None:
    collections, relations = blog()
    db = await make_db(collections, relations=relations)
    with pytest.raises(QueryError) as info:
        db.query.users.find_many(**options)
    assert message in str(info.value)


# -- access rules -------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_counts_only_readable_rows(make_db: MakeDb, strategy: str) -> None:
    db = await make_db(world_collections())
    world = await seed(db)
    assert set(SLUGS) == set(world.rows)
    expected = {  # user -> posts each viewer may read (posts rule), among users it may read
        "anonymous": {"alice": 0, "bob": 1, "carol": 1},
        "member": {"alice": 0, "bob": 2, "carol": 1, "frank": 0},
        "admin": {"alice": 1, "bob": 2, "carol": 2, "frank": 0, "dave": 2, "erin": 0},
    }
    query = db.query.users.find_many(
        columns={"name": True},
        aggregates={
            "posts_n": agg.count("posts"),
            "published_n": agg.count("posts", where={"status": "published"}),
            "tags_n": agg.count("posts", where={"tags": True}),
        },
        with_={"posts": {"columns": {"title": True}, "aggregates": {"t": agg.count("tags")}}},
        where={"posts_n": {"gte": 0}},
        strategy=strategy,
    )
    prepared = query.prepare()
    for who, counts in expected.items():
        user = world.viewer(who)
        got = await prepared.with_user(user).execute()
        assert {r["name"]: r["posts_n"] for r in got} == counts, who
        # the oracle agrees, and nested counts match the nested rows the viewer gets
        for r in got:
            author = world.id("users", r["name"])
            visible = [p for p in world.visible("posts", user) if p["author_id"] == author]
            assert r["posts_n"] == len(visible) == len(r["posts"])
            assert r["published_n"] == sum(p["status"] == "published" for p in visible)
            readable_tags = world.ids("tags", user)
            assert r["tags_n"] == sum(bool(readable_tags & set(p["tags"])) for p in visible)
            for p in r["posts"]:
                tags = world.ids("tags", user) & set(world.row("posts", p["title"])["tags"])
                assert p["t"] == len(tags), (who, p)
    # anonymous: the restricted tag is not counted; carol-pub's only tag is "secret"
    anon = await db.query.posts.find_many(
        columns={"title": True}, aggregates={"t": agg.count("tags")}, strategy=strategy
    )
    assert {r["title"]: r["t"] for r in anon} == {"hello": 2, "carol-pub": 0, "dave-pub": 1}
    # trusted: everything
    admin_view = await db.trusted().query.users.find_first(
        where={"name": "alice"}, aggregates={"n": agg.count("reports")}, strategy=strategy
    )
    assert admin_view is not None and admin_view["n"] == 2


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_hidden_fields_cannot_be_aggregated(make_db: MakeDb, strategy: str) -> None:
    db = await make_db(world_collections())
    world = await seed(db)
    member = db.with_user(world.viewer("member"))
    admin = db.with_user(world.viewer("admin"))
    salary = {"aggregates": {"s": agg.sum("reports", "salary")}, "columns": {"name": True}}
    with pytest.raises(QueryError, match=r"aggregates\.s: 'salary' of 'users' is hidden"):
        await member.query.users.find_many(**salary, strategy=strategy)
    got = await admin.query.users.find_many(**salary, where={"name": "alice"}, strategy=strategy)
    assert got == [{"name": "alice", "s": 90}]  # bob 50 + frank 40
    hidden_where = {"aggregates": {"h": agg.count("comments", where={"hidden": True})}}
    with pytest.raises(QueryError, match=r"aggregates\.h\.where\.hidden: 'hidden' of 'comments'"):
        await member.query.posts.find_many(**hidden_where, strategy=strategy)
    # the relation back over a hidden field: anonymous may not count a user's reports
    with pytest.raises(QueryError, match=r"aggregates\.r: 'reports' of 'users' is hidden"):
        await db.query.users.find_many(aggregates={"r": agg.count("reports")}, strategy=strategy)
    # a nested level's aggregate is checked too
    with pytest.raises(QueryError, match=r"with_\.posts\.aggregates\.h\.where\.hidden"):
        await member.query.users.find_many(with_={"posts": hidden_where}, strategy=strategy)


# -- golden SQL ---------------------------------------------------------------------------

GOLDEN_URLS = {
    "sqlite": "sqlite://:memory:",
    "postgresql": "postgresql://localhost/golden",
    "mysql": "mysql://localhost/golden",
}
GOLDEN = {
    "postgresql": """
        SELECT users_1.name,
          (SELECT count(*) AS count_1 FROM posts AS posts_2
           WHERE posts_2.author_id = users_1.id AND posts_2.status = $1::VARCHAR) AS n,
          (SELECT CAST(sum(posts_3.score) AS BIGINT) AS sum_1 FROM posts AS posts_3
           WHERE posts_3.author_id = users_1.id) AS total,
          (SELECT CAST(sum(posts_4.score) AS DOUBLE PRECISION) / nullif(count(posts_4.score), 0)
             AS anon_1 FROM posts AS posts_4 WHERE posts_4.author_id = users_1.id) AS mean
        FROM users AS users_1
        WHERE (SELECT count(*) AS count_1 FROM posts AS posts_2
               WHERE posts_2.author_id = users_1.id AND posts_2.status = $1::VARCHAR)
              > $2::BIGINT
        ORDER BY (SELECT count(*) AS count_1 FROM posts AS posts_2
                  WHERE posts_2.author_id = users_1.id AND posts_2.status = $1::VARCHAR) DESC,
                 users_1.id ASC
    """,
    "mysql": """
        SELECT users_1.name,
          (SELECT count(*) AS count_1 FROM posts AS posts_2
           WHERE posts_2.author_id = users_1.id AND posts_2.status = %s) AS n,
          (SELECT CAST(sum(posts_3.score) AS SIGNED INTEGER) AS sum_1 FROM posts AS posts_3
           WHERE posts_3.author_id = users_1.id) AS total,
          (SELECT CAST(sum(posts_4.score) AS DOUBLE) / nullif(count(posts_4.score), 0)
             AS anon_1 FROM posts AS posts_4 WHERE posts_4.author_id = users_1.id) AS mean
        FROM users AS users_1
        WHERE (SELECT count(*) AS count_1 FROM posts AS posts_2
               WHERE posts_2.author_id = users_1.id AND posts_2.status = %s) > %s
        ORDER BY (SELECT count(*) AS count_1 FROM posts AS posts_2
                  WHERE posts_2.author_id = users_1.id AND posts_2.status = %s) DESC,
                 users_1.id ASC
    """,
}


def _normalise(sql: str) -> str:
    text = " ".join(sql.split())
    return re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", text))


def _golden_sql(backend: str) -> str:
    collections, relations = blog()
    db = define_config(provider=GOLDEN_URLS[backend], collections=collections, relations=relations)
    return db.query.users.find_many(
        columns={"name": True},
        aggregates={
            "n": agg.count("posts", where={"status": "published"}),
            "total": agg.sum("posts", "score"),
            "mean": agg.avg("posts", "score"),
        },
        where={"n": {"gt": 0}},
        order_by={"n": "desc"},
        strategy="lateral",
    ).to_sql()


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("backend", GOLDEN_URLS)
def test_golden_sql(backend: str) -> None:
    sql = _golden_sql(backend)
    if backend == "sqlite":  # PostgreSQL's, but for the bind markers and DOUBLE's name
        expected = re.sub(r"\$\d+::\w+", "?", GOLDEN["postgresql"])
        expected = expected.replace("DOUBLE PRECISION", "DOUBLE")
    else:
        expected = GOLDEN[backend]
    assert _normalise(sql) == _normalise(expected)
    if backend != "mysql":  # sqlglot reads neither %s nor MySQL's CAST AS DOUBLE
        read = "postgres" if backend == "postgresql" else "sqlite"
        assert len(sqlglot.parse(re.sub(r"\$\d+", "1", sql), read=read)) == 1


async def test_large_counts_and_sums_bind_as_64_bit(make_db: MakeDb) -> None:
    db, _ = await seeded(make_db)
    for strategy in STRATEGIES:
        got = await db.query.users.find_many(
            columns={"name": True},
            aggregates={"n": agg.count("posts"), "s": agg.sum("posts", "score")},
            where={"n": {"lt": 2**40}, "s": {"gt": -(2**62)}},
            strategy=strategy,
        )
        assert got == [{"name": "ada", "n": 3, "s": 21}, {"name": "bob", "n": 1, "s": 1}]


async def test_response_model_types_aggregates(make_db: MakeDb) -> None:
    db, _ = await seeded(make_db)
    q = db.query.users.find_many(
        columns={"name": True},
        aggregates={
            "n": agg.count("posts"),
            "total": agg.sum("posts", "score"),
            "rated": agg.sum("posts", "rating"),
            "mean": agg.avg("posts", "score"),
            "latest": agg.max("posts", "created_at"),
            "first_title": agg.min("posts", "title"),
        },
        with_={"posts": {"columns": {"title": True}, "aggregates": {"c": agg.count("comments")}}},
    )
    model = q.response_model
    fields = model.model_fields
    assert list(fields) == ["name", "n", "total", "rated", "mean", "latest", "first_title", "posts"]
    assert fields["n"].annotation is int
    assert fields["total"].annotation == int | None
    assert fields["rated"].annotation == float | None
    assert fields["mean"].annotation == float | None
    assert fields["latest"].annotation == dt.datetime | None
    assert fields["first_title"].annotation == str | None
    (post_model,) = typing.get_args(fields["posts"].annotation)
    assert post_model.model_fields["c"].annotation is int
    rows = await q
    assert [model.model_validate(r).model_dump() for r in rows] == rows
    assert q.prepare().response_model is model
