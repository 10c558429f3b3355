"""Writes: 1,000 validated rows, deesse_async vs the driver's executemany vs SQLAlchemy
ORM, in one run, on the same database. Prints medians and ratios.

    python benchmarks/writes.py                              # PostgreSQL on 127.0.0.1
    python benchmarks/writes.py --url sqlite:///bench-writes.db
    python benchmarks/writes.py --url mysql://root@127.0.0.1:3306/test   # in its own database
    python benchmarks/writes.py --profile create_many        # cProfile of one contender

Each sample writes ROWS posts (title, body, views, published, author_id, and the two
timestamps) into an emptied table (emptied outside the timing). Contenders:
  executemany          the driver's executemany of the same INSERT, values as given
                       (no validation, no rows back): the floor, ratio 1.00
  INSERT ... RETURNING one statement per row through the driver's pool, by hand
  deesse create_many   validated, all or nothing, every stored row returned
  deesse create x N    one validated create per row (each its own statement)
  SQLAlchemy ORM       session.add_all(objects) + commit (insertmanyvalues batches)
Rounds are interleaved (every contender once per round, in turn) so a noisy neighbour
slows all of them alike; times are medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import pstats
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from deesse_async import (
    Database,
    boolean,
    collection,
    define_config,
    field,
    integer,
    relation,
    required,
    text,
)

ROWS = 1000
AUTHORS = 10
SCHEMA = "deesse_bench_writes"
COLUMNS = ("title", "body", "views", "published", "author_id", "created_at", "updated_at")

Users = collection(slug="users", fields={"name": required(field(type=text(max=100)))})
Posts = collection(
    slug="posts",
    fields={
        "title": required(field(type=text(min=1, max=200))),
        "body": field(type=text(max=2000)),
        "views": field(type=integer(min=0), default=0),
        "published": field(type=boolean(), default=False),
        "author": required(field(type=relation("users", related_name="posts"))),
    },
)


def make_items(author_ids: list[int]) -> list[dict[str, Any]]:
    """What a caller hands in: dicts as decoded from a JSON request body."""
    return [
        {
            "title": f"post number {i}",
            "body": f"the body of post {i}, " * 4,
            "views": i * 7,
            "published": i % 3 == 0,
            "author_id": author_ids[i % len(author_ids)],
        }
        for i in range(ROWS)
    ]


Contender = Callable[[], Awaitable[Any]]


# -- the driver, by hand ------------------------------------------------------------------


def _raw_values(items: list[dict[str, Any]], encode_dt: Callable[[Any], Any]) -> list[tuple]:
    now = encode_dt(dt.datetime.now(dt.UTC))
    return [
        (
            it["title"],
            it["body"],
            it["views"],
            it["published"],
            it["author_id"],
            now,
            now,
        )
        for it in items
    ]


async def asyncpg_contenders(
    url: str, items: list[dict[str, Any]]
) -> tuple[dict[str, Contender], Callable[[], Awaitable[None]]]:
    import asyncpg

    pool = await asyncpg.create_pool(
        url, min_size=1, max_size=2, server_settings={"search_path": SCHEMA}
    )
    cols = ", ".join(COLUMNS)
    marks = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
    insert = f"INSERT INTO posts ({cols}) VALUES ({marks})"

    async def executemany() -> None:
        async with pool.acquire() as conn:
            await conn.executemany(insert, _raw_values(items, lambda v: v))

    async def returning_each() -> list[Any]:
        out = []
        for values in _raw_values(items, lambda v: v):
            async with pool.acquire() as conn:
                out.append(dict(await conn.fetchrow(insert + " RETURNING *", *values)))
        return out

    return {
        "asyncpg executemany": executemany,
        "asyncpg INSERT..RETURNING x1000": returning_each,
    }, pool.close


async def sqlite_contenders(
    path: str, items: list[dict[str, Any]]
) -> tuple[dict[str, Contender], Callable[[], Awaitable[None]]]:
    import aiosqlite

    from deesse_async.drivers.aiosqlite import CODECS

    conn = await aiosqlite.connect(path)
    await conn.execute("PRAGMA foreign_keys=ON")
    insert = f"INSERT INTO posts ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    encode = CODECS.encoders["datetime"]

    async def executemany() -> None:
        await conn.executemany(insert, _raw_values(items, encode))
        await conn.commit()

    return {"aiosqlite executemany": executemany}, conn.close


async def mysql_contenders(
    url: str, items: list[dict[str, Any]]
) -> tuple[dict[str, Contender], Callable[[], Awaitable[None]]]:
    import asyncmy

    from deesse_async.drivers.asyncmy import CODECS

    u = make_url(url)
    pool = await asyncmy.create_pool(
        host=u.host or "127.0.0.1", port=u.port or 3306, user=u.username or "root",
        password=u.password or "", db=u.database, minsize=1, maxsize=2,
    )  # fmt: skip
    insert = f"INSERT INTO posts ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * 7)})"
    encode = CODECS.encoders["datetime"]

    async def executemany() -> None:
        async with pool.acquire() as conn:
            async with conn.cursor() as cur:
                await cur.executemany(insert, _raw_values(items, encode))
            await conn.commit()

    async def close() -> None:
        pool.close()
        await pool.wait_closed()

    return {"asyncmy executemany": executemany}, close


# -- deesse ---------------------------------------------------------------------------------


def deesse_contenders(db: Database, items: list[dict[str, Any]]) -> dict[str, Contender]:
    async def create_many() -> list[Any]:
        return await db.posts.create_many(items)

    async def create_each() -> list[Any]:
        return [await db.posts.create(item) for item in items]

    return {"deesse create_many": create_many, "deesse create x1000": create_each}


# -- SQLAlchemy ORM ---------------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class OrmPost(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    body: Mapped[str | None]
    views: Mapped[int | None]
    published: Mapped[bool | None]
    author_id: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))


def sqlalchemy_contender(url: str, pg: bool, items: list[dict[str, Any]]) -> tuple[Contender, Any]:
    connect_args = {"server_settings": {"search_path": SCHEMA}} if pg else {}
    engine = create_async_engine(url, connect_args=connect_args, pool_size=2)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def add_all() -> list[OrmPost]:
        now = dt.datetime.now(dt.UTC)
        objects = [OrmPost(**it, created_at=now, updated_at=now) for it in items]
        async with sessions() as s:
            s.add_all(objects)
            await s.commit()
        return objects

    return add_all, engine


# -- measuring ------------------------------------------------------------------------------


async def measure(
    contenders: dict[str, Contender], empty: Callable[[], Awaitable[None]], rounds: int
) -> dict[str, float]:
    """Median seconds per contender; every round runs each contender once, in turn, on
    an emptied table (emptied outside the timing)."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(rounds + 2):  # the first two rounds warm caches up: not counted
        for name, fn in contenders.items():
            await empty()
            start = time.perf_counter()
            await fn()
            elapsed = time.perf_counter() - start
            if r >= 2:
                samples[name].append(elapsed)
        print(f"  round {r + 1}/{rounds + 2}", flush=True)
    return {name: statistics.median(v) for name, v in samples.items()}


