"""The collections most backend tests share: the demo's blog (cli/demo.py) plus a field of
every type on users and a uuid-keyed ``notes`` collection."""

from __future__ import annotations

from deesse_async import (
    boolean,
    collection,
    date,
    field,
    index,
    integer,
    json,
    number,
    select,
    text,
    timestamp,
    unique,
    uuid,
)
from deesse_async.cli.demo import blog_collections

Users, Tags, Posts, Comments = blog_collections(
    {
        "users": {
            "age": field(type=integer(min=0, max=150)),
            "score": field(type=number(min=-1000.0, max=1000.0)),
            "active": field(type=boolean(), default=True),
            "born": field(type=date()),
            "last_seen": field(type=timestamp()),
            "external_id": unique(field(type=uuid())),
            "profile": field(type=json()),
            "role": field(type=select("admin", "member"), default="member"),
            "nickname": index(field(type=text(max=40))),
        }
    }
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
