"""Names that Python or the generated module could trip on, for ``deesse types``: keyword
field, relation and collection names, fields named like the modules the types use, quotes
in choices, slugs with the same class name, explicit relations (tests/test_types_cli.py)."""

from __future__ import annotations

from deesse_async import (
    collection,
    date,
    define_config,
    define_relations,
    field,
    integer,
    many,
    one,
    relation,
    required,
    select,
    text,
    timestamp,
    uuid,
)

People = collection(
    slug="people",
    fields={
        "name": required(field(type=text())),
        "best_friend_id": field(type=integer(), references="people.id"),
    },
)

Events = collection(
    slug="events",
    fields={
        "class": required(field(type=text())),
        "datetime": field(type=timestamp()),
        "uuid": field(type=uuid()),
        "date": field(type=date()),
        "kind": field(type=select("it's", 'say "hi"', "back\\slash")),
        "from": relation("people", related_name="events"),
    },
)

Imports = collection(slug="import", fields={"note": text()})
Ab = collection(slug="a_b", fields={"x": text()})
AbToo = collection(slug="a__b", fields={"x": text()})

relations = define_relations(
    people={
        "best_friend": one("people", from_="best_friend_id", to="id"),
        "friends_of": many("people", from_="id", to="best_friend_id"),
    }
)

db = define_config(
    provider="sqlite://:memory:",
    collections=[People, Events, Imports, Ab, AbToo],
    relations=relations,
)