def table(results: dict[str, float], base: str) -> None:
    print(f"\n| contender | median (ms) | ratio to {base} |\n|---|---:|---:|")
    for name, t in results.items():
        print(f"| {name} | {t * 1e3:.1f} | {t / results[base]:.2f} |")
    print(f"\n{ROWS:,} rows per sample; ratio = median time / median time of {base}")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--no-orm", action="store_true", help="skip SQLAlchemy ORM")
    parser.add_argument("--no-each", action="store_true", help="skip the one-by-one writes")
    parser.add_argument(
        "--profile", metavar="CONTENDER", help="cProfile one contender (a name's substring)"
    )
    args = parser.parse_args()
    pg = args.url.startswith(("postgresql", "postgres"))
    sqlite = args.url.startswith("sqlite")
    if pg:
        import asyncpg

        admin = await asyncpg.connect(args.url)
        await admin.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
        await admin.execute(f'CREATE SCHEMA "{SCHEMA}"')
        await admin.close()
    mysql = not pg and not sqlite
    if mysql:  # a database of our own, dropped at the end
        await mysql_admin(args.url, f"CREATE DATABASE IF NOT EXISTS `{SCHEMA}`")
    url = (
        f"{args.url}?schema={SCHEMA}"
        if pg
        else f"{args.url.rsplit('/', 1)[0]}/{SCHEMA}"
        if mysql
        else args.url
    )
    db = define_config(provider=url, collections=[Users, Posts], pool_size=2)
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        async with db:
            await db.push()
            for model in (Posts, Users):
                async with db.acquire() as conn:
                    await conn.execute(f"DELETE FROM {model.slug}")
            authors = await db.users.create_many([{"name": f"a{i}"} for i in range(AUTHORS)])
            items = make_items([a["id"] for a in authors])
            contenders: dict[str, Contender] = {}
            if pg:
                raw, close = await asyncpg_contenders(args.url, items)
            elif sqlite:
                raw, close = await sqlite_contenders(args.url.split("///", 1)[1], items)
            else:
                raw, close = await mysql_contenders(url, items)
            closers.append(close)
            base = next(iter(raw))
            contenders.update(raw)
            contenders.update(deesse_contenders(db, items))
            engine = None
            if not args.no_orm:
                sa_url = db.url.url.render_as_string(hide_password=False)
                contenders["SQLAlchemy ORM add_all"], engine = sqlalchemy_contender(
                    sa_url, pg, items
                )
            if args.no_each:
                contenders = {k: v for k, v in contenders.items() if "x1000" not in k}

            async def empty() -> None:
                async with db.acquire() as conn:
                    await conn.execute("DELETE FROM posts")

            if args.profile:
                name = next(n for n in contenders if args.profile in n)
                await profile(name, contenders[name], empty)
            else:
                results = await measure(contenders, empty, args.rounds)
                table(results, base)
            if engine is not None:
                await engine.dispose()
    finally:
        for close in closers:
            await close()
        if pg:
            admin = await asyncpg.connect(args.url)
            await admin.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
            await admin.close()
        if mysql:
            await mysql_admin(args.url, f"DROP DATABASE IF EXISTS `{SCHEMA}`")


async def mysql_admin(url: str, sql: str) -> None:
    import asyncmy

    u = make_url(url)
    conn = await asyncmy.connect(
        host=u.host or "127.0.0.1", port=u.port or 3306, user=u.username or "root",
        password=u.password or "", autocommit=True,
    )  # fmt: skip
    async with conn.cursor() as cur:
        await cur.execute(sql)
    conn.close()


async def profile(name: str, fn: Contender, empty: Callable[[], Awaitable[None]]) -> None:
    for _ in range(3):
        await empty()
        await fn()
    prof = cProfile.Profile()
    for _ in range(10):
        await empty()
        prof.enable()
        await fn()
        prof.disable()
    print(f"\ncProfile of {name!r}, 10 samples, by cumulative time:")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
    pstats.Stats(prof).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    asyncio.run(main())
