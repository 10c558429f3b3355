"""Does running two sibling relation loads on two pooled connections pay off?

The batched strategy loads sibling relations (e.g. a post's comments and its author)
one after the other on one connection (asyncpg runs one query per connection at a
time). This measures the alternative: the second sibling on a second pooled connection,
concurrently. Uses the data of benchmarks/nested.py (run that once first).

    python benchmarks/siblings.py
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import asyncpg

URL = "postgresql://postgres@127.0.0.1:5432/test"
SCHEMA = "deesse_bench"
COMMENTS = "SELECT id, body, post_id FROM comments WHERE post_id = ANY($1) ORDER BY id"
USERS = "SELECT id, name FROM users WHERE id = ANY($1) ORDER BY id"


async def main() -> None:
    pool = await asyncpg.create_pool(
        URL, min_size=4, max_size=4, server_settings={"search_path": SCHEMA}
    )
    async with pool.acquire() as conn:
        posts = await conn.fetch("SELECT id, author_id FROM posts ORDER BY id LIMIT $1", 1000)
    results: dict[str, dict[int, float]] = {"sequential": {}, "two connections": {}}
    for n in (10, 100, 1000):
        post_ids = [p["id"] for p in posts[:n]]
        author_ids = sorted({p["author_id"] for p in posts[:n]})

        async def sequential(
            post_ids: list[int] = post_ids, author_ids: list[int] = author_ids
        ) -> Any:
            async with pool.acquire() as conn:
                return await conn.fetch(COMMENTS, post_ids), await conn.fetch(USERS, author_ids)

        async def concurrent(
            post_ids: list[int] = post_ids, author_ids: list[int] = author_ids
        ) -> Any:
            async def one(sql: str, ids: list[int]) -> Any:
                async with pool.acquire() as conn:
                    return await conn.fetch(sql, ids)

            return await asyncio.gather(one(COMMENTS, post_ids), one(USERS, author_ids))

        samples: dict[str, list[float]] = {"sequential": [], "two connections": []}
        for _ in range(300):
            for name, fn in (("sequential", sequential), ("two connections", concurrent)):
                start = time.perf_counter()
                await fn()
                samples[name].append(time.perf_counter() - start)
        for name, values in samples.items():
            results[name][n] = statistics.median(values[30:])
    await pool.close()
    print(f"{'parents':>8} {'sequential':>14} {'two connections':>18} {'ratio':>7}")
    for n in (10, 100, 1000):
        seq, two = results["sequential"][n], results["two connections"][n]
        print(f"{n:>8} {seq * 1e3:11.3f} ms {two * 1e3:15.3f} ms {two / seq:7.2f}")


if __name__ == "__main__":
    asyncio.run(main())
