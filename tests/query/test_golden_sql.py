"""Golden SQL of the lateral strategy for per-parent limits with nested relations.

A level with a per-parent ``limit``/``offset`` picks its rows first (ORDER BY / LIMIT /
OFFSET over the related rows alone) and only then nests its child relations over the kept
rows: PostgreSQL and SQLite through a derived table correlated to the parent row,
MariaDB (no outer references in derived tables) through the kept rows' ids in order,
read back with JSON_TABLE. Otherwise the database builds the children's JSON for every
related row, not only for the kept ones, or avoids that with a worse plan (issue 12).

The SQL is compiled without a server (``to_sql()`` needs only the dialect); whitespace is
normalised before comparing. The same shapes run on every backend below, results asserted.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from deesse_async import Database, define_config
from deesse_async.cli.demo import blog_collections

from ..conftest import MakeDb

URLS = {
    "sqlite": "sqlite://:memory:",
    "postgresql": "postgresql://localhost/golden",
    "mysql": "mysql://localhost/golden",
}

# (collection, options) of each shape
SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    # users -> latest 3 posts -> latest 2 comments each
    "nested": (
        "users",
        {
            "columns": {"id": True, "name": True},
            "limit": 20,
            "with_": {
                "posts": {
                    "columns": {"id": True, "title": True},
                    "order_by": {"created_at": "desc"},
                    "limit": 3,
                    "with": {
                        "comments": {
                            "columns": {"id": True, "body": True},
                            "order_by": {"created_at": "desc"},
                            "limit": 2,
                        }
                    },
                }
            },
        },
    ),
    # a one relation under a limited many
    "one": (
        "posts",
        {
            "columns": {"id": True},
            "with_": {
                "comments": {
                    "columns": {"body": True},
                    "order_by": {"id": "desc"},
                    "limit": 2,
                    "with": {"author": {"columns": {"name": True}}},
                }
            },
        },
    ),
    # a limited (and offset) many-to-many, with a relation nested under it
    "m2m": (
        "posts",
        {
            "columns": {"id": True},
            "with_": {
                "tags": {
                    "columns": {"name": True},
                    "order_by": {"name": "asc"},
                    "offset": 1,
                    "limit": 2,
                    "with": {"posts": {"columns": {"title": True}}},
                }
            },
        },
    ),
}

GOLDEN: dict[tuple[str, str], str] = {
    ("sqlite", "nested"): """
        SELECT users_1.id, users_1.name, (
            SELECT json_group_array(json(s.r)) AS data
            FROM (
                SELECT json_array(k_posts_3.id, k_posts_3.title, json((
                    SELECT json_group_array(json(s.r)) AS data
                    FROM (
                        SELECT json_array(comments_4.id, comments_4.body) AS r
                        FROM comments AS comments_4
                        WHERE comments_4.post_id = k_posts_3.id
                        ORDER BY comments_4.created_at DESC, comments_4.id ASC
                        LIMIT ? OFFSET ?
                    ) AS s
                ))) AS r
                FROM (
                    SELECT posts_2.id AS id, posts_2.title AS title,
                        posts_2.created_at AS created_at
                    FROM posts AS posts_2
                    WHERE posts_2.author_id = users_1.id
                    ORDER BY posts_2.created_at DESC, posts_2.id ASC
                    LIMIT ? OFFSET ?
                ) AS k_posts_3
                ORDER BY k_posts_3.created_at DESC, k_posts_3.id ASC
            ) AS s
        ) AS anon_1
        FROM users AS users_1
        ORDER BY users_1.id ASC
        LIMIT ? OFFSET ?
    """,
    ("sqlite", "one"): """
        SELECT posts_1.id, (
            SELECT json_group_array(json(s.r)) AS data
            FROM (
                SELECT json_array(k_comments_3.body, json((
                    SELECT json_array(users_4.name) AS data
                    FROM users AS users_4
                    WHERE users_4.id = k_comments_3.author_id
                    ORDER BY users_4.id ASC
                    LIMIT ? OFFSET ?
                ))) AS r
                FROM (
                    SELECT comments_2.body AS body, comments_2.id AS id,
                        comments_2.author_id AS author_id
                    FROM comments AS comments_2
                    WHERE comments_2.post_id = posts_1.id
                    ORDER BY comments_2.id DESC
                    LIMIT ? OFFSET ?
                ) AS k_comments_3
                ORDER BY k_comments_3.id DESC
            ) AS s
        ) AS anon_1
        FROM posts AS posts_1
        ORDER BY posts_1.id ASC
    """,
    ("sqlite", "m2m"): """
        SELECT posts_1.id, (
            SELECT json_group_array(json(s.r)) AS data
            FROM (
                SELECT json_array(k_tags_4.name, json((
                    SELECT json_group_array(json(s.r)) AS data
                    FROM (
                        SELECT json_array(posts_5.title) AS r
                        FROM posts_tags AS j_6
                        JOIN posts AS posts_5 ON j_6.posts_id = posts_5.id
                        WHERE j_6.tags_id = k_tags_4.id
                        ORDER BY posts_5.id ASC
                    ) AS s
                ))) AS r
                FROM (
                    SELECT tags_2.name AS name, tags_2.id AS id
                    FROM posts_tags AS j_3
                    JOIN tags AS tags_2 ON j_3.tags_id = tags_2.id
                    WHERE j_3.posts_id = posts_1.id
                    ORDER BY tags_2.name ASC, tags_2.id ASC
                    LIMIT ? OFFSET ?
                ) AS k_tags_4
                ORDER BY k_tags_4.name ASC, k_tags_4.id ASC
            ) AS s
        ) AS anon_1
        FROM posts AS posts_1
        ORDER BY posts_1.id ASC
    """,
    ("postgresql", "nested"): """
        SELECT users_1.id, users_1.name, r_posts_6.data
        FROM users AS users_1
        LEFT OUTER
        JOIN LATERAL (
            SELECT coalesce(json_agg(json_build_array(k_posts_3.id, k_posts_3.title,
                r_comments_5.data) ORDER BY k_posts_3.created_at DESC, k_posts_3.id ASC),
                '[]'::json) AS data
            FROM (
                SELECT posts_2.id AS id, posts_2.title AS title, posts_2.created_at AS created_at
                FROM posts AS posts_2
                WHERE posts_2.author_id = users_1.id
                ORDER BY posts_2.created_at DESC, posts_2.id ASC
                LIMIT $1::BIGINT
            ) AS k_posts_3
            LEFT OUTER
            JOIN LATERAL (
                SELECT coalesce(json_agg(json_build_array(s.c0, s.c1) ORDER BY s.o0 DESC,
                    s.o1 ASC), '[]'::json) AS data
                FROM (
                    SELECT comments_4.id AS c0, comments_4.body AS c1,
                        comments_4.created_at AS o0, comments_4.id AS o1
                    FROM comments AS comments_4
                    WHERE comments_4.post_id = k_posts_3.id
                    ORDER BY comments_4.created_at DESC, comments_4.id ASC
                    LIMIT $2::BIGINT
                ) AS s
            ) AS r_comments_5 ON true
        ) AS r_posts_6 ON true
        ORDER BY users_1.id ASC
        LIMIT $3::BIGINT
    """,
    ("postgresql", "one"): """
        SELECT posts_1.id, r_comments_6.data
        FROM posts AS posts_1
        LEFT OUTER
        JOIN LATERAL (
            SELECT coalesce(json_agg(json_build_array(k_comments_3.body,
                r_author_5.data) ORDER BY k_comments_3.id DESC),
                '[]'::json) AS data
            FROM (
                SELECT comments_2.body AS body, comments_2.id AS id,
                    comments_2.author_id AS author_id
                FROM comments AS comments_2
                WHERE comments_2.post_id = posts_1.id
                ORDER BY comments_2.id DESC
                LIMIT $1::BIGINT
            ) AS k_comments_3
            LEFT OUTER
            JOIN LATERAL (
                SELECT json_build_array(users_4.name) AS data
                FROM users AS users_4
                WHERE users_4.id = k_comments_3.author_id
                ORDER BY users_4.id ASC
                LIMIT $2::INTEGER
            ) AS r_author_5 ON true
        ) AS r_comments_6 ON true
        ORDER BY posts_1.id ASC
    """,
    ("postgresql", "m2m"): """
        SELECT posts_1.id, r_tags_8.data
        FROM posts AS posts_1
        LEFT OUTER
        JOIN LATERAL (
            SELECT coalesce(json_agg(json_build_array(k_tags_4.name,
                r_posts_7.data) ORDER BY k_tags_4.name ASC, k_tags_4.id ASC), '[]'::json) AS data
            FROM (
                SELECT tags_2.name AS name, tags_2.id AS id
                FROM posts_tags AS j_3
                JOIN tags AS tags_2 ON j_3.tags_id = tags_2.id
                WHERE j_3.posts_id = posts_1.id
                ORDER BY tags_2.name ASC, tags_2.id ASC
                LIMIT $1::BIGINT OFFSET $2::BIGINT
            ) AS k_tags_4
            LEFT OUTER
            JOIN LATERAL (
                SELECT coalesce(json_agg(json_build_array(posts_5.title) ORDER BY posts_5.id ASC),
                    '[]'::json) AS data
                FROM posts_tags AS j_6
                JOIN posts AS posts_5 ON j_6.posts_id = posts_5.id
                WHERE j_6.tags_id = k_tags_4.id
            ) AS r_posts_7 ON true
        ) AS r_tags_8 ON true
        ORDER BY posts_1.id ASC
    """,
    ("mysql", "nested"): """
        SELECT users_1.id, users_1.name, (
            SELECT coalesce(JSON_ARRAYAGG(json_array(k_posts_3.id, k_posts_3.title, (
                SELECT coalesce(JSON_ARRAYAGG(json_array(comments_4.id,
                    comments_4.body) ORDER BY comments_4.created_at DESC,
                    comments_4.id ASC LIMIT %s), json_array()) AS data
                FROM comments AS comments_4
                WHERE comments_4.post_id = k_posts_3.id
            )) ORDER BY k_posts_3_ids.n), json_array()) AS data
            FROM json_table((
                SELECT JSON_ARRAYAGG(posts_2.id ORDER BY posts_2.created_at DESC,
                    posts_2.id ASC LIMIT %s) AS json_arrayagg_1
                FROM posts AS posts_2
                WHERE posts_2.author_id = users_1.id
            ), '$[*]' COLUMNS (n FOR ORDINALITY, k BIGINT PATH '$')) AS k_posts_3_ids
            INNER
            JOIN posts AS k_posts_3 ON k_posts_3.id = k_posts_3_ids.k
        ) AS anon_1
        FROM users AS users_1
        ORDER BY users_1.id ASC
        LIMIT %s
    """,
    ("mysql", "one"): """
        SELECT posts_1.id, (
            SELECT coalesce(JSON_ARRAYAGG(json_array(k_comments_3.body, (
                SELECT json_array(users_4.name) AS data
                FROM users AS users_4
                WHERE users_4.id = k_comments_3.author_id
                ORDER BY users_4.id ASC
                LIMIT %s
            )) ORDER BY k_comments_3_ids.n), json_array()) AS data
            FROM json_table((
                SELECT JSON_ARRAYAGG(comments_2.id ORDER BY comments_2.id DESC LIMIT %s) AS json_arrayagg_1
                FROM comments AS comments_2
                WHERE comments_2.post_id = posts_1.id
            ), '$[*]' COLUMNS (n FOR ORDINALITY, k BIGINT PATH '$')) AS k_comments_3_ids
            INNER
            JOIN comments AS k_comments_3 ON k_comments_3.id = k_comments_3_ids.k
        ) AS anon_1
        FROM posts AS posts_1
        ORDER BY posts_1.id ASC
    """,
    ("mysql", "m2m"): """
        SELECT posts_1.id, (
            SELECT coalesce(JSON_ARRAYAGG(json_array(k_tags_4.name, (
                SELECT coalesce(JSON_ARRAYAGG(json_array(posts_5.title) ORDER BY posts_5.id ASC),
                    json_array()) AS data
                FROM posts_tags AS j_6
                INNER
                JOIN posts AS posts_5 ON j_6.posts_id = posts_5.id
                WHERE j_6.tags_id = k_tags_4.id
            )) ORDER BY k_tags_4_ids.n), json_array()) AS data
            FROM json_table((
                SELECT JSON_ARRAYAGG(tags_2.id ORDER BY tags_2.name ASC,
                    tags_2.id ASC LIMIT %s OFFSET %s) AS json_arrayagg_1
                FROM posts_tags AS j_3
                INNER
                JOIN tags AS tags_2 ON j_3.tags_id = tags_2.id
                WHERE j_3.posts_id = posts_1.id
            ), '$[*]' COLUMNS (n FOR ORDINALITY, k BIGINT PATH '$')) AS k_tags_4_ids
            INNER
            JOIN tags AS k_tags_4 ON k_tags_4.id = k_tags_4_ids.k
        ) AS anon_1
        FROM posts AS posts_1
        ORDER BY posts_1.id ASC
    """,
}


def _normalise(sql: str) -> str:
    """One space between tokens, none inside parentheses."""
    text = " ".join(sql.split())
    return re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", text))


def _sql(backend: str, shape: str) -> str:
    db = define_config(provider=URLS[backend], collections=blog_collections())
    slug, options = SHAPES[shape]
    return str(getattr(db.query, slug).find_many(strategy="lateral", **options).to_sql())


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("backend", URLS)
def test_golden_sql(backend: str, shape: str) -> None:
    assert _normalise(_sql(backend, shape)) == _normalise(GOLDEN[backend, shape])


@pytest.mark.parametrize("backend", URLS)
def test_limit_comes_before_the_nested_relations(backend: str) -> None:
    # The query that picks the kept posts (its ORDER BY and LIMIT) holds no comments;
    # the comments are read per kept post (k_posts_3), never per post (posts_2).
    sql = _normalise(_sql(backend, "nested"))
    start = sql.rindex("(SELECT", 0, sql.index("FROM posts AS posts_2"))
    kept = sql[start : sql.index("AS k_posts_3")]
    assert "ORDER BY posts_2.created_at DESC, posts_2.id ASC LIMIT" in kept
    assert "comments" not in kept
    assert "WHERE comments_4.post_id = k_posts_3.id" in sql


# -- the same shapes on every backend: full results, lateral and batched alike ----------


async def _seed(make_db: MakeDb) -> Database:
    db = await make_db(blog_collections())
    ann, bob, cid = [
        await db.users.create({"name": n, "email": f"{n}@example.com"})
        for n in ("ann", "bob", "cid")
    ]
    red, green, blue = await db.tags.create_many(
        [{"name": "red"}, {"name": "green"}, {"name": "blue"}]
    )
    p = {}
    for title, author, tags in [
        ("p0", ann, [red, green, blue]), ("p1", ann, [blue]), ("p2", ann, []),
        ("p3", ann, []), ("p4", bob, [red]),
    ]:  # fmt: skip
        p[title] = await db.posts.create(
            {"title": title, "author_id": author["id"], "tags": [t["id"] for t in tags]}
        )
    for body, post, author in [
        ("c1", "p3", bob), ("c2", "p3", cid), ("c3", "p3", ann), ("c4", "p2", bob),
        ("c5", "p4", ann), ("c6", "p4", None),
    ]:  # fmt: skip
        await db.comments.create(
            {"body": body, "post_id": p[post]["id"], "author_id": author and author["id"]}
        )
    return db


NESTED = {
    "columns": {"name": True},
    "with_": {
        "posts": {
            "columns": {"title": True},
            "order_by": {"title": "desc"},
            "limit": 2,
            "with": {
                "comments": {
                    "columns": {"body": True},
                    "order_by": {"body": "desc"},
                    "limit": 2,
                    "with": {"author": {"columns": {"name": True}}},
                }
            },
        }
    },
}
NESTED_ROWS = [
    {
        "name": "ann",
        "posts": [
            {
                "title": "p3",
                "comments": [
                    {"body": "c3", "author": {"name": "ann"}},
                    {"body": "c2", "author": {"name": "cid"}},
                ],
            },
            {"title": "p2", "comments": [{"body": "c4", "author": {"name": "bob"}}]},
        ],
    },
    {
        "name": "bob",
        "posts": [
            {
                "title": "p4",
                "comments": [
                    {"body": "c6", "author": None},
                    {"body": "c5", "author": {"name": "ann"}},
                ],
            }
        ],
    },
    {"name": "cid", "posts": []},
]
M2M = {
    "columns": {"title": True},
    "with_": {
        "tags": {
            "columns": {"name": True},
            "order_by": {"name": "asc"},
            "offset": 1,
            "limit": 2,
            "with": {"posts": {"columns": {"title": True}, "order_by": {"title": "asc"}}},
        }
    },
}
M2M_ROWS = [
    {
        "title": "p0",
        "tags": [
            {"name": "green", "posts": [{"title": "p0"}]},
            {"name": "red", "posts": [{"title": "p0"}, {"title": "p4"}]},
        ],
    },
    {"title": "p1", "tags": []},
    {"title": "p2", "tags": []},
    {"title": "p3", "tags": []},
    {"title": "p4", "tags": []},
]


@pytest.mark.anyio
@pytest.mark.parametrize("strategy", ["lateral", "batched"])
async def test_nested_limits_give_full_results(make_db: MakeDb, strategy: str) -> None:
    db = await _seed(make_db)
    rows = await db.query.users.find_many(strategy=strategy, **NESTED)  # type: ignore[arg-type]
    assert rows == NESTED_ROWS
    rows = await db.query.posts.find_many(strategy=strategy, **M2M)  # type: ignore[arg-type]
    assert rows == M2M_ROWS
    prepared = db.query.users.find_many(strategy=strategy, **NESTED).prepare()  # type: ignore[arg-type]
    assert await prepared.execute() == NESTED_ROWS
