"""Random schema edits and row values for the schema-evolution test (``test_evolution.py``).

An ``Edit`` is a new spec (``tests/sync/specs.py``) plus what the test must know to
predict the data: table and column renames, and columns whose type changed. Every edit
produced here is a *valid* collections change: names never clash, relations always
point to an existing collection.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.sync.specs import Spec

KINDS = ("text", "integer", "number", "boolean", "timestamp", "date", "uuid", "json", "select")
CHOICES = ("a", "b", "c", "d", "e")
_NOT_INDEXABLE = frozenset({"json"})


@dataclass
class Edit:
    """A changed spec and how old tables/columns map to new ones."""

    spec: Spec
    what: str
    tables: dict[str, str] = field(default_factory=dict)  # old table -> new (renames)
    columns: dict[tuple[str, str], str] = field(default_factory=dict)  # (table, old) -> new
    retyped: set[tuple[str, str]] = field(default_factory=set)  # (table, column) new names


class Names:
    """Fresh names, never reused: collections c1, c2...; fields f1...; relations r1..."""

    def __init__(self, start: int = 0) -> None:
        self.n = start

    def next(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"


def _args(rng: random.Random, kind: str) -> dict[str, Any]:
    if kind == "text":
        size = rng.choice([None, 8, 20, 60])
        return {} if size is None else {"max": size}
    if kind == "integer":
        return {
            k: v
            for k, v in (("min", rng.choice([None, 0])), ("max", rng.choice([None, 99, 10_000])))
            if v is not None
        }
    if kind == "number":
        return {
            k: v
            for k, v in (("min", rng.choice([None, 0.0])), ("max", rng.choice([None, 50.0, 1e6])))
            if v is not None
        }
    if kind == "select":
        return {"choices": sorted(rng.sample(CHOICES, rng.randint(1, 4)))}
    return {}


def _default(rng: random.Random, kind: str, args: dict[str, Any]) -> Any:
    if rng.random() < 0.6:
        return None
    return {
        "text": "x",
        "integer": args.get("min", 0),
        "number": args.get("min", 0.0),
        "boolean": rng.random() < 0.5,
        "select": (args.get("choices") or ["a"])[0],
    }.get(kind)


def new_field(rng: random.Random) -> dict[str, Any]:
    """A random scalar field spec."""
    kind = rng.choice(KINDS)
    args = _args(rng, kind)
    indexable = kind not in _NOT_INDEXABLE and not (kind == "text" and not args)
    return {
        "type": kind,
        "args": args,
        "required": rng.random() < 0.25,
        "unique": indexable and rng.random() < 0.15,
        "index": indexable and rng.random() < 0.2,
        "default": _default(rng, kind, args),
    }


def _scalars(c: dict[str, Any]) -> list[str]:
    return [n for n, f in c["fields"].items() if f["type"] != "relation"]


def _relations(c: dict[str, Any]) -> list[str]:
    return [n for n, f in c["fields"].items() if f["type"] == "relation"]


class Editor:
    """Picks a random valid edit of a spec."""

    def __init__(self, rng: random.Random, names: Names) -> None:
        self.rng, self.names = rng, names

    def initial(self) -> Spec:
        """Two or three collections with a few fields and a relation."""
        spec: Spec = []
        for _ in range(self.rng.randint(2, 3)):
            fields = {self.names.next("f"): new_field(self.rng) for _ in range(3)}
            spec.append({"slug": self.names.next("c"), "fields": fields})
        spec[-1]["fields"][self.names.next("r")] = {
            "type": "relation",
            "args": {"target": spec[0]["slug"], "many": False},
        }
        return spec

    def edit(self, spec: Spec) -> Edit:
        """One random edit (retried until one applies to ``spec``)."""
        edits = [
            (self.add_field, 6),
            (self.drop_field, 3),
            (self.rename_field, 3),
            (self.retype, 5),
            (self.toggle, 6),
            (self.choices_or_range, 4),
            (self.add_relation, 3),
            (self.drop_relation, 2),
            (self.add_collection, 1),
            (self.drop_collection, 1),
            (self.rename_collection, 1),
        ]
        while True:
            make = self.rng.choices([e for e, _ in edits], [w for _, w in edits])[0]
            new = copy.deepcopy(spec)
            edit = make(new)
            if edit is not None:
                return edit

    def _pick(self, spec: Spec) -> dict[str, Any]:
        return self.rng.choice(spec)

    def add_field(self, spec: Spec) -> Edit | None:
        c, name = self._pick(spec), self.names.next("f")
        c["fields"][name] = new_field(self.rng)
        return Edit(spec, f"add field {c['slug']}.{name} {c['fields'][name]}")

    def drop_field(self, spec: Spec) -> Edit | None:
        c = self._pick(spec)
        names = _scalars(c)
        if len(c["fields"]) < 2 or not names:
            return None
        name = self.rng.choice(names)
        del c["fields"][name]
        return Edit(spec, f"drop field {c['slug']}.{name}")

    def rename_field(self, spec: Spec) -> Edit | None:
        c = self._pick(spec)
        if not c["fields"]:
            return None
        old = self.rng.choice(list(c["fields"]))
        f = c["fields"][old]
        if f["type"] == "relation" and f["args"].get("many"):
            return None  # junction renames: covered by test_renames; keeps the model simple
        new = self.names.next("r" if f["type"] == "relation" else "f")
        c["fields"] = {(new if n == old else n): v for n, v in c["fields"].items()}
        c["fields"][new]["renamed_from"] = old
        suffix = "_id" if f["type"] == "relation" else ""
        edit = Edit(spec, f"rename field {c['slug']}.{old} -> {new}")
        edit.columns[(c["slug"], old + suffix)] = new + suffix
        return edit

    def retype(self, spec: Spec) -> Edit | None:
        c = self._pick(spec)
        names = _scalars(c)
        if not names:
            return None
        name = self.rng.choice(names)
        f = c["fields"][name]
        if f["type"] == "text" and self.rng.random() < 0.5:
            f["args"] = {"max": self.rng.choice([4, 8, 20, 60, 300])}  # widen or narrow
        elif f["type"] in ("integer", "number") and self.rng.random() < 0.5:
            f["type"] = "number" if f["type"] == "integer" else "integer"
            f["args"] = {}
        else:
            f["type"] = self.rng.choice([k for k in KINDS if k != f["type"]])
            f["args"] = _args(self.rng, f["type"])
        f["default"] = _default(self.rng, f["type"], f["args"])
        if f["type"] in _NOT_INDEXABLE or (f["type"] == "text" and not f["args"]):
            f["unique"] = f["index"] = False
        edit = Edit(spec, f"retype {c['slug']}.{name} -> {f['type']} {f['args']}")
        edit.retyped.add((c["slug"], name))
        return edit

    def toggle(self, spec: Spec) -> Edit | None:
        c = self._pick(spec)
        names = _scalars(c)
        if not names:
            return None
        name = self.rng.choice(names)
        f = c["fields"][name]
        flag = self.rng.choice(["required", "unique", "index"])
        indexable = f["type"] not in _NOT_INDEXABLE and not (f["type"] == "text" and not f["args"])
        if flag != "required" and not indexable:
            return None
        f[flag] = not f.get(flag)
        return Edit(spec, f"toggle {c['slug']}.{name}.{flag} -> {f[flag]}")

    def choices_or_range(self, spec: Spec) -> Edit | None:
        c = self._pick(spec)
        names = [
            n for n in _scalars(c) if c["fields"][n]["type"] in ("select", "integer", "number")
        ]
        if not names:
            return None
        name = self.rng.choice(names)
        f = c["fields"][name]
        f["args"] = _args(self.rng, f["type"])
        if f.get("default") is not None:
            f["default"] = (
                _default(self.rng, f["type"], f["args"]) if self.rng.random() < 0.5 else None
            )
        return Edit(spec, f"constrain {c['slug']}.{name} -> {f['args']}")

    def add_relation(self, spec: Spec) -> Edit | None:
        c, target = self._pick(spec), self._pick(spec)
        name = self.names.next("r")
        many = self.rng.random() < 0.4
        c["fields"][name] = {
            "type": "relation",
            "args": {"target": target["slug"], "many": many},
            "required": not many and self.rng.random() < 0.2,
        }
        return Edit(spec, f"add relation {c['slug']}.{name} -> {target['slug']} many={many}")

    def drop_relation(self, spec: Spec) -> Edit | None:
        c = self._pick(spec)
        names = _relations(c)
        if not names or len(c["fields"]) < 2:
            return None
        name = self.rng.choice(names)
        del c["fields"][name]
        return Edit(spec, f"drop relation {c['slug']}.{name}")

    def add_collection(self, spec: Spec) -> Edit | None:
        if len(spec) >= 5:
            return None
        slug = self.names.next("c")
        fields = {self.names.next("f"): new_field(self.rng) for _ in range(2)}
        if self.rng.random() < 0.5:
            fields[self.names.next("r")] = {
                "type": "relation",
                "args": {"target": self._pick(spec)["slug"], "many": self.rng.random() < 0.5},
            }
        spec.append({"slug": slug, "fields": fields})
        return Edit(spec, f"add collection {slug}")

    def drop_collection(self, spec: Spec) -> Edit | None:
        if len(spec) <= 2:
            return None
        gone = self._pick(spec)
        spec.remove(gone)
        for c in spec:
            c["fields"] = {
                n: f
                for n, f in c["fields"].items()
                if not (f["type"] == "relation" and f["args"]["target"] == gone["slug"])
            }
            if not c["fields"]:
                c["fields"][self.names.next("f")] = new_field(self.rng)
        return Edit(spec, f"drop collection {gone['slug']}")

    def rename_collection(self, spec: Spec) -> Edit | None:
        c = self._pick(spec)
        if any(f["type"] == "relation" and f["args"].get("many") for f in c["fields"].values()):
            return None  # junction renames ride along: covered by test_renames
        if any(
            f["type"] == "relation" and f["args"].get("many") and f["args"]["target"] == c["slug"]
            for other in spec
            for f in other["fields"].values()
        ):
            return None
        old, new = c["slug"], self.names.next("c")
        c["slug"], c["renamed_from"] = new, old
        for other in spec:
            for f in other["fields"].values():
                if f["type"] == "relation" and f["args"]["target"] == old:
                    f["args"]["target"] = new
        edit = Edit(spec, f"rename collection {old} -> {new}")
        edit.tables[old] = new
        return edit


def forget_renames(spec: Spec) -> Spec:
    """The spec once its renames ran (a user may delete ``renamed_from`` then)."""
    out = copy.deepcopy(spec)
    for c in out:
        c.pop("renamed_from", None)
        for f in c["fields"].values():
            f.pop("renamed_from", None)
    return out


# --------------------------------------------------------------------------- values


def value(rng: random.Random, f: dict[str, Any], serial: int) -> Any:
    """A valid value for a field spec (``serial`` keeps unique fields distinct)."""
    kind, args = f["type"], f.get("args") or {}
    if kind == "text":
        text = f"v{serial}" + "".join(rng.choice("xyz") for _ in range(rng.randint(0, 6)))
        return text[: args["max"]] if "max" in args and not f.get("unique") else text
    if kind == "integer":
        lo, hi = args.get("min", -50), args.get("max", 50_000)
        return min(max(lo, serial if f.get("unique") else rng.randint(lo, min(hi, 60))), hi)
    if kind == "number":
        lo, hi = args.get("min", -5.0), args.get("max", 1e6)
        return min(max(lo, serial + 0.5 if f.get("unique") else rng.randint(0, 40) / 4), hi)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "timestamp":
        base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        return base + dt.timedelta(seconds=serial * 3607 + rng.randint(0, 3600))
    if kind == "date":
        return dt.date(2020, 1, 1) + dt.timedelta(days=serial + rng.randint(0, 3))
    if kind == "uuid":
        return uuid.UUID(int=rng.getrandbits(128))
    if kind == "json":
        return rng.choice([{"k": serial}, [1, serial], "s", serial, None])
    if kind == "select":
        return rng.choice(args["choices"])
    raise AssertionError(kind)
