"""Nested loads: deesse_async (both strategies, prepared) vs hand-written asyncpg vs
SQLAlchemy ORM (selectinload) vs Tortoise, in one run, on the same database. Prints ratios.

    python benchmarks/nested.py                       # PostgreSQL on 127.0.0.1
    python benchmarks/nested.py --url sqlite:////tmp/bench.db --iterations 50
    python benchmarks/nested.py --rss                 # + peak RSS, each contender alone
    python benchmarks/nested.py --strategies          # lateral vs batched, shape families
    python benchmarks/overhead.py                     # the library's own cost, no I/O

Data: 1,000 users x 10 posts x 5 comments (created once, reused while the schema is
there). Shapes:
  flat     100 users, no relation                  (find_many, limit=100)
  fanout   100 users -> posts -> comments           (find_many, limit=100)
  point    one user by id -> posts                  (find_first, prepared placeholder)
  posts3   20 users -> latest 3 posts each          (per-parent limit)
  posts3c  20 users -> latest 3 posts -> latest 2 comments each (limit under limit)
  siblings 200 posts -> comments + author           (two sibling relations)
Times are medians over interleaved rounds. On PostgreSQL the ratios are against
hand-written asyncpg doing per-level ``= ANY($1)`` loads through a pool (the floor), and
a second table against ONE hand-written statement (LATERAL joins, rows stitched in
Python) on a connection held for the whole run (no pool); elsewhere against deesse's
batched strategy.

``--rss`` runs every contender in a process of its own (the same shapes, the same
iterations) and prints its peak RSS while it connects and runs (``VmHWM``, reset after the
imports, which peak higher than most workloads) and the growth over the RSS after imports.
``--strategies`` measures deesse's two strategies over the
shape families ``auto`` decides between and prints which one is faster, by how much, and
what ``auto`` picks (docs/benchmarks.md keeps the table).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import ForeignKey, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload

from deesse_async import (
    Database,
    collection,
    define_config,
    field,
    placeholder,
    relation,
    required,
    text,
)

USERS, POSTS_PER_USER, COMMENTS_PER_POST = 1000, 10, 5
SCHEMA = "deesse_bench"  # PostgreSQL schema (--schema)

Users = collection(slug="users", fields={"name": required(field(type=text(max=100)))})
Posts = collection(
    slug="posts",
    fields={
        "title": required(field(type=text(max=200))),
        "author": required(field(type=relation("users", related_name="posts"))),
    },
)
Comments = collection(
    slug="comments",
    fields={
        "body": required(field(type=text(max=500))),
        "post": required(field(type=relation("posts", related_name="comments"))),
    },
)
# A wide per-parent fan-out for --strategies: the first 20 users have 1,000 events each.
Events = collection(
    slug="events",
    fields={
        "kind": required(field(type=text(max=20))),
        "user": required(field(type=relation("users", related_name="events"))),
    },
)
EVENT_USERS, EVENTS_PER_USER = 20, 1000
COLLECTIONS = [Users, Posts, Comments, Events]

Cases = dict[str, Callable[[], Awaitable[Any]]]


async def seed(db: Database) -> bool:
    """Create the data unless it is there; whether anything was created."""
    created = False
    if await db.users.count() != USERS:
        print("seeding 1,000 users x 10 posts x 5 comments (once)...", flush=True)
        users = await db.users.create_many([{"name": f"user {i}"} for i in range(USERS)])
        for chunk in range(0, USERS, 100):
            posts = await db.posts.create_many(
                [{"title": f"post {u['id']}.{j}", "author_id": u["id"]}
                 for u in users[chunk : chunk + 100] for j in range(POSTS_PER_USER)]
            )  # fmt: skip
            await db.comments.create_many(
                [{"body": f"comment {p['id']}.{k}", "post_id": p["id"]}
                 for p in posts for k in range(COMMENTS_PER_POST)]
            )  # fmt: skip
            print(f"  {chunk + 100} users", flush=True)
        created = True
    if await db.events.count() == 0:
        print("seeding 20 users x 1,000 events (once)...", flush=True)
        first = await db.query.users.find_many(columns={"id": True}, limit=EVENT_USERS)
        for u in first:
            await db.events.create_many(
                [{"kind": f"kind {k % 7}", "user_id": u["id"]} for k in range(EVENTS_PER_USER)]
            )
        created = True
    return created


async def measure(contenders: dict[str, Cases], iterations: int) -> dict[str, dict[str, float]]:
    """Median time per (contender, shape), the contenders interleaved round-robin so that
    a noisy neighbour slows all of them alike instead of whichever ran at the time.

    The cyclic garbage collector is off while timing, as in ``timeit``, and runs
    (untimed) every 10 rounds: else a contender pays for the garbage another one left
    (measured: deesse lateral's fanout took 10 ms alone, 50 ms next to the ORMs, whose
    sessions leave reference cycles). No contender is billed for collections then,
    which flatters the ORMs a little. Collecting before every call instead adds ~0.5 ms
    to the call that follows, whoever it is (the database's process goes idle)."""
    shapes = list(dict.fromkeys(shape for cases in contenders.values() for shape in cases))
    rng = random.Random(12)
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in contenders}
    for shape in shapes:
        runners = [(name, cases[shape]) for name, cases in contenders.items() if shape in cases]
        for _ in range(max(3, iterations // 10)):  # warm up: caches, prepared statements
            for _, fn in runners:
                await fn()
        gc.collect()
        gc.disable()
        try:
            for i in range(iterations):
                if i % 10 == 9:
                    gc.collect()
                # a new order each round: no contender always runs right after the same
                # other one (after the ORMs, a call finds the CPU caches cold)
                rng.shuffle(runners)
                for name, fn in runners:
                    start = time.perf_counter()
                    await fn()
                    samples[name].setdefault(shape, []).append(time.perf_counter() - start)
        finally:
            gc.enable()
        print(f"  measured {shape}", flush=True)
    return {
        name: {shape: statistics.median(v) for shape, v in per_shape.items()}
        for name, per_shape in samples.items()
    }


# -- hand-written asyncpg: the floor ---------------------------------------------------


def _stitch(rows: Any, users: int, posts: int, comments: int | None) -> list[dict[str, Any]]:
    """Nest flat join rows ``(user..., post..., [comment...])`` (the column counts given),
    ordered by user, then post, then comment."""
    out: dict[Any, dict[str, Any]] = {}
    post_rows: dict[Any, dict[str, Any]] = {}
    p_end = users + posts
    for r in rows:
        uid = r[0]
        user = out.get(uid)
        if user is None:
            user = out[uid] = {"id": uid, "name": r[1], "posts": []}
        pid = r[users]
        if pid is None:
            continue
        post = post_rows.get(pid)
        if post is None:
            post = post_rows[pid] = {"id": pid, "title": r[users + 1], "author_id": r[users + 2]}
            if comments is not None:
                post["comments"] = []
            user["posts"].append(post)
        if comments is not None and r[p_end] is not None:
            post["comments"].append({"id": r[p_end], "body": r[p_end + 1], "post_id": r[p_end + 2]})
    return list(out.values())


async def _flat(pool: Any) -> Any:
    async with pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(FLAT_SQL)]


def asyncpg_cases(pool: Any) -> Cases:
    """Per level ``= ANY($1)``, through a pool: what a careful hand-written service does."""

    async def fanout() -> Any:
        async with pool.acquire() as conn:
            users = [
                dict(r)
                for r in await conn.fetch("SELECT id, name FROM users ORDER BY id LIMIT 100")
            ]
            ids = [u["id"] for u in users]
            posts = [
                dict(r)
                for r in await conn.fetch(
                    "SELECT id, title, author_id FROM posts WHERE author_id = ANY($1) ORDER BY id",
                    ids,
                )
            ]
            comments = await conn.fetch(
                "SELECT id, body, post_id FROM comments WHERE post_id = ANY($1) ORDER BY id",
                [p["id"] for p in posts])  # fmt: skip
        by_post: dict[int, list[Any]] = {}
        for c in comments:
            by_post.setdefault(c["post_id"], []).append(dict(c))
        by_user: dict[int, list[Any]] = {}
        for p in posts:
            p["comments"] = by_post.get(p["id"], [])
            by_user.setdefault(p["author_id"], []).append(p)
        for u in users:
            u["posts"] = by_user.get(u["id"], [])
        return users

    async def point() -> Any:
        async with pool.acquire() as conn:
            user = dict(await conn.fetchrow("SELECT id, name FROM users WHERE id = $1", 500))
            posts = await conn.fetch(
                "SELECT id, title, author_id FROM posts WHERE author_id = $1 ORDER BY id", 500
            )
            user["posts"] = [dict(r) for r in posts]
        return user

    async def posts3() -> Any:
        # The best hand-written form: LATERAL with a per-user LIMIT, rows stitched in Python.
        async with pool.acquire() as conn:
            rows = await conn.fetch(POSTS3_SQL)
        return _stitch(rows, 2, 3, None)

    async def posts3c() -> Any:
        # per level, = ANY($1) with row_number() per parent
        async with pool.acquire() as conn:
            users = [dict(r) for r in await conn.fetch(POSTS3C_USERS)]
            posts = [dict(r) for r in await conn.fetch(POSTS3C_POSTS, [u["id"] for u in users])]
            comments = await conn.fetch(POSTS3C_COMMENTS, [p["id"] for p in posts])
        by_post: dict[int, list[Any]] = {}
        for c in comments:
            by_post.setdefault(c["post_id"], []).append(dict(c))
        by_user: dict[int, list[Any]] = {}
        for p in posts:
            p["comments"] = by_post.get(p["id"], [])
            by_user.setdefault(p["author_id"], []).append(p)
        for u in users:
            u["posts"] = by_user.get(u["id"], [])
        return users

    async def siblings() -> Any:
        async with pool.acquire() as conn:
            posts = [
                dict(r)
                for r in await conn.fetch(
                    "SELECT id, title, author_id FROM posts ORDER BY id LIMIT 200"
                )
            ]
            comments = await conn.fetch(
                "SELECT id, body, post_id FROM comments WHERE post_id = ANY($1) ORDER BY id",
                [p["id"] for p in posts],
            )
            authors = await conn.fetch(
                "SELECT id, name FROM users WHERE id = ANY($1)",
                list({p["author_id"] for p in posts}),
            )
        by_post: dict[int, list[Any]] = {}
        for c in comments:
            by_post.setdefault(c["post_id"], []).append(dict(c))
        by_id = {a["id"]: dict(a) for a in authors}
        for p in posts:
            p["comments"] = by_post.get(p["id"], [])
            p["author"] = by_id.get(p["author_id"])
        return posts

    return {"flat": lambda: _flat(pool), "fanout": fanout, "point": point, "posts3": posts3,
            "posts3c": posts3c, "siblings": siblings}  # fmt: skip


FLAT_SQL = "SELECT id, name FROM users ORDER BY id LIMIT 100"
POSTS3C_USERS = "SELECT id, name FROM users ORDER BY id LIMIT 20"
POSTS3C_POSTS = (
    "SELECT id, title, author_id FROM (SELECT id, title, author_id, row_number() OVER "
    "(PARTITION BY author_id ORDER BY id DESC) rn FROM posts WHERE author_id = ANY($1)) s "
    "WHERE rn <= 3 ORDER BY author_id, id DESC"
)
POSTS3C_COMMENTS = (
    "SELECT id, body, post_id FROM (SELECT id, body, post_id, row_number() OVER "
    "(PARTITION BY post_id ORDER BY id DESC) rn FROM comments WHERE post_id = ANY($1)) s "
    "WHERE rn <= 2 ORDER BY post_id, id DESC"
)
POSTS3_SQL = (
    "SELECT u.id, u.name, p.id, p.title, p.author_id FROM "
    "(SELECT id, name FROM users ORDER BY id LIMIT 20) u LEFT JOIN LATERAL "
    "(SELECT id, title, author_id FROM posts WHERE author_id = u.id "
    "ORDER BY id DESC LIMIT 3) p ON true ORDER BY u.id, p.id DESC"
)


def held_cases(conn: Any) -> Cases:
    """ONE statement per load on a connection held for the whole run (no pool at all):
    LATERAL joins returning flat rows, nested in Python. The fastest a single round trip
    gets from Python; a service cannot hold one connection for every request."""
    fanout_sql = (
        "SELECT u.id, u.name, p.id, p.title, p.author_id, c.id, c.body, c.post_id FROM "
        "(SELECT id, name FROM users ORDER BY id LIMIT 100) u "
        "LEFT JOIN posts p ON p.author_id = u.id LEFT JOIN comments c ON c.post_id = p.id "
        "ORDER BY u.id, p.id, c.id"
    )
    point_sql = (
        "SELECT u.id, u.name, p.id, p.title, p.author_id FROM users u LEFT JOIN LATERAL "
        "(SELECT id, title, author_id FROM posts WHERE author_id = u.id ORDER BY id) p "
        "ON true WHERE u.id = $1 ORDER BY p.id"
    )
    posts3c_sql = (
        "SELECT u.id, u.name, p.id, p.title, p.author_id, c.id, c.body, c.post_id FROM "
        "(SELECT id, name FROM users ORDER BY id LIMIT 20) u LEFT JOIN LATERAL "
        "(SELECT id, title, author_id FROM posts WHERE author_id = u.id "
        "ORDER BY id DESC LIMIT 3) p ON true LEFT JOIN LATERAL "
        "(SELECT id, body, post_id FROM comments WHERE post_id = p.id "
        "ORDER BY id DESC LIMIT 2) c ON true ORDER BY u.id, p.id DESC, c.id DESC"
    )

    async def flat() -> Any:
        return [dict(r) for r in await conn.fetch(FLAT_SQL)]

    async def fanout() -> Any:
        return _stitch(await conn.fetch(fanout_sql), 2, 3, 3)

    async def point() -> Any:
        rows = await conn.fetch(point_sql, 500)
        return _stitch(rows, 2, 3, None)[0] if rows else None

    async def posts3() -> Any:
        return _stitch(await conn.fetch(POSTS3_SQL), 2, 3, None)

    async def posts3c() -> Any:
        return _stitch(await conn.fetch(posts3c_sql), 2, 3, 3)

    return {"flat": flat, "fanout": fanout, "point": point, "posts3": posts3, "posts3c": posts3c}


# -- deesse_async ------------------------------------------------------------------------

USER_COLUMNS = {"id": True, "name": True}
POST_COLUMNS = {"id": True, "title": True, "author_id": True}
COMMENT_COLUMNS = {"id": True, "body": True, "post_id": True}
LATEST_3 = {"columns": POST_COLUMNS, "order_by": {"id": "desc"}, "limit": 3}
LATEST_2 = {"columns": COMMENT_COLUMNS, "order_by": {"id": "desc"}, "limit": 2}


def deesse_cases(db: Database, strategy: str) -> Cases:
    cols = {"columns": USER_COLUMNS}
    flat = db.query.users.find_many(**cols, limit=100, strategy=strategy).prepare()  # type: ignore[arg-type]
    fanout = db.query.users.find_many(
        **cols, limit=100, strategy=strategy,  # type: ignore[arg-type]
        with_={"posts": {"columns": POST_COLUMNS,
                         "with": {"comments": {"columns": COMMENT_COLUMNS}}}},
    ).prepare()  # fmt: skip
    point = db.query.users.find_first(
        **cols, where={"id": placeholder("id")}, strategy=strategy,  # type: ignore[arg-type]
        with_={"posts": {"columns": POST_COLUMNS}},
    ).prepare()  # fmt: skip
    posts3 = db.query.users.find_many(
        **cols, limit=20, strategy=strategy,  # type: ignore[arg-type]
        with_={"posts": LATEST_3},
    ).prepare()  # fmt: skip
    posts3c = db.query.users.find_many(
        **cols, limit=20, strategy=strategy,  # type: ignore[arg-type]
        with_={"posts": {**LATEST_3, "with": {"comments": LATEST_2}}},
    ).prepare()  # fmt: skip
    siblings = db.query.posts.find_many(
        columns=POST_COLUMNS, limit=200,
        strategy=strategy,  # type: ignore[arg-type]
        with_={"comments": {"columns": COMMENT_COLUMNS},
               "author": {"columns": USER_COLUMNS}},
    ).prepare()  # fmt: skip

    async def unprepared_point() -> Any:
        return await db.query.users.find_first(
            **cols, where={"id": 500}, strategy=strategy,  # type: ignore[arg-type]
            with_={"posts": {"columns": POST_COLUMNS}},
        )  # fmt: skip

    return {
        "flat": flat.execute,
        "fanout": fanout.execute,
        "point": lambda: point.execute(id=500),
        "posts3": posts3.execute,
        "posts3c": posts3c.execute,
        "siblings": siblings.execute,
        "point (unprepared)": unprepared_point,
    }


# -- SQLAlchemy ORM ---------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class OrmUser(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    posts: Mapped[list[OrmPost]] = relationship(order_by="OrmPost.id")


class OrmPost(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    comments: Mapped[list[OrmComment]] = relationship(order_by="OrmComment.id")


class OrmComment(Base):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str]
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))


