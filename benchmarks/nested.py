"""Nested loads: deesse_async (both strategies, prepared) vs hand-written asyncpg vs
SQLAlchemy ORM (selectinload), in one run, on the same database. Prints ratios.

    python benchmarks/nested.py                       # PostgreSQL on 127.0.0.1
    python benchmarks/nested.py --url sqlite:///bench.db --iterations 50

Data: 1,000 users x 10 posts x 5 comments (created once, reused while the schema is
there). Shapes:
  fanout  100 users -> posts -> comments       (find_many, limit=100)
  point   one user -> posts                    (find_first by id)
  posts3  20 users -> latest 3 posts each      (per-parent limit)
  siblings 200 posts -> comments + author      (two sibling relations)
Times are medians over the iterations; ratios are against hand-written asyncpg (the
floor) where the URL is PostgreSQL, else against deesse's batched strategy.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
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
SCHEMA = "deesse_bench"

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


async def seed(db: Database) -> None:
    if await db.users.count() == USERS:
        return
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


async def measure(
    contenders: dict[str, dict[str, Callable[[], Awaitable[Any]]]], iterations: int
) -> dict[str, dict[str, float]]:
    """Median time per (contender, shape), the contenders interleaved round-robin so that
    a noisy neighbour slows all of them alike instead of whichever ran at the time."""
    shapes = list(dict.fromkeys(shape for cases in contenders.values() for shape in cases))
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in contenders}
    for shape in shapes:
        runners = [(name, cases[shape]) for name, cases in contenders.items() if shape in cases]
        for _ in range(max(3, iterations // 10)):  # warm up: caches, prepared statements
            for _, fn in runners:
                await fn()
        for _ in range(iterations):
            for name, fn in runners:
                start = time.perf_counter()
                await fn()
                samples[name].setdefault(shape, []).append(time.perf_counter() - start)
        print(f"  measured {shape}", flush=True)
    return {
        name: {shape: statistics.median(v) for shape, v in per_shape.items()}
        for name, per_shape in samples.items()
    }


# -- hand-written asyncpg: the floor ---------------------------------------------------


def asyncpg_cases(pool: Any) -> dict[str, Callable[[], Awaitable[Any]]]:
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
            rows = await conn.fetch(
                "SELECT u.id, u.name, p.id AS pid, p.title, p.author_id FROM "
                "(SELECT id, name FROM users ORDER BY id LIMIT 20) u LEFT JOIN LATERAL "
                "(SELECT id, title, author_id FROM posts WHERE author_id = u.id "
                "ORDER BY id DESC LIMIT 3) p ON true ORDER BY u.id"
            )
        users: dict[int, Any] = {}
        for r in rows:
            user = users.get(r["id"])
            if user is None:
                user = users[r["id"]] = {"id": r["id"], "name": r["name"], "posts": []}
            if r["pid"] is not None:
                user["posts"].append(
                    {"id": r["pid"], "title": r["title"], "author_id": r["author_id"]}
                )
        return list(users.values())

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

    return {"fanout": fanout, "point": point, "posts3": posts3, "siblings": siblings}


# -- deesse_async ------------------------------------------------------------------------


COMMENT_COLUMNS = {"id": True, "body": True, "post_id": True}


def deesse_cases(db: Database, strategy: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    cols = {"columns": {"id": True, "name": True}}
    fanout = db.query.users.find_many(
        **cols, limit=100, strategy=strategy,  # type: ignore[arg-type]
        with_={"posts": {"columns": {"id": True, "title": True, "author_id": True},
                         "with": {"comments": {"columns": COMMENT_COLUMNS}}}},
    ).prepare()  # fmt: skip
    point = db.query.users.find_first(
        **cols, where={"id": placeholder("id")}, strategy=strategy,  # type: ignore[arg-type]
        with_={"posts": {"columns": {"id": True, "title": True, "author_id": True}}},
    ).prepare()  # fmt: skip
    posts3 = db.query.users.find_many(
        **cols, limit=20, strategy=strategy,  # type: ignore[arg-type]
        with_={"posts": {"columns": {"id": True, "title": True, "author_id": True},
                         "order_by": {"id": "desc"}, "limit": 3}},
    ).prepare()  # fmt: skip

    siblings = db.query.posts.find_many(
        columns={"id": True, "title": True, "author_id": True}, limit=200,
        strategy=strategy,  # type: ignore[arg-type]
        with_={"comments": {"columns": COMMENT_COLUMNS},
               "author": {"columns": {"id": True, "name": True}}},
    ).prepare()  # fmt: skip

    async def unprepared_point() -> Any:
        return await db.query.users.find_first(
            **cols, where={"id": 500}, strategy=strategy,  # type: ignore[arg-type]
            with_={"posts": {"columns": {"id": True, "title": True, "author_id": True}}},
        )  # fmt: skip

    return {
        "fanout": fanout.execute,
        "point": lambda: point.execute(id=500),
        "posts3": posts3.execute,
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


def sqlalchemy_cases(url: str) -> tuple[dict[str, Callable[[], Awaitable[Any]]], Any]:
    User, Post = OrmUser, OrmPost
    connect_args = {"server_settings": {"search_path": SCHEMA}} if "postgresql" in url else {}
    engine = create_async_engine(url, connect_args=connect_args, pool_size=5)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

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

    return {"fanout": fanout, "point": point}, engine


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


async def tortoise_cases(url: str, pg: bool) -> dict[str, Callable[[], Awaitable[Any]]] | None:
    if Tortoise is None:
        print("tortoise-orm not installed: skipping it (pip install tortoise-orm)")
        return None
    credentials: dict[str, Any] = {}
    if pg:
        u = make_url(url)
        credentials = {"host": u.host, "port": u.port or 5432, "user": u.username,
                       "password": u.password or "", "database": u.database,
                       "server_settings": {"search_path": SCHEMA}}  # fmt: skip
        connection: Any = {"engine": "tortoise.backends.asyncpg", "credentials": credentials}
    else:
        connection = url.replace("sqlite:///", "sqlite://").replace("mysql://", "mysql://")
    await Tortoise.init(
        config={"connections": {"default": connection},
                "apps": {"models": {"models": [__name__], "default_connection": "default"}}}
    )  # fmt: skip

    async def fanout() -> Any:
        return await TUser.all().order_by("id").limit(100).prefetch_related("posts__comments")

    async def point() -> Any:
        return await TUser.filter(id=500).first().prefetch_related("posts")

    return {"fanout": fanout, "point": point}


def table(results: dict[str, dict[str, float]], base: str) -> None:
    shapes = list(next(iter(results.values())))
    print(f"\n{'contender':<28}" + "".join(f"{s:>22}" for s in shapes))
    for name, times in results.items():
        cells = []
        for s in shapes:
            t, b = times.get(s), results[base].get(s) or results[base].get(s.split(" ")[0])
            cells.append(f"{t * 1e3:8.2f} ms {t / b:5.2f}x" if t and b else f"{'-':>20}")
        print(f"{name:<28}" + "".join(f"{c:>22}" for c in cells))
    print(f"\nratios are time / {base} (lower is faster)")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--no-orm", action="store_true", help="skip SQLAlchemy ORM")
    args = parser.parse_args()
    pg = args.url.startswith(("postgresql", "postgres"))
    url = f"{args.url}?schema={SCHEMA}" if pg else args.url
    db = define_config(provider=url, collections=[Users, Posts, Comments], pool_size=5)
    contenders: dict[str, dict[str, Callable[[], Awaitable[Any]]]] = {}
    async with db:
        await db.push()
        await seed(db)
        pool = engine = None
        if pg:
            import asyncpg

            pool = await asyncpg.create_pool(args.url, min_size=1, max_size=5,
                                             server_settings={"search_path": SCHEMA})  # fmt: skip
            contenders["asyncpg (hand-written)"] = asyncpg_cases(pool)
        for strategy in ("lateral", "batched", "auto"):
            contenders[f"deesse {strategy}"] = deesse_cases(db, strategy)
        if not args.no_orm:
            cases, engine = sqlalchemy_cases(db.url.url.render_as_string(hide_password=False))
            contenders["SQLAlchemy ORM selectinload"] = cases
            tortoise = await tortoise_cases(args.url, pg)
            if tortoise is not None:
                contenders["Tortoise ORM prefetch"] = tortoise
        results = await measure(contenders, args.iterations)
        if pool is not None:
            await pool.close()
        if engine is not None:
            await engine.dispose()
        if Tortoise is not None and not args.no_orm:
            await Tortoise.close_connections()
    table(results, "asyncpg (hand-written)" if pg else "deesse batched")


if __name__ == "__main__":
    asyncio.run(main())
