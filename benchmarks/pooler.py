"""What ``pooler="transaction"`` costs, direct to PostgreSQL (no PgBouncer in the way).

    python benchmarks/pooler.py
    python benchmarks/pooler.py --url postgresql://postgres@127.0.0.1:5432/test --n 2000

Sequential operations on one connection (latency, not throughput), microseconds per
operation, for the default settings and for ``pooler="transaction"``; the two are timed
in alternating rounds (the same machine load for both) and the best of 7 rounds is kept
(on a shared machine the fastest round is the one least disturbed):

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
import time
from collections.abc import Awaitable, Callable
from typing import Any

from nested import COLLECTIONS, POST_COLUMNS, USER_COLUMNS, seed

from deesse_async import Database, define_config

SCHEMA = "deesse_bench"


ROUNDS = 7


async def timed(n: int, op: Callable[[int], Awaitable[Any]]) -> float:
    """Microseconds per call of ``op(i)`` over one round of ``n`` calls."""
    start = time.perf_counter()
    for i in range(n):
        await op(i)
    return (time.perf_counter() - start) / n * 1e6


def operations(db: Database) -> dict[str, Callable[[int], Awaitable[Any]]]:
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

    return {"point lookup": point, "read": read, "transaction": transaction, "driver fetch": fetch}


async def main(args: argparse.Namespace) -> None:
    url = f"{args.url}?schema={SCHEMA}"
    default = define_config(url, COLLECTIONS, pool_size=1)
    pooler = define_config(url, COLLECTIONS, pool_size=1, pooler="transaction")
    async with default, pooler:
        await default.push()
        await seed(default)
        ops = {"default": operations(default), "pooler": operations(pooler)}
        for by_name in ops.values():  # warm up: plans compiled, statements cached
            for op in by_name.values():
                await timed(50, op)
        best: dict[tuple[str, str], float] = {}
        for _ in range(ROUNDS):
            for name in ops["default"]:
                for label in ("default", "pooler"):
                    t = await timed(args.n, ops[label][name])
                    best[label, name] = min(t, best.get((label, name), t))
    print(f"{'us/op':<14}{'default':>10}{'pooler':>10}{'ratio':>8}")
    for name in ops["default"]:
        a, b = best["default", name], best["pooler", name]
        print(f"{name:<14}{a:>10.0f}{b:>10.0f}{b / a:>8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--n", type=int, default=1000)
    asyncio.run(main(parser.parse_args()))