def sqlalchemy_cases(url: str, schema: str) -> tuple[Cases, Any]:
    User, Post = OrmUser, OrmPost
    connect_args = {"server_settings": {"search_path": schema}} if "postgresql" in url else {}
    engine = create_async_engine(url, connect_args=connect_args, pool_size=5)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def flat() -> Any:
        async with sessions() as s:
            return (await s.scalars(select(User).order_by(User.id).limit(100))).all()

    async def fanout() -> Any:
        async with sessions() as s:
            q = (
                select(User)
                .order_by(User.id)
                .limit(100)
                .options(selectinload(User.posts).selectinload(Post.comments))
            )
            return (await s.scalars(q)).all()

    async def point() -> Any:
        async with sessions() as s:
            q = select(User).where(User.id == 500).options(selectinload(User.posts))
            return (await s.scalars(q)).first()

    return {"flat": flat, "fanout": fanout, "point": point}, engine


# -- Tortoise ORM (optional: pip install tortoise-orm) --------------------------------------

try:
    from tortoise import Tortoise, fields
    from tortoise.models import Model

    class TUser(Model):
        id = fields.BigIntField(primary_key=True)
        name = fields.CharField(max_length=100)

        class Meta:
            table = "users"

    class TPost(Model):
        id = fields.BigIntField(primary_key=True)
        title = fields.CharField(max_length=200)
        author: Any = fields.ForeignKeyField(
            "models.TUser", related_name="posts", source_field="author_id"
        )

        class Meta:
            table = "posts"
            ordering = ("id",)

    class TComment(Model):
        id = fields.BigIntField(primary_key=True)
        body = fields.CharField(max_length=500)
        post: Any = fields.ForeignKeyField(
            "models.TPost", related_name="comments", source_field="post_id"
        )

        class Meta:
            table = "comments"
            ordering = ("id",)

