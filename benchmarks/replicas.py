"""Where reads go under a mixed load with a hot standby (docs/production.md).

    python benchmarks/replicas.py              # starts its own primary + hot standby (root)
    python benchmarks/replicas.py --primary postgresql://...:5432/app \\
        --replica postgresql://...:5433/app    # an existing pair (creates table bench_notes)

``--requests`` requests (default 4000), ``--concurrency`` at a time (default 50), each
in its own task, hence its own context, as a server runs them:

  80 %  a read-only request: one page of 20 notes (``find_many``)
  20 %  a write request: create a note, then read it back (``find_first`` by id)

Every read selects ``pg_is_in_recovery()``, so each row says which server served it.
Prints the share of reads the standby served, for the read-only requests and for the
read-backs (those must be served by a server that has the write: the primary, or the
standby once it has replayed it; every read-back must find its note), and the
router's own counters (``db.read_routing()``).

Then the cost of routing on the read path: sequential ``find_first`` by id in one
context, in interleaved rounds, for a database without ``replicas=`` (the primary), the
routed database reading the standby, and its ``db.primary()`` view; the median time
per read of each. Routing adds no round trip: only Python work (choosing a replica is a
comparison of two numbers, plus a wrapper that re-runs a read on the primary if the
replica's connection is lost).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import random
import shutil
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from deesse_async import collection, define_config, field, text

Notes = collection(slug="bench_notes", fields={"body": field(type=text())})
STANDBY = {"standby": lambda t: sa.func.pg_is_in_recovery()}


async def request(db: Any, writes: bool, seen: Counter[str]) -> None:
    if not writes:
        rows = await db.query.bench_notes.find_many(
            order_by={"id": "desc"}, limit=20, extras=STANDBY
        )
        seen["read: standby" if rows and rows[0]["standby"] else "read: primary"] += 1
        return
    note = await db.bench_notes.create({"body": "x" * 40})
    row = await db.query.bench_notes.find_first(where={"id": note["id"]}, extras=STANDBY)
    if row is None:
        raise AssertionError(f"a request did not read its own write {note['id']}")
    seen["read-back: standby" if row["standby"] else "read-back: primary"] += 1


async def run(primary: str, replica: str, requests: int, concurrency: int, lag: float) -> None:
    db = define_config(primary, [Notes], replicas=[replica], max_replica_lag=lag)
    async with db:
        await db.push()
        await db.bench_notes.create_many([{"body": "seed"} for _ in range(200)])
        await asyncio.sleep(1)  # the standby replays the table and the seed rows
        seen: Counter[str] = Counter()
        slots = asyncio.Semaphore(concurrency)
        rng = random.Random(1)

        async def one(writes: bool) -> None:
            async with slots:
                await request(db, writes, seen)

        kinds = [rng.random() < 0.2 for _ in range(requests)]
        started = time.perf_counter()
        # create_task copies the current context: start each from an empty one.
        await asyncio.gather(
            *(asyncio.create_task(one(w), context=contextvars.Context()) for w in kinds)
        )
        elapsed = time.perf_counter() - started
        routing = db.read_routing()
        async with define_config(primary, [Notes]) as plain:
            per_read = await overhead(plain, db)
    reads = seen["read: standby"] + seen["read: primary"]
    backs = seen["read-back: standby"] + seen["read-back: primary"]
    rate = requests / elapsed
    print(f"{requests} requests ({reads} read-only, {backs} write + read-back), "
          f"concurrency {concurrency}, {elapsed:.2f} s ({rate:.0f} req/s)")  # fmt: skip
    print(f"read-only requests: {seen['read: standby'] / reads:6.1%} served by the standby, "
          f"{seen['read: primary'] / reads:6.1%} by the primary")  # fmt: skip
    print(f"read-backs:         {seen['read-back: standby'] / backs:6.1%} served by the standby "
          f"(after replaying the write), {seen['read-back: primary'] / backs:6.1%} by the "
          "primary; every one found its row")  # fmt: skip
    for name, seconds in per_read.items():
        print(f"sequential find_first by id, {name}: {seconds * 1e6:.0f} µs per read")
    if routing is not None:
        r = routing.replicas[0]
        total = routing.primary_reads + r.reads
        print(f"router counters: {r.reads}/{total} reads on the standby "
              f"({r.reads / total:.1%}), state {r.state}, lag {r.lag:.3f} s")  # fmt: skip


async def overhead(plain: Any, routed: Any, rounds: int = 15, batch: int = 200) -> dict[str, float]:
    """Median seconds per read of each way of reading, over interleaved rounds."""
    ways = {
        "no replicas= (primary)": plain,
        "replicas=, routed to the standby": routed,
        "replicas=, db.primary()": routed.primary(),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}

    async def reads() -> None:  # a context of its own that wrote nothing
        for _ in range(rounds):
            for name, view in ways.items():
                started = time.perf_counter()
                for i in range(batch):
                    await view.query.bench_notes.find_first(where={"id": 1 + i % 100})
                times[name].append((time.perf_counter() - started) / batch)

    await asyncio.create_task(reads(), context=contextvars.Context())
    return {name: statistics.median(t) for name, t in times.items()}


def private_pair() -> tuple[Any, Any, Path]:
    """A primary and a hot standby of our own (tests/pgcluster.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.pgcluster import FAST, PostgresServer, make_temp_dir, unavailable

    reason = unavailable("pg_basebackup")
    if reason is not None:
        raise SystemExit(f"cannot start a primary + standby: {reason}; pass --primary/--replica")
    root = make_temp_dir()
    primary = PostgresServer.initdb(root, "primary", settings={**FAST, "max_connections": "120"})
    primary.start()
    standby = primary.standby(root)
    standby.start()
    return primary, standby, root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--primary")
    parser.add_argument("--replica")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--max-replica-lag", type=float, default=5.0)
    args = parser.parse_args()
    if (args.primary is None) != (args.replica is None):
        parser.error("give both --primary and --replica, or neither")
    servers = None
    if args.primary is None:
        servers = private_pair()
        args.primary, args.replica = servers[0].url, servers[1].url
    try:
        asyncio.run(
            run(args.primary, args.replica, args.requests, args.concurrency, args.max_replica_lag)
        )
    finally:
        if servers is not None:
            primary, standby, root = servers
            standby.stop()
            primary.stop()
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
