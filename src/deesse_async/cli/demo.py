"""``deesse demo``: a small blog in an embedded database file (SQLite), seeded and shown.

``blog_collections()`` is also the test suite's blog (tests/blog.py builds on it).
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import sqlglot
from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from .. import (
    Collection,
    DeesseError,
    Field,
    FieldType,
    collection,
    define_config,
    email,
    field,
    relation,
    required,
    select,
    text,
    timestamp,
    unique,
)
from ..drivers.url import file_url
from .command import Command

__all__ = ["DEMO_FIELDS", "blog_collections", "run_demo"]


def blog_collections(
    more_fields: Mapping[str, Mapping[str, Field | FieldType]] | None = None,
) -> list[Collection]:
    """A small blog: users (who invite each other), tags, posts and comments.

    ``more_fields`` adds fields per slug, after the blog's own (the demo dates its posts;
    the test suite, tests/blog.py, adds a field of every type to users).

    >>> [c.slug for c in blog_collections({"posts": {"published_at": timestamp()}})]
    ['users', 'tags', 'posts', 'comments']
    """
    more = more_fields or {}
    blog = {
        "users": {
            "name": required(field(type=text(min=1, max=100))),
            "email": unique(required(field(type=email()))),
            "invited_by": field(type=relation("users", related_name="invitees")),
        },
        "tags": {"name": unique(required(field(type=text(max=40))))},
        "posts": {
            "title": unique(required(field(type=text(min=1, max=100)))),
            "content": field(type=text(max=1000)),
            "status": field(type=select("draft", "published"), default="draft"),
            "author": required(field(type=relation("users", related_name="posts"))),
            "tags": field(type=relation("tags", many=True, related_name="posts")),
        },
        "comments": {
            "body": required(field(type=text(min=1))),
            "post": required(
                field(type=relation("posts", related_name="comments", on_delete="cascade"))
            ),
            "author": field(type=relation("users")),
        },
    }
    unknown = set(more) - set(blog)
    if unknown:
        raise ValueError(f"blog_collections: no collection {sorted(unknown)[0]!r} in the blog")
    return [
        collection(slug=slug, fields={**fields, **more.get(slug, {})})
        for slug, fields in blog.items()
    ]


# The demo's blog: dated posts.
DEMO_FIELDS: dict[str, dict[str, Field | FieldType]] = {
    "posts": {"published_at": field(type=timestamp())}
}


def _table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold cyan")
    for c in columns:
        table.add_column(c)
    for row in rows:
        table.add_row(*(_show(row.get(c)) for c in columns))
    return table


def _show(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if value is None:
        return "[dim]null[/dim]"
    return str(value)


async def run_demo(path: Path, console: Console | None = None) -> dict[str, int]:
    """Create ``path`` afresh, seed the blog, print CRUD results; returns row counts."""
    console = console or Console()
    for suffix in ("", "-wal", "-shm"):
        await anyio.Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = define_config(provider=file_url(path), collections=blog_collections(DEMO_FIELDS))
    banner = f"deesse_async demo: a blog in [bold]{path}[/bold] ({db.dialect.display_name})"
    console.print(Panel.fit(banner))
    async with db:
        created = (await db.push()).created_tables
        console.print(f"[green]✓[/green] created tables: {', '.join(created)}")
        counts = await _seed_and_show(db, console)
    console.print(f"\nThe database file stays at [bold]{path}[/bold]; run again to start over.")
    return counts


async def _show_query(db: Any, console: Console) -> None:
    """A nested relational query (one SQL statement) and what it returns."""
    query = db.query.users.find_many(
        columns={"id": True, "name": True},
        with_={
            "posts": {
                "columns": {"title": True, "status": True},
                "order_by": {"title": "asc"},
                "limit": 2,
                "with": {
                    "tags": {"columns": {"name": True}},
                    "comments": {"columns": {"body": True}},
                },
            },
            "invited_by": {"columns": {"name": True}},
        },
        where={"posts": True},
        strategy="lateral",
    )
    sql = sqlglot.transpile(query.to_sql(), read=db.dialect.sqlglot_name, pretty=True)[0]
    console.print(Panel(Syntax(sql, "sql", word_wrap=True), title="find_many → one SQL statement"))
    for user in await query:
        inviter = user["invited_by"]["name"] if user["invited_by"] else "nobody"
        console.print(f"[bold]{user['name']}[/bold] (invited by {inviter})")
        for post in user["posts"]:
            tags = ", ".join(t["name"] for t in post["tags"]) or "no tags"
            comments = "; ".join(c["body"] for c in post["comments"]) or "no comments"
            console.print(f"  • {post['title']} ({post['status']}) — {tags} — {comments}")


async def _seed_and_show(db: Any, console: Console) -> dict[str, int]:
    ada = await db.users.create({"name": "Ada", "email": "ada@example.com"})
    users = await db.users.create_many(
        [
            {"name": "Grace", "email": "grace@example.com", "invited_by_id": ada["id"]},
            {"name": "Linus", "email": "linus@example.com", "invited_by_id": ada["id"]},
        ]
    )
    users.insert(0, ada)
    tags = await db.tags.create_many([{"name": n} for n in ("python", "sql", "async")])
    tag = {t["name"]: t["id"] for t in tags}
    now = dt.datetime.now(dt.UTC)
    posts = [
        await db.posts.create(
            {"title": "Why async?", "content": "Because waiting is cheap.", "author_id": ada["id"],
             "status": "published", "published_at": now, "tags": [tag["python"], tag["async"]]}
        ),
        await db.posts.create(
            {"title": "Joins, explained", "author_id": users[1]["id"], "tags": [tag["sql"]]}
        ),
    ]  # fmt: skip
    async with db.transaction() as tx:
        for body, post, author in (
            ("Great read!", posts[0], users[1]),
            ("Agreed.", posts[0], users[2]),
            ("Draft looks good", posts[1], ada),
        ):
            await tx.comments.create(
                {"body": body, "post_id": post["id"], "author_id": author["id"]}
            )
    console.print(_table("users", users, ["id", "name", "email", "invited_by_id", "created_at"]))
    console.print(_table("posts", posts, ["id", "title", "status", "author_id", "tags"]))

    updated = await db.posts.update(posts[1]["id"], {"status": "published", "published_at": now})
    console.print(
        f"[green]✓[/green] update: post {updated['id']} is now {updated['status']!r}, "
        f"updated_at moved to {_show(updated['updated_at'])}"
    )
    try:
        await db.users.create({"name": "Ada again", "email": "ada@example.com"})
    except DeesseError as exc:
        console.print(f"[yellow]✗[/yellow] {type(exc).__name__}: {exc}")
    try:
        await db.posts.create({"title": "", "author_id": ada["id"], "status": "secret"})
    except DeesseError as exc:
        console.print(f"[yellow]✗[/yellow] {type(exc).__name__}: {exc}")
    await _show_query(db, console)
    published = await db.posts.count({"status": "published"})
    console.print(f"[green]✓[/green] count: {published} published posts")
    deleted = await db.posts.delete(posts[0]["id"])
    console.print(
        f"[green]✓[/green] delete: removed {deleted['title']!r}; its comments cascaded, "
        f"{await db.comments.count()} comment(s) left"
    )
    return {
        slug: await db.collection(slug).count() for slug in ("users", "tags", "posts", "comments")
    }


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        default=Path("deesse_demo.db"),
        help="database file to create (default: ./deesse_demo.db; replaced on every run)",
    )


def _run_demo(args: argparse.Namespace, console: Console) -> int:
    anyio.run(run_demo, args.db, console)
    return 0


DEMO = Command(
    "demo",
    "create a small blog in a database file here, seed it and show CRUD",
    _configure_demo,
    _run_demo,
)
