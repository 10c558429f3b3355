"""The access-control suite's world: five collections with read rules, seed data, and the
rules re-stated in Python so a test can compute exactly what each viewer may read.

Shape (4 levels, every relation kind)::

    orgs ─< users ─< posts ─< comments          (one / many at every level)
            users.manager -> users               (self one; back: users.reports)
            posts >─< tags                       (many-to-many; back: tags.posts)
            comments.author -> users             (one)

Read rules (``ctx.user`` is a viewer dict ``{"id", "org_id", "role"}`` or ``None``):

- ``orgs``: anonymous ``{"public": True}``; any user ``True``.
- ``users`` (ASYNC): admin ``True``; member ``{"org_id": <own org>}``; anonymous
  ``{"org": {"public": True}, "posts": True}`` — the rule's own relation filter
  ``"posts": True`` counts ALL posts (also drafts the anonymous visitor may not read):
  alice, whose only post is a draft, is visible to anonymous.
- ``posts``: admin ``True``; member ``{"OR": [{"status": "published"}, {"author_id": id}]}``;
  anonymous ``{"status": "published"}``.
- ``tags`` (ASYNC): anonymous ``{"restricted": False}``; any user ``True``.
- ``comments``: admin ``True``; others ``{"hidden": False}`` (``hidden`` is itself a field
  only admins may read: a rule's own where may use a hidden field).

Field read rules (bool): ``users.salary`` admins only; ``users.manager`` (the column
``manager_id`` and the relation ``manager``) logged-in users only; ``posts.internal_note``
logged-in users only; ``comments.hidden`` admins only.

``world_collections(hooks=..., access=...)`` builds fresh collections (so a test may add
hooks or write rules); ``seed(db)`` fills them through ``db.trusted()`` and returns a
``World`` holding the rows and the Python oracle (``readable``, ``ids``, ``hidden``,
``strip``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from deesse_async import (
    Collection,
    boolean,
    collection,
    email,
    field,
    integer,
    relation,
    required,
    select,
    text,
    unique,
)

__all__ = [
    "SLUGS",
    "VIEWERS",
    "World",
    "seed",
    "viewer",
    "world_collections",
]

SLUGS = ("orgs", "users", "posts", "tags", "comments")
# The three viewers every read test runs as: anonymous, a normal member, an admin.
VIEWERS = ("anonymous", "member", "admin")

Viewer = dict[str, Any] | None


def viewer(user_row: Mapping[str, Any] | None) -> Viewer:
    """The ``ctx.user`` a test passes to ``db.with_user``: built from a users row."""
    if user_row is None:
        return None
    return {"id": user_row["id"], "org_id": user_row["org_id"], "role": user_row["role"]}


def _is_admin(ctx: Any) -> bool:
    return ctx.user is not None and ctx.user["role"] == "admin"


def _logged_in(ctx: Any) -> bool:
    return ctx.user is not None


# --- collection rules ---------------------------------------------------------------


def orgs_read(ctx: Any) -> bool | dict[str, Any]:
    return True if ctx.user is not None else {"public": True}


async def users_read(ctx: Any) -> bool | dict[str, Any]:
    if ctx.user is None:
        return {"org": {"public": True}, "posts": True}
    if ctx.user["role"] == "admin":
        return True
    return {"org_id": ctx.user["org_id"]}


def posts_read(ctx: Any) -> bool | dict[str, Any]:
    if ctx.user is None:
        return {"status": "published"}
    if ctx.user["role"] == "admin":
        return True
    return {"OR": [{"status": "published"}, {"author_id": ctx.user["id"]}]}


async def tags_read(ctx: Any) -> bool | dict[str, Any]:
    return True if ctx.user is not None else {"restricted": False}


def comments_read(ctx: Any) -> bool | dict[str, Any]:
    return True if _is_admin(ctx) else {"hidden": False}


READ_RULES: dict[str, Callable[[Any], Any]] = {
    "orgs": orgs_read,
    "users": users_read,
    "posts": posts_read,
    "tags": tags_read,
    "comments": comments_read,
}


def world_collections(
    hooks: Mapping[str, Mapping[str, list[Any]]] | None = None,
    access: Mapping[str, Mapping[str, Any]] | None = None,
    field_access: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
) -> list[Collection]:
    """Fresh ``[orgs, users, posts, tags, comments]`` with the read rules above.

    ``hooks={slug: {hook: [fn]}}`` adds hooks; ``access={slug: {op: fn}}`` adds or replaces
    collection rules (e.g. create/update/delete); ``field_access={slug: {field: {op: fn}}}``
    adds or replaces a field's rules.
    """
    hooks = hooks or {}
    extra_access = access or {}
    extra_field_access = field_access or {}

    def f(
        slug: str,
        name: str,
        type_: Any,
        *,
        default: Any = None,
        req: bool = False,
        uniq: bool = False,
        **rules: Any,
    ) -> Any:
        merged = {**rules, **extra_field_access.get(slug, {}).get(name, {})}
        kwargs: dict[str, Any] = {"access": merged} if merged else {}
        out = field(type=type_, default=default, **kwargs)
        if req:
            out = required(out)  # the modifiers keep access (access-spec)
        if uniq:
            out = unique(out)
        return out

    fields: dict[str, dict[str, Any]] = {
        "orgs": {
            "name": f("orgs", "name", text(min=1, max=50), req=True, uniq=True),
            "public": f("orgs", "public", boolean(), default=False),
        },
        "users": {
            "name": f("users", "name", text(min=1, max=50), req=True, uniq=True),
            "email": f("users", "email", email(), req=True, uniq=True),
            "role": f("users", "role", select("admin", "member"), default="member"),
            "salary": f("users", "salary", integer(min=0), read=_is_admin),
            "org": f("users", "org", relation("orgs", related_name="users"), req=True),
            "manager": f(
                "users", "manager", relation("users", related_name="reports"), read=_logged_in
            ),
        },
        "posts": {
            "title": f("posts", "title", text(min=1, max=50), req=True, uniq=True),
            "status": f("posts", "status", select("draft", "published"), default="draft"),
            "internal_note": f("posts", "internal_note", text(max=200), read=_logged_in),
            "author": f("posts", "author", relation("users", related_name="posts"), req=True),
            "tags": f("posts", "tags", relation("tags", many=True, related_name="posts")),
        },
        "tags": {
            "name": f("tags", "name", text(min=1, max=40), req=True, uniq=True),
            "restricted": f("tags", "restricted", boolean(), default=False),
        },
        "comments": {
            "body": f("comments", "body", text(min=1, max=200), req=True),
            "hidden": f("comments", "hidden", boolean(), default=False, read=_is_admin),
            "post": f(
                "comments",
                "post",
                relation("posts", related_name="comments", on_delete="cascade"),
                req=True,
            ),
            "author": f("comments", "author", relation("users")),
        },
    }
    return [
        collection(
            slug=slug,
            fields=fields[slug],
            access={"read": READ_RULES[slug], **extra_access.get(slug, {})},
            hooks=dict(hooks.get(slug, {})) or None,
        )
        for slug in SLUGS
    ]


# --- seed data ----------------------------------------------------------------------

# (name, org, role, salary, manager)
USERS = [
    ("alice", "acme", "admin", 100, None),
    ("bob", "acme", "member", 50, "alice"),
    ("carol", "acme", "member", 60, "bob"),
    ("frank", "acme", "member", 40, "alice"),  # no posts: anonymous may not see him
    ("dave", "umbrella", "member", 70, None),
    ("erin", "umbrella", "member", None, "bob"),  # managed across orgs (self relation)
]
# (title, status, author, tags, internal_note)
POSTS = [
    ("hello", "published", "bob", ["red", "green"], "n-hello"),
    ("bob-draft", "draft", "bob", ["blue"], None),
    ("carol-pub", "published", "carol", ["secret"], "n-carol"),
    ("carol-draft", "draft", "carol", [], "n-carol-draft"),
    ("dave-pub", "published", "dave", ["red"], None),
    ("dave-draft", "draft", "dave", ["secret", "green"], "n-dave-draft"),
    ("alice-draft", "draft", "alice", [], None),  # alice's only post is a draft
]
# (name, restricted)
TAGS = [("red", False), ("green", False), ("blue", False), ("secret", True)]
# (body, post, author, hidden)
COMMENTS = [
    ("c1", "hello", "carol", False),
    ("c2", "hello", "dave", True),
    ("c3", "bob-draft", "alice", False),
    ("c4", "carol-pub", "bob", True),
    ("c5", "dave-pub", "erin", False),
    ("c6", "dave-draft", "dave", False),
    ("c7", "carol-draft", None, False),
]

# Field read rules restated: slug -> field -> predicate(viewer) (True: readable).
FIELD_RULES: dict[str, dict[str, Callable[[Viewer], bool]]] = {
    "users": {
        "salary": lambda u: u is not None and u["role"] == "admin",
        "manager": lambda u: u is not None,
    },
    "posts": {"internal_note": lambda u: u is not None},
    "comments": {"hidden": lambda u: u is not None and u["role"] == "admin"},
}
# The row keys a field stands for (a one relation's column).
FIELD_KEYS = {("users", "manager"): "manager_id"}


@dataclass
class World:
    """The seeded rows by slug and name (``world.rows["posts"]["hello"]``), full rows as
    ``db.trusted()`` returned them, and the Python oracle of the read rules."""

    rows: dict[str, dict[str, dict[str, Any]]] = dc_field(default_factory=dict)

    # -- lookups
    def row(self, slug: str, name: str) -> dict[str, Any]:
        return self.rows[slug][name]

    def id(self, slug: str, name: str) -> Any:
        return self.rows[slug][name]["id"]

    def by_id(self, slug: str, id: Any) -> dict[str, Any]:
        for r in self.rows[slug].values():
            if r["id"] == id:
                return r
        raise KeyError((slug, id))

    def name_of(self, slug: str, id: Any) -> str:
        for n, r in self.rows[slug].items():
            if r["id"] == id:
                return n
        raise KeyError((slug, id))

    def viewer(self, who: str) -> Viewer:
        """``"anonymous"`` -> None, ``"member"`` -> bob, ``"admin"`` -> alice, or a user name."""
        name = {"anonymous": None, "member": "bob", "admin": "alice"}.get(who, who)
        return None if name is None else viewer(self.rows["users"][name])

    # -- the oracle
    def readable(self, slug: str, row: Mapping[str, Any], user: Viewer) -> bool:
        """Whether ``user`` may read ``row`` of ``slug`` (the collection rule only)."""
        admin = user is not None and user["role"] == "admin"
        if slug == "orgs":
            return user is not None or bool(row["public"])
        if slug == "users":
            if user is None:
                org = self.by_id("orgs", row["org_id"])
                has_post = any(p["author_id"] == row["id"] for p in self.rows["posts"].values())
                return bool(org["public"]) and has_post
            return admin or row["org_id"] == user["org_id"]
        if slug == "posts":
            if user is None:
                return bool(row["status"] == "published")
            return admin or row["status"] == "published" or row["author_id"] == user["id"]
        if slug == "tags":
            return user is not None or not row["restricted"]
        if slug == "comments":
            return admin or not row["hidden"]
        raise KeyError(slug)

    def visible(self, slug: str, user: Viewer) -> list[dict[str, Any]]:
        """The full rows of ``slug`` that ``user`` may read, by id."""
        rows = [r for r in self.rows[slug].values() if self.readable(slug, r, user)]
        return sorted(rows, key=lambda r: r["id"])

    def ids(self, slug: str, user: Viewer) -> set[Any]:
        return {r["id"] for r in self.visible(slug, user)}

    def names(self, slug: str, user: Viewer) -> set[str]:
        return {self.name_of(slug, r["id"]) for r in self.visible(slug, user)}

    def hidden(self, slug: str, user: Viewer) -> set[str]:
        """Field names of ``slug`` that ``user`` may not read."""
        return {n for n, ok in FIELD_RULES.get(slug, {}).items() if not ok(user)}

    def hidden_keys(self, slug: str, user: Viewer) -> set[str]:
        """Row keys absent for ``user`` (a one relation's field hides its ``<field>_id``)."""
        return {FIELD_KEYS.get((slug, n), n) for n in self.hidden(slug, user)}

    def strip(self, slug: str, row: Mapping[str, Any], user: Viewer) -> dict[str, Any]:
        """``row`` without the keys ``user`` may not read."""
        gone = self.hidden_keys(slug, user)
        return {k: v for k, v in row.items() if k not in gone}


async def seed(db: Any) -> World:
    """Create the seed rows through ``db.trusted()``; returns them as a ``World``."""
    t = db.trusted()
    world = World(rows={s: {} for s in SLUGS})
    for name, public in (("acme", True), ("umbrella", False)):
        world.rows["orgs"][name] = await t.orgs.create({"name": name, "public": public})
    for name, org, role, salary, manager in USERS:
        world.rows["users"][name] = await t.users.create(
            {
                "name": name,
                "email": f"{name}@example.com",
                "role": role,
                "salary": salary,
                "org_id": world.id("orgs", org),
                "manager_id": None if manager is None else world.id("users", manager),
            }
        )
    for name, restricted in TAGS:
        world.rows["tags"][name] = await t.tags.create({"name": name, "restricted": restricted})
    for title, status, author, tags, note in POSTS:
        world.rows["posts"][title] = await t.posts.create(
            {
                "title": title,
                "status": status,
                "author_id": world.id("users", author),
                "tags": [world.id("tags", n) for n in tags],
                "internal_note": note,
            }
        )
    for body, post, author, hidden in COMMENTS:
        world.rows["comments"][body] = await t.comments.create(
            {
                "body": body,
                "post_id": world.id("posts", post),
                "author_id": None if author is None else world.id("users", author),
                "hidden": hidden,
            }
        )
    return world
