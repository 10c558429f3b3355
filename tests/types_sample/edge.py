"""Names that Python or the generated module could trip on, for ``deesse types``: keyword
field, relation and collection names, fields named like the modules and types the module
uses, quotes in choices, slugs with one class name or none, explicit relations
(tests/test_types_cli.py)."""

from __future__ import annotations

from deesse_async import (
    collection,
    date,
    define_config,
    define_relations,
    field,
    integer,
    json,
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
        "list": field(type=json()),
        "str": field(type=integer()),
    },
)

Imports = collection(slug="import", fields={"note": text()})
Digit = collection(slug="_1", fields={"Any": text(), "bool": field(type=select("str"))})
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
    collections=[People, Events, Imports, Ab, AbToo, Digit],
    relations=relations,
)