except ImportError:  # pragma: no cover - optional peer
    Tortoise = None


async def tortoise_cases(url: str, pg: bool, schema: str) -> Cases | None:
    if Tortoise is None:
        print("tortoise-orm not installed: skipping it (pip install tortoise-orm)")
        return None
    credentials: dict[str, Any] = {}
    if pg:
        u = make_url(url)
        credentials = {"host": u.host, "port": u.port or 5432, "user": u.username,
                       "password": u.password or "", "database": u.database,
                       "server_settings": {"search_path": schema}}  # fmt: skip
        connection: Any = {"engine": "tortoise.backends.asyncpg", "credentials": credentials}
    else:
        connection = url.replace("sqlite:///", "sqlite://").replace("mysql://", "mysql://")
    await Tortoise.init(
        config={"connections": {"default": connection},
                "apps": {"models": {"models": [__name__], "default_connection": "default"}}}
    )  # fmt: skip

    async def flat() -> Any:
        return await TUser.all().order_by("id").limit(100)

    async def fanout() -> Any:
        return await TUser.all().order_by("id").limit(100).prefetch_related("posts__comments")

    async def point() -> Any:
        return await TUser.filter(id=500).first().prefetch_related("posts")

    return {"flat": flat, "fanout": fanout, "point": point}


