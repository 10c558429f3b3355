"""The fuzzer: hostile option trees and write payloads on every backend.

Every call either returns rows or raises a ``DeesseError``; nothing else escapes (no
``OverflowError``, ``UnicodeEncodeError``, ``TypeError``, ``RecursionError``, SQLAlchemy
or driver exception), and a write that raises leaves the tables as they were.

Cases are valid differential trees (``strategies.draw_cases``) mutated by
``strategies.mutate`` / ``garbage_options`` / ``write_payload`` with a seeded
``random.Random``: the same cases on every run and every backend. CI runs
``DEFAULT_CASES`` per backend; ``DEESSE_FUZZ_CASES=20000`` runs more, and
``DEESSE_FUZZ_SEED`` picks another sequence. Escapes are collected (not stopped at the
first) and reported with the case that caused them.
"""

from __future__ import annotations

import os
import random
import reprlib
from collections import Counter
from typing import Any

import pytest

from deesse_async import Database, DeesseError

from .dataset import make_collections, seed
from .strategies import (
    QueryCase,
    draw_cases,
    garbage_options,
    hostile_value,
    mutate,
    write_payload,
)

pytestmark = pytest.mark.anyio

DEFAULT_CASES = 2000  # per backend; about 10 s on PostgreSQL/MariaDB, less on SQLite
CASES = int(os.environ.get("DEESSE_FUZZ_CASES", DEFAULT_CASES))
SEED = os.environ.get("DEESSE_FUZZ_SEED", "deesse-fuzz")
QUERY_SHARE = 0.75
_TOP_LEVEL = {"columns", "with", "where", "order_by", "limit", "offset", "extras"}
_SLUGS = ("users", "posts", "comments", "tags")


_REPR = reprlib.Repr()  # Python 3.11: attributes, not constructor arguments
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxstring, _REPR.maxother = 8, 8, 8, 80, 120


def _show(value: Any) -> str:
    """A bounded repr (cases hold 3,000-level nestings and 70,000-character strings)."""
    return _REPR.repr(value)


class Fuzz:
    """Runs cases against one database and keeps the tally."""

    def __init__(self, db: Database, rnd: random.Random) -> None:
        self.db = db
        self.rnd = rnd
        self.counts: Counter[str] = Counter()
        self.escapes: list[str] = []
        self.log: list[str] = []  # one line per case, for DEESSE_FUZZ_LOG

    def escaped(self, what: str, exc: BaseException) -> None:
        self.escapes.append(f"{what}\n    -> {type(exc).__module__}.{type(exc).__name__}: {exc}")

    async def query(self, base: QueryCase) -> None:
        rnd = self.rnd
        if rnd.random() < 0.15:
            options: Any = garbage_options(rnd, base.slug)
        else:
            options = mutate(rnd, base.options, base.slug)
        kwargs = {
            ("with_" if k == "with" else k): v
            for k, v in options.items()
            if isinstance(k, str) and k in _TOP_LEVEL
        }
        strategy = rnd.choice(("auto", "lateral", "batched"))
        api = self.db.query.__getattr__(base.slug)
        method = api.find_first if base.first else api.find_many
        if base.first:
            kwargs.pop("limit", None)  # find_first has no limit parameter (Python's TypeError)
        what = f"{base.slug}.{method.__name__}(strategy={strategy!r}, **{_show(kwargs)})"
        try:
            query = method(**kwargs, strategy=strategy)
            if rnd.random() < 0.2:
                result = await query.prepare().execute()
            else:
                result = await query
        except DeesseError as exc:
            self.counts["query: DeesseError"] += 1
            self.log.append(f"{type(exc).__name__}: {str(exc)[:200]!r}  <- {what}")
            return
        except Exception as exc:
            self.escaped(what, exc)
            return
        assert result is None or isinstance(result, list | dict), what
        self.counts["query: rows"] += 1
        self.log.append(f"rows  <- {what}")

    async def write(self, n: int) -> None:
        rnd = self.rnd
        slug = rnd.choice(_SLUGS)
        api = self.db.collection(slug)
        op = rnd.choice(("create", "create", "create_many", "update", "update", "by_id", "count"))
        before = await api.count()
        target = rnd.choice((1, 2, 3)) if op == "update" else None
        row_before = await api.read(target) if target is not None else None
        what, call = self._write_call(op, slug, api, n, target)
        try:
            await call()
        except DeesseError:
            self.counts[f"write {op}: DeesseError"] += 1
            after = await api.count()
            if after != before:
                self.escapes.append(f"{what}\n    -> raised but row count {before} -> {after}")
            if target is not None and await api.read(target) != row_before:
                self.escapes.append(f"{what}\n    -> raised but row {target} changed")
            return
        except Exception as exc:
            self.escaped(what, exc)
            return
        self.counts[f"write {op}: ok"] += 1

    def _write_call(self, op: str, slug: str, api: Any, n: int, target: Any) -> tuple[str, Any]:
        rnd = self.rnd
        payload = write_payload(rnd, slug, n)
        if op == "create":
            return f"{slug}.create({_show(payload)})", lambda: api.create(payload)
        if op == "create_many":
            items = [write_payload(rnd, slug, n * 10 + i) for i in range(3)]
            return f"{slug}.create_many({_show(items)})", lambda: api.create_many(items)
        if op == "update":
            data = {k: v for k, v in payload.items() if rnd.random() < 0.5}
            return f"{slug}.update({target}, {_show(data)})", lambda: api.update(target, data)
        if op == "count":
            where = mutate(rnd, {"id": {"gt": 1}, "OR": [{"id": 2}]}, slug)
            return f"{slug}.count({_show(where)})", lambda: api.count(where)
        id_ = hostile_value(rnd)
        method = rnd.choice((api.read, api.delete))
        return f"{slug}.{method.__name__}({_show(id_)})", lambda: method(id_)


def _summary(fuzz: Fuzz, backend: str) -> str:
    lines = [f"{backend}: {sum(fuzz.counts.values())} cases, {len(fuzz.escapes)} escapes"]
    lines += [f"  {k}: {v}" for k, v in sorted(fuzz.counts.items())]
    return "\n".join(lines)


async def test_fuzz_hostile_input(
    make_db: Any, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = await make_db(make_collections())
    dataset = await seed(db)
    bases = draw_cases(dataset, 120)
    fuzz = Fuzz(db, random.Random(SEED))
    for n in range(CASES):
        if fuzz.rnd.random() < QUERY_SHARE:
            await fuzz.query(fuzz.rnd.choice(bases))
        else:
            await fuzz.write(n)
    summary = _summary(fuzz, backend)
    if os.environ.get("DEESSE_FUZZ_LOG"):  # compare backends: diff the files
        path = os.path.join(os.environ["DEESSE_FUZZ_LOG"], f"fuzz-{backend}.log")
        with open(path, "w") as out:  # noqa: ASYNC230 - a debugging aid after the run
            out.write("\n".join(fuzz.log))
    with capsys.disabled():
        print("\n" + summary)
    shown = "\n\n".join(fuzz.escapes[:12])
    assert not fuzz.escapes, f"{summary}\n\nfirst escapes:\n\n{shown}"
