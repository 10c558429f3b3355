"""The sample app of tests/test_types_cli.py: one, many and many-to-many relations and
every field type, for ``deesse types --app tests.types_sample.app:db``."""

from __future__ import annotations

import os

from deesse_async import (
    boolean,
    collection,
    date,
    define_config,
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

Users = collection(
    slug="users",
    fields={
        "name": required(field(type=text(max=80))),
        "email": unique(required(field(type=email()))),
        "role": required(field(type=select("admin", "member"), default="member")),
        "active": field(type=boolean(), default=True),
        "settings": field(type=json()),
        "external_id": field(type=uuid()),
    },
)

Tags = collection(
    slug="tags",
    id_type="uuid",
    timestamps=False,
    fields={"label": unique(required(field(type=text(max=40))))},
)

BlogPosts = collection(
    slug="blog_posts",
    fields={
        "title": required(field(type=text(max=200))),
        "body": field(type=text()),
        "status": field(type=select("draft", "published")),
        "score": field(type=number(min=0)),
        "views": field(type=integer(min=0), default=0),
        "published_at": field(type=timestamp()),
        "day": field(type=date()),
        "author": required(relation("users", related_name="posts")),
        "tags": relation("tags", many=True, related_name="posts"),
    },
)

Comments = collection(
    slug="comments",
    fields={
        "text": required(field(type=text())),
        "post": required(relation("blog_posts", related_name="comments", on_delete="cascade")),
        "author": relation("users", related_name="comments"),
    },
)

db = define_config(
    provider=os.environ.get("DEESSE_TYPES_SAMPLE_URL", "sqlite://:memory:"),
    collections=[Users, Tags, BlogPosts, Comments],
)