# -- contenders --------------------------------------------------------------------------

PER_LEVEL = "asyncpg per-level (pool)"
HELD = "asyncpg 1 statement (held conn)"
CONTENDERS = (
    PER_LEVEL, HELD, "deesse lateral", "deesse batched", "deesse auto",
    "SQLAlchemy ORM selectinload", "Tortoise ORM prefetch",
)  # fmt: skip


class Setup:
    """The database and what each contender opened (closed by ``close``)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.pg = args.url.startswith(("postgresql", "postgres"))
        url = f"{args.url}?schema={args.schema}" if self.pg else args.url
        self.db = define_config(provider=url, collections=COLLECTIONS, pool_size=5)
        self.closers: list[Callable[[], Awaitable[Any]]] = []

    async def open(self, seed_data: bool) -> None:
        await self.db.connect()
        self.closers.append(self.db.close)
        if seed_data:
            await self.db.push()
            if await seed(self.db) and self.pg:
                # fresh tables have no statistics yet: plans would be guesses
                import asyncpg

                conn = await asyncpg.connect(self.args.url)
                for t in ("users", "posts", "comments", "events"):
                    await conn.execute(f'ANALYZE "{self.args.schema}".{t}')
                await conn.close()

    async def contender(self, name: str) -> Cases | None:
        """The shapes of one contender, or None where it does not apply."""
        args, pg = self.args, self.pg
        if name in (PER_LEVEL, HELD):
            if not pg:
                return None
            import asyncpg

            settings = {"search_path": args.schema}
            if name == PER_LEVEL:
                pool = await asyncpg.create_pool(
                    args.url, min_size=1, max_size=5, server_settings=settings
                )
                self.closers.append(pool.close)
                return asyncpg_cases(pool)
            conn = await asyncpg.connect(args.url, server_settings=settings)
            self.closers.append(conn.close)
            return held_cases(conn)
        if name.startswith("deesse "):
            return deesse_cases(self.db, name.removeprefix("deesse "))
        if args.no_orm:
            return None
        if name.startswith("SQLAlchemy"):
            cases, engine = sqlalchemy_cases(
                self.db.url.url.render_as_string(hide_password=False), args.schema
            )
            self.closers.append(engine.dispose)
            return cases
        cases = await tortoise_cases(args.url, pg, args.schema)
        if cases is not None:
            self.closers.append(Tortoise.close_connections)
        return cases

    async def close(self) -> None:
        for close in reversed(self.closers):
            await close()


def keep_shapes(cases: Cases, shapes: str) -> Cases:
    if not shapes:
        return cases
    keep = set(shapes.split(","))
    return {s: f for s, f in cases.items() if s in keep}


def table(results: dict[str, dict[str, float]], base: str, only: list[str] | None = None) -> None:
    shapes = only or list(dict.fromkeys(s for times in results.values() for s in times))
    print(f"\n{'contender':<32}" + "".join(f"{s:>22}" for s in shapes))
    for name, times in results.items():
        cells = []
        for s in shapes:
            t, b = times.get(s), results[base].get(s) or results[base].get(s.split(" ")[0])
            cells.append(f"{t * 1e3:8.2f} ms {t / b:5.2f}x" if t and b else f"{'-':>20}")
        print(f"{name:<32}" + "".join(f"{c:>22}" for c in cells))
    print(f"ratios are time / {base} (lower is faster)")


async def compare(args: argparse.Namespace) -> None:
    setup = Setup(args)
    await setup.open(seed_data=True)
    try:
        contenders = {}
        for name in CONTENDERS:
            cases = await setup.contender(name)
            if cases is not None:
                contenders[name] = keep_shapes(cases, args.shapes)
        results = await measure(contenders, args.iterations)
    finally:
        await setup.close()
    if setup.pg:
        table(results, PER_LEVEL)
        table(results, HELD, [s for s in results[HELD] if s in results[PER_LEVEL]])
    else:
        table(results, "deesse batched")


# -- peak RSS, one process per contender ------------------------------------------------


def rss_kib(field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) of this process, KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak_rss() -> None:
    """Start a new peak: Linux resets VmHWM to the current RSS on "5" (proc(5))."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


