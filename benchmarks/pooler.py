"""What ``pooler="transaction"`` costs, direct to PostgreSQL (no PgBouncer in the way).

    python benchmarks/pooler.py
    python benchmarks/pooler.py --url postgresql://postgres@127.0.0.1:5432/test --n 2000

Sequential operations on one connection (latency, not throughput), microseconds per
operation, median of 5 rounds, for the default settings and for ``pooler="transaction"``:

  point lookup   ``find_first`` by id with the user's posts (one statement)
  read           ``db.users.read(id)`` (one statement)
  transaction    ``db.transaction()`` with two reads inside
  driver fetch   the same point SELECT through the pool's connection, schema-qualified,
                 so ``?schema=`` plays no part: the statement protocol alone

With ``?schema=`` (as here: the data is in its own schema) a statement outside a
transaction gets a transaction of its own under ``pooler="transaction"`` (BEGIN + SET
LOCAL search_path, then COMMIT): "point lookup" and "read" show that; "driver fetch"
shows the cost without ``?schema=``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from nested import COLLECTIONS, POST_COLUMNS, USER_COLUMNS, seed

from deesse_async import Database, define_config

SCHEMA = "deesse_bench"


async def timed(n: int, op: Callable[[int], Awaitable[Any]]) -> float:
    """Median microseconds per call of ``op(i)`` over 5 rounds of ``n`` calls."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for i in range(n):
            await op(i)
        rounds.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(rounds)


async def measure(db: Database, n: int) -> dict[str, float]:
    q = db.query.users
    users = db.users

    async def point(i: int) -> Any:
        return await q.find_first(
            columns=USER_COLUMNS,
            where={"id": i % 1000 + 1},
            with_={"posts": {"columns": POST_COLUMNS}},
        )

    async def read(i: int) -> Any:
        return await users.read(i % 1000 + 1)

    async def transaction(i: int) -> Any:
        async with db.transaction() as tx:
            await tx.users.read(i % 1000 + 1)
            await tx.users.read((i + 1) % 1000 + 1)

    sql = f'SELECT id, name FROM "{SCHEMA}".users WHERE id = $1'

    async def fetch(i: int) -> Any:
        async with db._pool.acquire() as conn:  # type: ignore[union-attr]
            return await conn.fetch(sql, (i % 1000 + 1,))

    ops = {"point lookup": point, "read": read, "transaction": transaction, "driver fetch": fetch}
    for op in ops.values():  # warm up: plans compiled, statements cached
        await timed(50, op)
    return {name: await timed(n, op) for name, op in ops.items()}


async def main(args: argparse.Namespace) -> None:
    url = f"{args.url}?schema={SCHEMA}"
    results = {}
    for label, options in (("default", {}), ("pooler", {"pooler": "transaction"})):
        db = define_config(url, COLLECTIONS, pool_size=1, **options)
        async with db:
            if label == "default":
                await db.push()
                await seed(db)
            results[label] = await measure(db, args.n)
    print(f"{'us/op':<14}{'default':>10}{'pooler':>10}{'ratio':>8}")
    for name in results["default"]:
        a, b = results["default"][name], results["pooler"][name]
        print(f"{name:<14}{a:>10.0f}{b:>10.0f}{b / a:>8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--n", type=int, default=1000)
    asyncio.run(main(parser.parse_args()))
