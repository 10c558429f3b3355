"""What a read rule costs per execution of a prepared query (docs/access.md).

    python benchmarks/access.py                                   # SQLite, a temp file
    python benchmarks/access.py --url postgresql://postgres@127.0.0.1:5432/test
    python benchmarks/access.py --profile c                       # cProfile one variant

Two collections with the same columns and data: ``docs`` (no rules) and ``notes``
(read rule: admin -> True, a member -> ``{"owner_id": user id}``, anonymous -> False),
both with an ``owner`` relation to ``users`` (no rules). Every note and doc belongs to
the one member, so (a), (b), (c) and (e) return the same rows. Shapes, both prepared
once at start-up:

  by_id   find_first(where={"id": placeholder}, with_={"owner": ...})   one row + relation
  page    find_many(order_by id desc, limit=20)                          a page of 20

Variants, each run as ``prepared.with_user(user).execute(...)`` (what a request does):
  (a) docs, no rule               (b) notes as admin: rule returns True
  (c) notes as member: where-dict (d) notes, anonymous: rule returns False
  (e) notes via prepared.trusted(): no rules run
  (f) docs, no rule, the caller's own where {"owner_id": placeholder}: the SQL of (c)
      without the rule machinery, so (c) - (f) is what running the rule costs in Python

Rounds are interleaved (each round runs every variant ``--batch`` times, the order
rotating), the time per execution is the median over rounds. Prints the added µs per
execution of (b)-(e) over (a) and the ratios, then checks that after warm-up no
execution compiles SQL (the planner's cache and the prepared queries' per-rule-shape
plan dicts do not grow, and the planner builds no plan).

On PostgreSQL it creates the schema ``deesse_bench_access`` and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from deesse_async import (
    Database,
    collection,
    define_config,
    field,
    placeholder,
    relation,
    required,
    select,
    text,
)

SCHEMA = "deesse_bench_access"
ROWS = 200  # notes (and docs) of the member


def read_notes(ctx: Any) -> Any:
    if ctx.user is None:
        return False
    if ctx.user["role"] == "admin":
        return True
    return {"owner_id": ctx.user["id"]}


Users = collection(
    slug="users",
    fields={
        "name": required(field(type=text(max=100))),
        "role": field(type=select("admin", "member"), default="member"),
    },
)


def _owned(slug: str, access: dict[str, Any] | None) -> Any:
    return collection(
        slug=slug,
        fields={
            "title": required(field(type=text(max=200))),
            "body": field(type=text()),
            "owner": required(field(type=relation("users", related_name=slug))),
        },
        access=access,
    )


Docs = _owned("docs", None)
Notes = _owned("notes", {"read": read_notes})

VARIANTS = {
    "a": "(a) no rule",
    "b": "(b) rule -> True (admin)",
    "c": "(c) rule -> where-dict",
    "d": "(d) rule -> False (anon.)",
    "e": "(e) trusted()",
    "f": "(f) no rule, own where",
}


async def seed(db: Database) -> tuple[dict[str, Any], dict[str, Any], int]:
    admin_db = db.trusted()
    admin = await admin_db.users.create({"name": "Ada", "role": "admin"})
    member = await admin_db.users.create({"name": "Bob"})
    for slug in ("docs", "notes"):
        rows = await admin_db.collection(slug).create_many(
            [{"title": f"{slug} {i}", "body": "x" * 200, "owner_id": member["id"]}
             for i in range(ROWS)]
        )  # fmt: skip
    return admin, member, rows[ROWS // 2]["id"]


def prepare(db: Database, slug: str, where: dict[str, Any] | None = None) -> dict[str, Any]:
    q = getattr(db.query, slug)
    by_id = q.find_first(
        where={"id": placeholder("id"), **(where or {})},
        with_={"owner": {"columns": {"id": True, "name": True}}},
    ).prepare()
    page = q.find_many(where=where, order_by={"id": "desc"}, limit=20).prepare()
    return {"by_id": by_id, "page": page}


def cases(
    db: Database, admin: dict[str, Any], member: dict[str, Any], row_id: int
) -> tuple[dict[str, dict[str, Callable[[], Awaitable[Any]]]], list[Any]]:
    docs, notes = prepare(db, "docs"), prepare(db, "notes")
    own = prepare(db, "docs", {"owner_id": placeholder("owner")})
    out: dict[str, dict[str, Callable[[], Awaitable[Any]]]] = {}
    for shape in ("by_id", "page"):
        values = {"id": row_id} if shape == "by_id" else {}
        d, n, o = docs[shape], notes[shape], own[shape]
        mine = {**values, "owner": member["id"]}
        out[shape] = {
            "a": lambda d=d, v=values: d.with_user(member).execute(v),
            "b": lambda n=n, v=values: n.with_user(admin).execute(v),
            "c": lambda n=n, v=values: n.with_user(member).execute(v),
            "d": lambda n=n, v=values: n.with_user(None).execute(v),
            "e": lambda n=n, v=values: n.trusted().execute(v),
            "f": lambda o=o, v=mine: o.with_user(member).execute(v),
        }
    return out, [*docs.values(), *notes.values(), *own.values()]


async def check_results(runs: dict[str, dict[str, Callable[[], Awaitable[Any]]]]) -> None:
    """The variants return what they should (else the timings would compare nothing);
    a variant that raises is reported and left out of the measurement."""
    for shape, variants in runs.items():
        got = {}
        for key, fn in list(variants.items()):
            try:
                got[key] = await fn()
            except Exception as exc:
                print(f"{shape} {VARIANTS[key]}: FAILS, left out: {type(exc).__name__}: {exc}")
                del variants[key]
        strip = [_comparable(got[k]) for k in "abcef" if k in got]
        assert all(s == strip[0] for s in strip), f"{shape}: (a)(b)(c)(e)(f) differ"
        assert got.get("d") in (None, []), f"{shape}: anonymous got {got['d']!r}"
        assert got["a"], f"{shape}: no rows"


def _comparable(result: Any) -> Any:
    rows = result if isinstance(result, list) else [result]
    return [{k: v for k, v in r.items() if k not in ("id", "created_at", "updated_at")}
            | {"title": r["title"].split(" ", 1)[1]} for r in rows]  # fmt: skip


async def measure(
    runs: dict[str, Callable[[], Awaitable[Any]]], rounds: int, batch: int
) -> dict[str, float]:
    """Median seconds per execution of each variant, interleaved round by round."""
    names = list(runs)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(max(3, rounds // 10)):  # warm-up: plan caches, prepared statements
        for name in names:
            for _ in range(batch):
                await runs[name]()
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            fn = runs[name]
            start = time.perf_counter()
            for _ in range(batch):
                await fn()
            samples[name].append((time.perf_counter() - start) / batch)
    return {name: statistics.median(v) for name, v in samples.items()}


def cache_sizes(db: Database, prepared: list[Any]) -> tuple[int, int]:
    """(plans in the planner's LRU cache, per-rule-shape plans kept by prepared queries)."""
    planner = db._planner
    kept = sum(len(p.query.access._plans) for p in prepared if p.query.access is not None)
    return len(planner._cache), kept


async def check_no_compilation(
    db: Database, runs: dict[str, dict[str, Callable[[], Awaitable[Any]]]], prepared: list[Any]
) -> bool:
    """After warm-up, executions build no plan and the caches do not grow."""
    planner = db._planner
    before = cache_sizes(db, prepared)
    builds = 0
    build = planner._build

    def counting(*args: Any) -> Any:
        nonlocal builds
        builds += 1
        return build(*args)

    planner._build = counting  # type: ignore[method-assign]
    try:
        for variants in runs.values():
            for fn in variants.values():
                for _ in range(20):
                    await fn()
    finally:
        del planner._build
    after = cache_sizes(db, prepared)
    print(
        f"\nplan cache entries (planner LRU, per-shape plans of the prepared queries): "
        f"before {before}, after {after}; plans built during "
        f"{20 * sum(len(v) for v in runs.values())} executions: {builds}"
    )
    ok = before == after and builds == 0
    print("no SQL compilation per execution after warm-up" if ok else "COMPILED PER EXECUTION")
    return ok


def report(shape: str, times: dict[str, float]) -> None:
    base = times["a"]
    print(f"\n{shape}{'':<24}{'µs/exec':>10}{'added µs':>10}{'ratio':>8}")
    for key, t in times.items():
        added = "" if key == "a" else f"{(t - base) * 1e6:+10.1f}"
        print(f"{VARIANTS[key]:<30}{t * 1e6:10.1f}{added:>10}{t / base:8.3f}")
    if "c" in times and "f" in times:
        print(f"(c) over (f), the rule itself: {(times['c'] - times['f']) * 1e6:+.1f} µs")


async def profile(runs: dict[str, Callable[[], Awaitable[Any]]], variant: str, n: int) -> None:
    fn = runs[variant]
    for _ in range(50):
        await fn()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        await fn()
    prof.disable()
    print(f"\ncProfile of {VARIANTS[variant]} x {n} (by internal time):")
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


async def run(url: str, args: argparse.Namespace) -> None:
    db = define_config(provider=url, collections=[Users, Docs, Notes], pool_size=2)
    async with db:
        await db.push()
        admin, member, row_id = await seed(db)
        runs, prepared = cases(db, admin, member, row_id)
        await check_results(runs)
        print(f"{db.url.display}: {args.rounds} rounds x {args.batch} executions per variant")
        for shape, variants in runs.items():
            report(shape, await measure(variants, args.rounds, args.batch))
        await check_no_compilation(db, runs, prepared)
        if args.profile:
            for shape, variants in runs.items():
                print(f"\n== {shape}")
                await profile(variants, args.profile, args.profile_n)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=None, help="default: SQLite in a temporary file")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--batch", type=int, default=50, help="executions per variant per round")
    parser.add_argument("--profile", choices=list(VARIANTS), help="cProfile this variant")
    parser.add_argument("--profile-n", type=int, default=2000)
    args = parser.parse_args()
    if args.url is None:
        with tempfile.TemporaryDirectory() as tmp:
            await run(f"sqlite:///{Path(tmp) / 'access.db'}", args)
        return
    if not args.url.startswith(("postgresql", "postgres")):
        await run(args.url, args)
        return
    import asyncpg

    plain = args.url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(plain)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
        await conn.execute(f'CREATE SCHEMA "{SCHEMA}"')
        sep = "&" if "?" in args.url else "?"
        await run(f"{args.url}{sep}schema={SCHEMA}", args)
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
