"""Collections as JSON-able specs, so another process can build the very same schema.

A spec is a list of collections: ``{"slug", "renamed_from", "fields": {name: field}}``
where a field is ``{"type", "args", "required", "unique", "index", "default",
"renamed_from"}`` (``args`` are the type function's keyword arguments; a relation's are
``{"target", "many"}``; a select's ``{"choices": [...]}``). ``collections(spec)`` builds
the ``Collection`` objects; the plan worker (``tests/sync/planworker.py``) reads specs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import deesse_async as d
from deesse_async import Collection, Field

Spec = list[dict[str, Any]]

_TYPES = {
    "text": d.text,
    "number": d.number,
    "integer": d.integer,
    "boolean": d.boolean,
    "timestamp": d.timestamp,
    "date": d.date,
    "uuid": d.uuid,
    "json": d.json,
    "email": d.email,
}


def field_of(spec: Mapping[str, Any]) -> Field:
    """One field from its spec."""
    kind, args = spec["type"], dict(spec.get("args") or {})
    if kind == "select":
        ftype: Any = d.select(*args["choices"])
    elif kind == "relation":
        ftype = d.relation(args["target"], many=bool(args.get("many")))
    else:
        ftype = _TYPES[kind](**args)
    f = d.field(
        type=ftype,
        default=spec.get("default"),
        index=bool(spec.get("index")),
        renamed_from=spec.get("renamed_from"),
    )
    if spec.get("required"):
        f = d.required(f)
    if spec.get("unique"):
        f = d.unique(f)
    return f


def collections(spec: Spec) -> list[Collection]:
    """The ``Collection`` objects a spec describes, in its order."""
    return [
        d.collection(
            slug=c["slug"],
            fields={name: field_of(f) for name, f in c["fields"].items()},
            renamed_from=c.get("renamed_from"),
        )
        for c in spec
    ]