async def child(args: argparse.Namespace) -> None:
    """Run one contender alone (``--child NAME``) and print, as JSON, its RSS after the
    imports, and its peak RSS from connecting to the last round (the peak is reset after
    the imports: importing alone peaks higher than many workloads)."""
    setup = Setup(args)
    before = rss_kib("VmRSS")
    reset_peak_rss()
    ran = False
    await setup.open(seed_data=False)
    try:
        cases = await setup.contender(args.child)
        if cases is not None:
            cases = keep_shapes(cases, args.shapes)
            for _ in range(args.iterations):
                for fn in cases.values():
                    await fn()
            ran = True
    finally:
        await setup.close()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # the whole life, imports too
    found = {"ran": ran, "before_kib": before, "peak_kib": rss_kib("VmHWM"), "maxrss_kib": maxrss}
    print(json.dumps(found))


def rss(args: argparse.Namespace) -> None:
    base = [sys.executable, __file__, "--url", args.url, "--schema", args.schema,
            "--iterations", str(args.iterations), "--shapes", args.shapes]  # fmt: skip
    if args.no_orm:
        base.append("--no-orm")
    print(f"\npeak RSS, each contender alone in its own process ({args.iterations} rounds "
          "of its shapes; MiB):")  # fmt: skip
    print(f"{'contender':<32}{'after imports':>14}{'peak in run':>13}{'growth':>8}")
    for name in CONTENDERS:
        out = subprocess.run([*base, "--child", name], capture_output=True, text=True)
        if out.returncode:
            print(f"{name:<32} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        found = json.loads(out.stdout.strip().splitlines()[-1])
        if not found["ran"]:
            continue
        before, peak = found["before_kib"] / 1024, found["peak_kib"] / 1024
        print(f"{name:<32}{before:14.1f}{peak:13.1f}{peak - before:+8.1f}")
    print("peak in run: VmHWM reset after the imports; growth = peak - RSS after imports")


# -- lateral vs batched: the table `auto` is decided from -------------------------------


def strategy_shapes(db: Database) -> dict[str, tuple[str, Callable[[str], Any], dict[str, Any]]]:
    """name -> (family, options-to-query(strategy), execute kwargs)."""
    q = db.query
    users = {"columns": USER_COLUMNS}
    posts = {"columns": POST_COLUMNS}
    posts_comments = {"columns": POST_COLUMNS, "with": {"comments": {"columns": COMMENT_COLUMNS}}}
    by_id = {"where": {"id": placeholder("id")}}
    latest3_latest2 = {**LATEST_3, "with": {"comments": LATEST_2}}
    events = {"columns": {"id": True, "kind": True, "user_id": True}}
    latest_events = {**events, "order_by": {"id": "desc"}, "limit": 3}

    def many(limit: int, with_: Any = None, **extra: Any) -> Callable[[str], Any]:
        opts = {**users, "limit": limit, **extra, **({"with_": with_} if with_ else {})}
        return lambda s: q.users.find_many(**opts, strategy=s)

    def first(with_: Any, **where: Any) -> Callable[[str], Any]:
        return lambda s: q.users.find_first(**users, **where, with_=with_, strategy=s)

    back = {
        "columns": POST_COLUMNS,
        "with": {
            "comments": {"columns": COMMENT_COLUMNS, "with": {"post": {"columns": POST_COLUMNS}}}
        },
    }
    return {
        "flat 100": ("flat", many(100), {}),
        "flat 1000": ("flat", many(1000), {}),
        "100 -> posts": ("fan-out", many(100, {"posts": posts}), {}),
        "1000 -> posts": ("fan-out", many(1000, {"posts": posts}), {}),
        "100 -> posts -> comments": ("fan-out", many(100, {"posts": posts_comments}), {}),
        "100 -> posts -> comments -> post": ("fan-out", many(100, {"posts": back}), {}),
        "20 -> posts": ("fan-out", many(20, {"posts": posts}), {}),
        "20 -> 1000 events": ("fan-out", many(20, {"events": events}), {}),
        "20 -> latest 3": ("limit", many(20, {"posts": LATEST_3}), {}),
        "20 -> latest 3 of 1000 events": ("limit", many(20, {"events": latest_events}), {}),
        "100 -> latest 3": ("limit", many(100, {"posts": LATEST_3}), {}),
        "20 -> latest 3 -> comments": (
            "limit",
            many(20, {"posts": {**LATEST_3, "with": {"comments": {"columns": COMMENT_COLUMNS}}}}),
            {},
        ),
        "100 -> posts -> latest 2": (
            "limit",
            many(100, {"posts": {**posts, "with": {"comments": LATEST_2}}}),
            {},
        ),
        "20 -> latest 3 -> latest 2": (
            "limit under limit",
            many(20, {"posts": latest3_latest2}),
            {},
        ),
        "100 -> latest 3 -> latest 2": (
            "limit under limit",
            many(100, {"posts": latest3_latest2}),
            {},
        ),
        "by id -> posts": ("unique key", first({"posts": posts}, **by_id), {"id": 500}),
        "by id -> posts -> comments": (
            "unique key",
            first({"posts": posts_comments}, **by_id),
            {"id": 500},
        ),
        "by id -> latest 3 -> latest 2": (
            "unique key",
            first({"posts": latest3_latest2}, **by_id),
            {"id": 500},
        ),
        "by id -> latest 3 of 1000 events": (
            "unique key",
            first({"events": latest_events}, **by_id),
            {"id": 10},
        ),
        "many by id -> posts": (
            "unique key",
            lambda s: q.users.find_many(**users, **by_id, with_={"posts": posts}, strategy=s),
            {"id": 500},
        ),
        "first by name -> posts": (
            "find_first",
            first({"posts": posts}, where={"name": placeholder("name")}),
            {"name": "user 499"},
        ),
        "first -> posts -> comments": ("find_first", first({"posts": posts_comments}), {}),
        "5 -> posts -> comments": ("top limit <= 10", many(5, {"posts": posts_comments}), {}),
    }


async def strategies(args: argparse.Namespace) -> None:
    setup = Setup(args)
    await setup.open(seed_data=True)
    try:
        shapes = strategy_shapes(setup.db)
        if args.shapes:
            shapes = {k: v for k, v in shapes.items() if k in set(args.shapes.split(","))}
        contenders: dict[str, Cases] = {"lateral": {}, "batched": {}}
        auto: dict[str, str] = {}
        for name, (_, make, kwargs) in shapes.items():
            for strategy in contenders:
                prepared = make(strategy).prepare()
                contenders[strategy][name] = lambda p=prepared, k=kwargs: p.execute(**k)
            auto[name] = make("auto").prepare().strategy
        results = await measure(contenders, args.iterations)
    finally:
        await setup.close()
    dialect = setup.db.dialect.display_name
    print(f"\n{dialect}: lateral vs batched (medians of {args.iterations} interleaved rounds)")
    print(f"{'family':<18}{'shape':<34}{'lateral':>10}{'batched':>10}{'L/B':>7}  faster   auto")
    for name, (family, _, _) in shapes.items():
        lat, bat = results["lateral"][name], results["batched"][name]
        faster = "lateral" if lat < bat else "batched"
        mark = "" if auto[name] == faster or abs(lat / bat - 1) < 0.05 else "  <- auto slower"
        print(f"{family:<18}{name:<34}{lat * 1e3:8.2f}ms{bat * 1e3:8.2f}ms{lat / bat:7.2f}  "
              f"{faster:<8} {auto[name]}{mark}")  # fmt: skip
    print("L/B = lateral time / batched time (below 1: lateral faster)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--schema", default=SCHEMA, help="PostgreSQL schema for the data")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--no-orm", action="store_true", help="skip SQLAlchemy ORM, Tortoise")
    parser.add_argument("--shapes", default="", help="comma-separated shape names to run")
    parser.add_argument("--rss", action="store_true", help="also: peak RSS per contender")
    parser.add_argument("--rss-only", action="store_true", help="only the peak RSS table")
    parser.add_argument("--strategies", action="store_true", help="lateral vs batched table")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args))
    elif args.strategies:
        asyncio.run(strategies(args))
    else:
        if not args.rss_only:
            asyncio.run(compare(args))
        if args.rss or args.rss_only:
            rss(args)


if __name__ == "__main__":
    main()
