"""The collections most backend tests share: a small blog plus a row of every type."""

from __future__ import annotations

from deesse_async import (
    boolean,
    collection,
    date,
    email,
    field,
    index,
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
        "name": required(field(type=text(min=1, max=100))),
        "email": unique(required(field(type=email()))),
        "invited_by": field(type=relation("users", related_name="invitees")),
        "age": field(type=integer(min=0, max=150)),
        "score": field(type=number(min=-1000.0, max=1000.0)),
        "active": field(type=boolean(), default=True),
        "born": field(type=date()),
        "last_seen": field(type=timestamp()),
        "external_id": unique(field(type=uuid())),
        "profile": field(type=json()),
        "role": field(type=select("admin", "member"), default="member"),
        "nickname": index(field(type=text(max=40))),
    },
)

Tags = collection(slug="tags", fields={"name": unique(required(field(type=text(max=40))))})

Posts = collection(
    slug="posts",
    fields={
        "title": unique(required(field(type=text(min=1, max=100)))),
        "content": field(type=text(max=1000)),
        "status": field(type=select("draft", "published"), default="draft"),
        "author": required(field(type=relation("users", related_name="posts"))),
        "tags": field(type=relation("tags", many=True, related_name="posts")),
    },
)

Comments = collection(
    slug="comments",
    fields={
        "body": required(field(type=text(min=1))),
        "post": required(
            field(type=relation("posts", related_name="comments", on_delete="cascade"))
        ),
        "author": field(type=relation("users")),
    },
)

Notes = collection(
    slug="notes",
    id_type="uuid",
    timestamps=False,
    fields={
        "body": field(type=text()),
        "created_at": field(type=integer()),  # free to use: timestamps=False
        "owner_id": field(type=integer(), references="users.id"),
    },
)

BLOG = [Users, Tags, Posts, Comments, Notes]
