"""Memory of ``stream()`` vs ``find_many()``: peak RSS while reading many rows with a
nested relation from PostgreSQL.

    python benchmarks/stream.py                        # 1,000,000 users, 1 post each
    python benchmarks/stream.py --modes keyset         # one way of reading only
    python benchmarks/stream.py --rows 200000 --compare-rows 50000
    python benchmarks/stream.py --url postgresql://postgres@127.0.0.1:5432/test

Data: ``--rows`` users each with one post, seeded with ``generate_series`` in the schema
``--schema`` (kept and reused while it holds that many rows). Each measurement runs in a
process of its own:

- ``stream``: ``db.query.users.stream(with_={"posts": ...}, chunk_size=...)`` over every
  row; prints the RSS (``VmRSS``), the peak since the start of the loop (``VmHWM``,
  reset after connecting) and the time at every tenth of the rows. Flat means the last
  tenths stay within 10 % of the first (and each tenth takes about as long as the first:
  every chunk is an index range scan, not a scan from the top).
  Run once per ``--modes`` entry: ``cursor`` (one statement through a server-side
  cursor) and ``keyset`` (one short query per chunk); their times are compared.
- ``find_many``: the same query on the first ``--compare-rows`` rows at once (a list),
  then ``stream`` over the same rows, for contrast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from typing import Any

from deesse_async import collection, define_config, field, integer, relation, required, text

Users = collection(
    slug="users",
    timestamps=False,
    fields={"name": required(field(type=text(max=100))), "score": field(type=integer())},
)
Posts = collection(
    slug="posts",
    timestamps=False,
    fields={
        "title": required(field(type=text(max=200))),
        "author": required(field(type=relation("users", related_name="posts"))),
    },
)
NESTED = {"posts": {"columns": {"title": True}}}


def rss_kib(name: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) of this process, KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {name} in /proc/self/status")


def reset_peak_rss() -> None:
    """Linux resets VmHWM to the current RSS on "5" (proc(5))."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def database(args: argparse.Namespace) -> Any:
    return define_config(provider=f"{args.url}?schema={args.schema}", collections=[Users, Posts])


async def seed(args: argparse.Namespace) -> None:
    import asyncpg

    conn = await asyncpg.connect(args.url)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{args.schema}"')
    finally:
        await conn.close()
    db = database(args)
    async with db:
        await db.push()
        if await db.users.count() == args.rows and await db.posts.count() == args.rows:
            return
        print(f"seeding {args.rows:,} users and posts ...", file=sys.stderr)
        async with db.acquire() as conn:
            s = f'"{args.schema}"'
            await conn.execute(f"TRUNCATE {s}.posts, {s}.users RESTART IDENTITY")
            await conn.execute(
                f"INSERT INTO {s}.users (name, score) SELECT 'user ' || g, g % 1000 "
                f"FROM generate_series(1, {int(args.rows)}) g"
            )
            await conn.execute(
                f"INSERT INTO {s}.posts (title, author_id) SELECT 'post ' || g, g "
                f"FROM generate_series(1, {int(args.rows)}) g"
            )
            await conn.execute(f"ANALYZE {s}.users")
            await conn.execute(f"ANALYZE {s}.posts")


async def child(args: argparse.Namespace) -> None:
    """One measurement in this process; prints a JSON line."""
    db = database(args)
    async with db:
        await db.query.users.find_many(limit=1, with_=NESTED)  # connect, warm the plan cache
        base = rss_kib("VmRSS")
        reset_peak_rss()
        start = time.perf_counter()
        out: dict[str, Any] = {"mode": args.mode, "base_kib": base}
        if args.child == "find_many":
            rows = await db.query.users.find_many(with_=NESTED, limit=args.compare_rows)
            out.update(rows=len(rows), peak_kib=rss_kib("VmHWM"))
        else:
            n = args.rows if args.child == "stream" else args.compare_rows
            step, points, count = max(n // 10, 1), [], 0
            stream = db.query.users.stream(
                with_=NESTED, limit=n, chunk_size=args.chunk_size, mode=args.mode
            )
            async for _row in stream:
                count += 1
                if count % step == 0:
                    now = round(time.perf_counter() - start, 2)
                    points.append((count, rss_kib("VmRSS"), rss_kib("VmHWM"), now))
            out.update(rows=count, points=points, peak_kib=rss_kib("VmHWM"))
        out["seconds"] = round(time.perf_counter() - start, 2)
        print(json.dumps(out))


def run(args: argparse.Namespace, what: str, mode: str = "auto") -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", what, "--url", args.url, "--schema",
           args.schema, "--rows", str(args.rows), "--compare-rows", str(args.compare_rows),
           "--chunk-size", str(args.chunk_size), "--mode", mode]  # fmt: skip
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def mib(kib: int) -> str:
    return f"{kib / 1024:7.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--schema", default="bench_stream")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--compare-rows", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--child", choices=["stream", "find_many", "stream_small"])
    parser.add_argument("--mode", default="auto", choices=["auto", "cursor", "keyset"])
    parser.add_argument("--modes", default="cursor,keyset", help="stream modes to measure")
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args))
        return
    args.compare_rows = min(args.compare_rows, args.rows)
    asyncio.run(seed(args))
    seconds = {}
    for mode in args.modes.split(","):
        s = run(args, "stream", mode)
        seconds[mode] = s["seconds"]
        print(f"stream(mode={mode!r}): {s['rows']:,} users with their posts, "
              f"chunk_size={args.chunk_size}, {s['seconds']} s; "
              f"RSS after connecting {mib(s['base_kib'])}")  # fmt: skip
        print("      rows read      RSS now   peak so far   seconds")
        for count, now, peak, secs in s["points"]:
            print(f"  {count:>13,}  {mib(now)}  {mib(peak)}  {secs:8.2f}")
        nows = [now for _, now, _, _ in s["points"]]
        spread = (max(nows) - min(nows)) / min(nows) * 100
        print(f"  RSS over the run: min {mib(min(nows))}, max {mib(max(nows))} "
              f"({spread:.1f} % spread)\n")  # fmt: skip
    if "cursor" in seconds and "keyset" in seconds:
        print(f"time, keyset / cursor: {seconds['keyset'] / seconds['cursor']:.2f}x\n")
    f = run(args, "find_many")
    small = run(args, "stream_small")
    print(
        f"\n{args.compare_rows:,} users with their posts, peak RSS over the RSS after connecting:"
    )
    print(f"  find_many()  {mib(f['peak_kib'] - f['base_kib'])}   ({f['seconds']} s)")
    print(f"  stream()     {mib(small['peak_kib'] - small['base_kib'])}   ({small['seconds']} s)")


if __name__ == "__main__":
    main()
