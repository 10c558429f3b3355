"""deesse_async's own cost per query, without I/O: what a query costs before its first
byte is sent and after its last byte arrived.

    python benchmarks/overhead.py                                   # PostgreSQL
    python benchmarks/overhead.py --url sqlite:////tmp/bench.db
    python benchmarks/overhead.py --url mysql://root@127.0.0.1:3306/deesse_bench

Same data and shapes as benchmarks/nested.py (it seeds them if needed). Measured:
  plan a new shape   parse the options, choose the strategy, build and compile the plan
                     (the plan cache emptied before each call)
  plan-cache hit     parse the options (a ``Query``), ``choose``, the cache lookup; and
                     ``.prepare()`` on a hit (adds the parameter binder)
  bind               a prepared query's parameters for one execution
  decode             ``plan.run`` on rows fetched ONCE from the database and replayed
                     (parameters, the generated row builders, JSON decoding for lateral,
                     stitching for batched), per 1,000 rows of all levels, next to
                     ``dict(record)`` / ``dict(zip(names, row))`` on the same rows
Medians of 7 timing loops, the garbage collector off while timing (as timeit);
microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from nested import (
    COLLECTIONS,
    COMMENT_COLUMNS,
    LATEST_2,
    LATEST_3,
    POST_COLUMNS,
    SCHEMA,
    USER_COLUMNS,
    seed,
)

from deesse_async import Database, define_config, placeholder


def shapes(db: Database) -> dict[str, tuple[Callable[[str], Any], dict[str, Any]]]:
    q = db.query.users
    users = {"columns": USER_COLUMNS}
    return {
        "point": (
            lambda s: q.find_first(
                **users,
                where={"id": placeholder("id")},
                strategy=s,  # type: ignore[arg-type]
                with_={"posts": {"columns": POST_COLUMNS}},
            ),
            {"id": 500},
        ),
        "flat 1000": (lambda s: q.find_many(**users, limit=1000, strategy=s), {}),  # type: ignore[arg-type]
        "fanout": (
            lambda s: q.find_many(
                **users,
                limit=100,
                strategy=s,  # type: ignore[arg-type]
                with_={
                    "posts": {
                        "columns": POST_COLUMNS,
                        "with": {"comments": {"columns": COMMENT_COLUMNS}},
                    }
                },
            ),
            {},
        ),
        "posts3c": (
            lambda s: q.find_many(
                **users,
                limit=20,
                strategy=s,  # type: ignore[arg-type]
                with_={"posts": {**LATEST_3, "with": {"comments": LATEST_2}}},
            ),
            {},
        ),
    }


def timed(fn: Callable[[], Any], loops: int, repeats: int = 7) -> float:
    """Median seconds per call over ``repeats`` loops of ``loops`` calls; the garbage
    collector off while timing, as ``timeit`` does (the garbage of earlier shapes would
    otherwise land on whichever loop happens to trigger a collection)."""
    out = []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            for _ in range(loops):
                fn()
            out.append((time.perf_counter() - start) / loops)
        finally:
            gc.enable()
    return statistics.median(out)


def run_sync(coro: Any) -> Any:
    """Run a coroutine that never suspends (a plan over replayed rows)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("suspended")


class Recorder:
    def __init__(self, conn: Any) -> None:
        self.conn, self.results = conn, []  # type: ignore[var-annotated]

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self.conn.fetch(sql, params)
        self.results.append(rows)
        return rows


class Replay:
    __slots__ = ("i", "results")

    def __init__(self, results: list[Any]) -> None:
        self.results, self.i = results, 0

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.results[self.i]
        self.i += 1
        return rows


def count_rows(rows: list[dict[str, Any]]) -> int:
    n = 0
    for row in rows:
        n += 1
        for value in row.values():
            if isinstance(value, list):
                n += count_rows(value)
    return n


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--schema", default=SCHEMA, help="PostgreSQL schema for the data")
    parser.add_argument("--loops", type=int, default=200)
    args = parser.parse_args()
    pg = args.url.startswith(("postgresql", "postgres"))
    url = f"{args.url}?schema={args.schema}" if pg else args.url
    db = define_config(provider=url, collections=COLLECTIONS, pool_size=2)
    loops = args.loops
    async with db:
        await db.push()
        await seed(db)
        planner = db._planner
        print(f"{db.dialect.display_name}: deesse_async's own cost, no I/O (µs, medians)\n")
        print(
            f"{'shape':<12}{'strategy':<10}{'new shape':>11}{'cache hit':>11}"
            f"{'prepare':>10}{'bind':>8}{'rows':>7}{'run/1k rows':>13}{'dict()/1k':>11}"
        )
        for name, (make, given) in shapes(db).items():
            for strategy in ("lateral", "batched"):

                def new_shape(make: Any = make, strategy: str = strategy) -> None:
                    planner._cache.clear()
                    make(strategy)._plan()

                new = timed(new_shape, max(5, loops // 20))
                hit = timed(lambda make=make, s=strategy: make(s)._plan(), loops)
                prep = timed(lambda make=make, s=strategy: make(s).prepare(), loops)
                prepared = make(strategy).prepare()
                bind = timed(lambda p=prepared, g=given: p.bind(g), loops * 5)
                params = prepared.bind(given)
                async with db.acquire() as conn:
                    recorder = Recorder(conn)
                    rows = await prepared.plan.run(recorder, params)
                n = count_rows(rows if isinstance(rows, list) else [rows])
                results = recorder.results
                plan = prepared.plan

                def replayed(
                    plan: Any = plan, results: Any = results, params: Any = params
                ) -> None:
                    run_sync(plan.run(Replay(results), params))

                run = timed(replayed, max(5, loops // 10))
                names = [None] * 16  # column names for tuple rows

                def dicts(results: list[Any] = results, names: list[Any] = names) -> None:
                    for raw in results:
                        for r in raw:
                            dict(r) if hasattr(r, "keys") else dict(zip(names, r, strict=False))

                # lateral rows carry nested JSON: no per-row floor to compare with
                floor = timed(dicts, max(5, loops // 10)) if strategy == "batched" else None
                print(
                    f"{name:<12}{strategy:<10}{new * 1e6:11.0f}{hit * 1e6:11.1f}"
                    f"{prep * 1e6:10.1f}{bind * 1e6:8.2f}{n:7d}"
                    f"{run / n * 1e9:13.0f}"
                    f"{f'{floor / n * 1e9:11.0f}' if floor else '-':>11}"
                )
        print(
            "\nnew shape: parse + choose + plan + compile; cache hit: parse + choose + lookup;"
            "\nprepare: a cache hit + the binder; bind: one execution's parameters;"
            "\nrun/1k rows: plan.run over replayed driver rows per 1,000 rows of all levels"
            "\n(lateral: JSON decoding included); dict()/1k: dict(record) or dict(zip(names,"
            " row)) on the same driver rows, the least a hand-written loader does."
        )


if __name__ == "__main__":
    asyncio.run(main())
