"""renamed_from=: columns and tables renamed in place, data kept; hints for look-alikes."""

from __future__ import annotations

import pytest

from deesse_async import (
    Collection,
    collection,
    field,
    index,
    integer,
    relation,
    required,
    text,
    unique,
)
from tests.sync.conftest import Version, fetch, risks, snapshot

pytestmark = pytest.mark.anyio

Users = collection(slug="users", fields={"name": required(field(type=text(max=40)))})


async def test_renamed_field_keeps_its_data_indexes_and_relation(version: Version) -> None:
    v1 = version(
        [
            Users,
            collection(
                slug="posts",
                fields={
                    "title": required(field(type=text(max=100))),
                    "body": index(field(type=text(max=200))),
                    "views": unique(field(type=integer(min=0))),
                    "writer": field(type=relation("users")),
                },
            ),
        ]
    )
    await v1.push()
    ada = await v1.users.create({"name": "ada"})
    await v1.posts.create({"title": "a", "body": "hello", "views": 3, "writer_id": ada["id"]})
    v2 = version(
        [
            Users,
            collection(
                slug="posts",
                fields={
                    "title": required(field(type=text(max=100))),
                    "content": index(field(type=text(max=200), renamed_from="body")),
                    "hits": unique(field(type=integer(min=0), renamed_from="views")),
                    "author": field(type=relation("users"), renamed_from="writer"),
                },
            ),
        ]
    )
    plan = await v2.plan()
    assert not plan.has_data_loss, plan.statements
    renames = [s for s in plan.statements if "RENAME COLUMN" in s.sql]
    assert len(renames) == 3 and {s.risk for s in renames} == {"unsafe"}
    assert plan.hints == []
    await v2.push()
    assert await fetch(v2, "SELECT title, content, hits, author_id FROM posts") == [
        ("a", "hello", 3, ada["id"])
    ]
    shape = (await snapshot(v2))["posts"]
    assert "ix_posts_content" in shape["indexes"] and "uq_posts_hits" in shape["uniques"]
    assert "fk_posts_author_id" in shape["foreign_keys"]
    assert (await v2.plan()).is_empty  # renamed_from may stay in the code
    post = await v2.posts.create({"title": "b", "content": "c", "hits": 4, "author_id": ada["id"]})
    assert post["author_id"] == ada["id"]


async def test_renamed_collection_keeps_rows_links_and_junction(version: Version) -> None:
    tags = collection(slug="tags", fields={"name": required(field(type=text(max=40)))})
    posts = collection(
        slug="posts",
        fields={
            "title": required(field(type=text(max=100))),
            "tags": field(type=relation("tags", many=True)),
            "main_tag": field(type=relation("tags")),
        },
    )
    v1 = version([tags, posts])
    await v1.push()
    t1, t2 = await v1.tags.create_many([{"name": "x"}, {"name": "y"}])
    await v1.posts.create({"title": "a", "tags": [t1["id"], t2["id"]], "main_tag_id": t2["id"]})

    labels = collection(
        slug="labels", renamed_from="tags", fields={"name": required(field(type=text(max=40)))}
    )
    articles = collection(
        slug="articles",
        renamed_from="posts",
        fields={
            "title": required(field(type=text(max=100))),
            "tags": field(type=relation("labels", many=True)),
            "main_tag": field(type=relation("labels")),
        },
    )
    v2 = version([labels, articles])
    plan = await v2.plan()
    assert not plan.has_data_loss, plan.statements
    assert plan.created_tables == []
    assert "unsafe" in risks(plan)
    await v2.push()
    assert set(await snapshot(v2)) == {"labels", "articles", "articles_tags"}
    assert await fetch(v2, "SELECT name FROM labels ORDER BY id") == [("x",), ("y",)]
    article = await v2.articles.read(1)
    assert article is not None
    assert article["tags"] == [t1["id"], t2["id"]] and article["main_tag_id"] == t2["id"]
    assert (await v2.plan()).is_empty


async def test_drop_plus_add_of_the_same_type_gives_a_rename_hint(version: Version) -> None:
    def posts(name: str) -> Collection:
        return collection(
            slug="posts",
            fields={"title": required(field(type=text(max=100))), name: field(type=text())},
        )

    v1 = version([posts("body")])
    await v1.push()
    await v1.posts.create({"title": "a", "body": "kept?"})
    v2 = version([posts("content")])
    plan = await v2.plan()
    assert plan.has_data_loss  # without renamed_from it is a drop
    assert plan.hints == [
        "posts.body was dropped and posts.content added with the same type: if this is a "
        "rename, add renamed_from='body' to the field 'content' to keep the data"
    ]


async def test_dropped_and_created_table_with_the_same_columns_gives_a_hint(
    version: Version,
) -> None:
    fields = {"name": required(field(type=text(max=40)))}
    await version([collection(slug="tags", fields=fields)]).push()
    plan = await version([collection(slug="labels", fields=fields)]).plan()
    assert plan.hints == [
        "table tags was dropped and labels created with the same columns: if this is a "
        "rename, add renamed_from='tags' to collection(slug='labels') to keep the rows"
    ]
