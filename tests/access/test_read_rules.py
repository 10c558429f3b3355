"""Read access rules (issue 9): exact results for anonymous, a member and an admin, at every
depth, through every read path, on every backend and both strategies.

The world (tests/access/world.py): orgs -< users -< posts -< comments, users.manager (self),
posts >-< tags. Expected rows come from ``World`` (the rules re-stated in Python) and, for
the key cases, from hand-written name lists, so the oracle itself is checked too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import anyio
import pytest

from deesse_async import ConfigError, Database, QueryError, placeholder
from tests.conftest import MakeDb

from .world import SLUGS, VIEWERS, World, seed, world_collections

pytestmark = pytest.mark.anyio

STRATEGIES = ("lateral", "batched")

# The name column of each collection (to state expectations as names).
NAME = {"orgs": "name", "users": "name", "posts": "title", "tags": "name", "comments": "body"}

# Hand-counted: what each viewer may read (checks the Python oracle too).
EVERYTHING = {
    "orgs": ["acme", "umbrella"],
    "users": ["alice", "bob", "carol", "frank", "dave", "erin"],
    "posts": [
        "hello", "bob-draft", "carol-pub", "carol-draft", "dave-pub", "dave-draft", "alice-draft",
    ],
    "tags": ["red", "green", "blue", "secret"],
    "comments": ["c1", "c2", "c3", "c4", "c5", "c6", "c7"],
}  # fmt: skip
READABLE = {
    "anonymous": {
        "orgs": ["acme"],
        # alice's only post is a draft: the rule's own "posts": True still counts it.
        "users": ["alice", "bob", "carol"],
        "posts": ["hello", "carol-pub", "dave-pub"],
        "tags": ["red", "green", "blue"],
        "comments": ["c1", "c3", "c5", "c6", "c7"],
    },
    "member": {  # bob, of acme
        "orgs": ["acme", "umbrella"],
        "users": ["alice", "bob", "carol", "frank"],
        "posts": ["hello", "bob-draft", "carol-pub", "dave-pub"],
        "tags": ["red", "green", "blue", "secret"],
        "comments": ["c1", "c3", "c5", "c6", "c7"],
    },
    "admin": EVERYTHING,
}
HIDDEN_KEYS = {
    "anonymous": {"users": {"salary", "manager_id"}, "posts": {"internal_note"},
                  "comments": {"hidden"}},
    "member": {"users": {"salary"}, "comments": {"hidden"}},
    "admin": {},
}  # fmt: skip

# Relations of the world: (slug, name) -> (target, "one"|"many", match(parent, row)).
REL: dict[tuple[str, str], tuple[str, str, Callable[[Any, Any], bool]]] = {
    ("orgs", "users"): ("users", "many", lambda p, r: r["org_id"] == p["id"]),
    ("users", "org"): ("orgs", "one", lambda p, r: r["id"] == p["org_id"]),
    ("users", "manager"): ("users", "one", lambda p, r: r["id"] == p["manager_id"]),
    ("users", "reports"): ("users", "many", lambda p, r: r["manager_id"] == p["id"]),
    ("users", "posts"): ("posts", "many", lambda p, r: r["author_id"] == p["id"]),
    ("posts", "author"): ("users", "one", lambda p, r: r["id"] == p["author_id"]),
    ("posts", "tags"): ("tags", "many", lambda p, r: r["id"] in p["tags"]),
    ("tags", "posts"): ("posts", "many", lambda p, r: p["id"] in r["tags"]),
    ("posts", "comments"): ("comments", "many", lambda p, r: r["post_id"] == p["id"]),
    ("comments", "post"): ("posts", "one", lambda p, r: r["id"] == p["post_id"]),
    ("comments", "author"): ("users", "one", lambda p, r: r["id"] == p["author_id"]),
}
# A relation back over a hidden field is hidden with it (listing bob's reports would tell
# their hidden `manager`): (slug, relation) -> (slug, field).
HIDDEN_BACK = {("users", "reports"): ("users", "manager")}
# Keys of CRUD rows that query rows do not have (many-to-many id lists).
CRUD_ONLY = {"posts": {"tags"}}


async def setup(make_db: MakeDb, **kwargs: Any) -> tuple[Database, World]:
    db = await make_db(world_collections(**kwargs))
    return db, await seed(db)


def view(db: Database, w: World, who: str) -> Any:
    """The plain db for the anonymous visitor (no ``with_user``), else ``with_user``."""
    return db if who == "anonymous" else db.with_user(w.viewer(who))


def q(v: Any, slug: str) -> Any:
    return getattr(v.query, slug)


def crud(v: Any, slug: str) -> Any:
    return getattr(v, slug)


def query_row(w: World, slug: str, row: Mapping[str, Any], who: str) -> dict[str, Any]:
    """A world row as ``find_many`` returns it to ``who``: columns only, hidden keys gone."""
    cols = {k: v for k, v in row.items() if k not in CRUD_ONLY.get(slug, set())}
    return w.strip(slug, cols, w.viewer(who))


def expected_tree(
    w: World, slug: str, row: Mapping[str, Any], spec: Mapping[str, Any], who: str
) -> dict[str, Any]:
    """``row`` with the relations of ``spec["with"]`` loaded as ``who`` sees them (every
    level by id): unreadable rows gone, hidden fields (and hidden relation fields) absent."""
    user = w.viewer(who)
    out = query_row(w, slug, row, who)
    for name, sub in (spec.get("with") or {}).items():
        back = HIDDEN_BACK.get((slug, name))
        if name in w.hidden(slug, user) or (back and back[1] in w.hidden(back[0], user)):
            continue  # a relation field the viewer may not read (or its back): key absent
        target, card, match = REL[(slug, name)]
        related = [r for r in w.visible(target, user) if match(row, r)]
        items = [expected_tree(w, target, r, sub if isinstance(sub, dict) else {}, who)
                 for r in related]  # fmt: skip
        out[name] = (items[0] if items else None) if card == "one" else items
    return out


def ordered(slug: str, tree: Mapping[str, Any]) -> dict[str, Any]:
    """``{rel: subtree}`` as ``with_`` options, every many level ordered by id."""
    out: dict[str, Any] = {}
    for name, sub in tree.items():
        target, card, _ = REL[(slug, name)]
        opts: dict[str, Any] = {"order_by": {"id": "asc"}} if card == "many" else {}
        if sub:
            opts["with"] = ordered(target, sub)
        out[name] = opts or True
    return out


def names(slug: str, rows: list[dict[str, Any]]) -> list[str]:
    return [r[NAME[slug]] for r in rows]


# -- top level -------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_top_level_rows_per_viewer(make_db: MakeDb, strategy: str) -> None:
    db, w = await setup(make_db)
    for who in VIEWERS:
        user = w.viewer(who)
        v = view(db, w, who)
        for slug in SLUGS:
            assert sorted(w.names(slug, user)) == sorted(READABLE[who][slug]), (who, slug)
            rows = await q(v, slug).find_many(order_by={"id": "asc"}, strategy=strategy)
            expected = [query_row(w, slug, r, who) for r in w.visible(slug, user)]
            assert rows == expected, (who, slug)
            assert names(slug, rows) == READABLE[who][slug], (who, slug)
            hidden = HIDDEN_KEYS[who].get(slug, set())
            for row in rows:
                assert not hidden & set(row), (who, slug, row)


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_find_first_by_id_and_in_order(make_db: MakeDb, strategy: str) -> None:
    db, w = await setup(make_db)
    for who in VIEWERS:
        user = w.viewer(who)
        v = view(db, w, who)
        for slug in SLUGS:
            for row in w.rows[slug].values():
                got = await q(v, slug).find_first(where={"id": row["id"]}, strategy=strategy)
                expected = query_row(w, slug, row, who) if w.readable(slug, row, user) else None
                assert got == expected, (who, slug, row[NAME[slug]])
            first = await q(v, slug).find_first(order_by={"id": "desc"}, strategy=strategy)
            assert first == query_row(w, slug, w.visible(slug, user)[-1], who), (who, slug)
        # Nothing readable matches: None, never an error.
        got = await q(v, "posts").find_first(where={"title": "alice-draft"}, strategy=strategy)
        assert got == (query_row(w, "posts", w.row("posts", "alice-draft"), who)
                       if who == "admin" else None)  # fmt: skip


async def test_read_by_id(make_db: MakeDb) -> None:
    db, w = await setup(make_db)
    for who in VIEWERS:
        user = w.viewer(who)
        v = view(db, w, who)
        for slug in SLUGS:
            for row in w.rows[slug].values():
                got = await crud(v, slug).read(row["id"])
                if not w.readable(slug, row, user):
                    assert got is None, (who, slug, row[NAME[slug]])
                    continue
                # A post's `tags` id list is the row's own data (docs/access.md): the
                # secret tag's id is listed even to a caller who may not read that tag.
                assert got == w.strip(slug, row, user), (who, slug, row[NAME[slug]])
                assert not HIDDEN_KEYS[who].get(slug, set()) & set(got)
        assert await crud(v, "posts").read(10**6) is None


async def test_count(make_db: MakeDb) -> None:
    db, w = await setup(make_db)
    # users having a READABLE post: alice's draft does not count for anonymous/member.
    with_posts = {"anonymous": 2, "member": 2, "admin": 4}
    drafts = {"anonymous": 0, "member": 1, "admin": 4}
    for who in VIEWERS:
        v = view(db, w, who)
        for slug in SLUGS:
            assert await crud(v, slug).count() == len(READABLE[who][slug]), (who, slug)
        assert await v.posts.count({"status": "draft"}) == drafts[who], who
        assert await v.users.count(where={"posts": True}) == with_posts[who], who
        assert await v.comments.count(where={"post": {"status": "draft"}}) == {
            "anonymous": 0, "member": 1, "admin": 3}[who]  # fmt: skip
    assert await db.trusted().comments.count() == 7


# -- nested levels ---------------------------------------------------------------------------

TREES: list[tuple[str, dict[str, Any]]] = [
    # 4 levels down: one-to-many at each level, many-to-many and one relations at the bottom.
    ("orgs", {"users": {"posts": {"comments": {"author": {}}, "tags": {}}, "org": {}}}),
    # one relations up the chain (comments -> post -> author -> org), self one both ways.
    ("comments", {"post": {"author": {"org": {}, "manager": {}}}, "author": {}}),
    # many-to-many in reverse, then back down.
    ("tags", {"posts": {"author": {}, "comments": {}, "tags": {}}}),
    # the self relation: one (manager) and many (reports), two levels deep.
    ("users", {"manager": {"manager": {}}, "reports": {"reports": {}}, "posts": {}}),
]


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_nested_levels_every_relation_kind(make_db: MakeDb, strategy: str) -> None:
    db, w = await setup(make_db)
    for who in VIEWERS:
        user = w.viewer(who)
        v = view(db, w, who)
        for slug, tree in TREES:
            spec = {"with": ordered(slug, tree)}
            rows = await q(v, slug).find_many(
                with_=spec["with"], order_by={"id": "asc"}, strategy=strategy
            )
            expected = [expected_tree(w, slug, r, spec, who) for r in w.visible(slug, user)]
            assert rows == expected, (who, slug, tree)


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_nested_hand_counted(make_db: MakeDb, strategy: str) -> None:
    """The same trees, a few key facts stated by hand."""
    db, w = await setup(make_db)
    expected = {
        # acme's users -> their posts, as each viewer sees them
        "anonymous": {"acme": {"alice": [], "bob": ["hello"], "carol": ["carol-pub"]}},
        "member": {
            "acme": {"alice": [], "bob": ["hello", "bob-draft"], "carol": ["carol-pub"],
                     "frank": []},
            "umbrella": {},
        },
        "admin": {
            "acme": {"alice": ["alice-draft"], "bob": ["hello", "bob-draft"],
                     "carol": ["carol-pub", "carol-draft"], "frank": []},
            "umbrella": {"dave": ["dave-pub", "dave-draft"], "erin": []},
        },
    }  # fmt: skip
    for who in VIEWERS:
        rows = await q(view(db, w, who), "orgs").find_many(
            columns={"name": True},
            with_={"users": {"columns": {"name": True}, "order_by": {"id": "asc"},
                             "with": {"posts": {"columns": {"title": True},
                                                "order_by": {"id": "asc"}}}}},
            order_by={"id": "asc"},
            strategy=strategy,
        )  # fmt: skip
        got = {o["name"]: {u["name"]: names("posts", u["posts"]) for u in o["users"]} for o in rows}
        assert got == expected[who], who
    # A comment readable to anonymous on a post that is not: the one relation is None.
    c3 = await q(db, "comments").find_first(
        where={"body": "c3"}, columns={"body": True}, with_={"post": True}, strategy=strategy
    )
    assert c3 == {"body": "c3", "post": None}
    # many-to-many: the secret tag is not on hello... and carol-pub shows no tag to anonymous.
    posts = await q(db, "posts").find_many(
        columns={"title": True},
        with_={"tags": {"columns": {"name": True}, "order_by": {"id": "asc"}}},
        order_by={"id": "asc"},
        strategy=strategy,
    )
    assert posts == [
        {"title": "hello", "tags": [{"name": "red"}, {"name": "green"}]},
        {"title": "carol-pub", "tags": []},
        {"title": "dave-pub", "tags": [{"name": "red"}]},
    ]


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_self_relation(make_db: MakeDb, strategy: str) -> None:
    db, w = await setup(make_db)
    bob_id = w.id("users", "bob")
    options = {
        "columns": {"name": True, "manager_id": True},
        "with_": {"manager": {"columns": {"name": True}},
                  "reports": {"columns": {"name": True}, "order_by": {"id": "asc"}}},
        "order_by": {"id": "asc"},
    }  # fmt: skip
    # dave (umbrella) may not read bob (acme): erin's manager is None, her manager_id stays.
    rows = await q(db.with_user(w.viewer("dave")), "users").find_many(**options, strategy=strategy)
    assert rows == [
        {"name": "dave", "manager_id": None, "manager": None, "reports": []},
        {"name": "erin", "manager_id": bob_id, "manager": None, "reports": []},
    ]
    bob = await q(view(db, w, "member"), "users").find_first(
        where={"id": bob_id}, **options, strategy=strategy
    )
    assert bob == {"name": "bob", "manager_id": w.id("users", "alice"),
                   "manager": {"name": "alice"}, "reports": [{"name": "carol"}]}  # fmt: skip
    bob = await q(view(db, w, "admin"), "users").find_first(
        where={"id": bob_id}, **options, strategy=strategy
    )
    assert bob is not None
    assert bob["reports"] == [{"name": "carol"}, {"name": "erin"}]
    # Filtering by the self relation: only readable managers match.
    managed_by_bob = {"manager": {"name": "bob"}}
    for who, expected in (("member", ["carol"]), ("admin", ["carol", "erin"])):
        rows = await q(view(db, w, who), "users").find_many(
            where=managed_by_bob, columns={"name": True}, order_by={"id": "asc"},
            strategy=strategy,
        )  # fmt: skip
        assert names("users", rows) == expected, who
    rows = await q(db.with_user(w.viewer("dave")), "users").find_many(
        where=managed_by_bob, strategy=strategy
    )
    assert rows == []  # erin is managed by bob, but dave may not read bob


# -- relation filters ------------------------------------------------------------------------

FILTERS: list[tuple[str, dict[str, Any], dict[str, list[str]]]] = [
    ("users", {"posts": {"status": "draft"}},
     {"anonymous": [], "member": ["bob"], "admin": ["alice", "bob", "carol", "dave"]}),
    # {"posts": False}: no READABLE post (alice's draft does not count for anonymous)
    ("users", {"posts": False},
     {"anonymous": ["alice"], "member": ["alice", "frank"], "admin": ["frank", "erin"]}),
    ("users", {"NOT": {"posts": {"status": "published"}}},
     {"anonymous": ["alice"], "member": ["alice", "frank"], "admin": ["alice", "frank", "erin"]}),
    ("posts", {"tags": {"name": "secret"}},
     {"anonymous": [], "member": ["carol-pub"], "admin": ["carol-pub", "dave-draft"]}),
    ("posts", {"tags": False},
     {"anonymous": ["carol-pub"], "member": [], "admin": ["carol-draft", "alice-draft"]}),
    ("posts", {"comments": True},
     {"anonymous": ["hello", "dave-pub"], "member": ["hello", "bob-draft", "dave-pub"],
      "admin": ["hello", "bob-draft", "carol-pub", "carol-draft", "dave-pub", "dave-draft"]}),
    ("comments", {"post": {"title": "bob-draft"}},
     {"anonymous": [], "member": ["c3"], "admin": ["c3"]}),
    ("comments", {"post": True},
     {"anonymous": ["c1", "c5"], "member": ["c1", "c3", "c5"], "admin": EVERYTHING["comments"]}),
    ("tags", {"posts": {"status": "draft"}},
     {"anonymous": [], "member": ["blue"], "admin": ["green", "blue", "secret"]}),
    # three hops, through a hidden comment
    ("orgs", {"users": {"posts": {"comments": {"body": "c4"}}}},
     {"anonymous": [], "member": [], "admin": ["acme"]}),
    ("orgs", {"users": {"posts": {"status": "draft"}}},
     {"anonymous": [], "member": ["acme"], "admin": ["acme", "umbrella"]}),
    # relation filters inside OR
    ("users", {"OR": [{"name": "frank"}, {"posts": {"tags": {"name": "secret"}}}]},
     {"anonymous": [], "member": ["carol", "frank"],
      "admin": ["carol", "frank", "dave"]}),
]  # fmt: skip


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_relation_filters_see_only_readable_rows(make_db: MakeDb, strategy: str) -> None:
    db, w = await setup(make_db)
    for who in VIEWERS:
        v = view(db, w, who)
        for slug, where, expected in FILTERS:
            rows = await q(v, slug).find_many(
                where=where, order_by={"id": "asc"}, strategy=strategy
            )
            assert names(slug, rows) == expected[who], (who, slug, where)
            assert await crud(v, slug).count(where) == len(expected[who]), (who, slug, where)
            first = await q(v, slug).find_first(
                where=where, order_by={"id": "asc"}, strategy=strategy
            )
            assert (first and first[NAME[slug]]) == (expected[who] or [None])[0], (who, where)


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_relation_filter_in_a_nested_level(make_db: MakeDb, strategy: str) -> None:
    db, w = await setup(make_db)
    expected = {
        "anonymous": {"acme": ["bob", "carol"]},
        "member": {"acme": ["bob", "carol"], "umbrella": []},
        "admin": {"acme": ["alice", "bob", "carol"], "umbrella": ["dave"]},
    }
    for who in VIEWERS:
        rows = await q(view(db, w, who), "orgs").find_many(
            columns={"name": True},
            with_={"users": {"columns": {"name": True}, "where": {"posts": True},
                             "order_by": {"id": "asc"}}},
            order_by={"id": "asc"},
            strategy=strategy,
        )  # fmt: skip
        assert {o["name"]: names("users", o["users"]) for o in rows} == expected[who], who


# -- field rules -----------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_hidden_fields_absent_at_every_depth(make_db: MakeDb, strategy: str) -> None:
    db, w = await setup(make_db)
    bob = w.row("users", "bob")
    # Asking for a hidden field in `columns` just leaves it out.
    for who, keys in (
        ("anonymous", {"id", "name"}),
        ("member", {"id", "name", "manager_id"}),
        ("admin", {"id", "name", "manager_id", "salary"}),
    ):
        rows = await q(view(db, w, who), "users").find_many(
            columns={"id": True, "name": True, "salary": True, "manager_id": True},
            where={"id": bob["id"]},
            strategy=strategy,
        )
        assert rows == [{k: bob[k] for k in keys}], who
    # Excluding columns: the hidden ones are gone as well.
    rows = await q(view(db, w, "member"), "users").find_many(
        columns={"email": False}, where={"id": bob["id"]}, strategy=strategy
    )
    assert rows == [{k: v for k, v in bob.items() if k not in ("email", "salary")}]
    # A hidden one relation: neither `manager_id` nor `manager`, even when asked in with_.
    rows = await db.query.users.find_many(
        columns={"name": True}, with_={"manager": True, "org": {"columns": {"name": True}}},
        where={"id": bob["id"]}, strategy=strategy,
    )  # fmt: skip
    assert rows == [{"name": "bob", "org": {"name": "acme"}}]
    # ... nor the relation back over it (users.reports lists whom a user manages).
    rows = await db.query.users.find_many(
        columns={"name": True}, with_={"reports": True}, where={"id": bob["id"]},
        strategy=strategy,
    )  # fmt: skip
    assert rows == [{"name": "bob"}]
    # A level whose every asked column is hidden: empty rows, one per readable row.
    rows = await q(view(db, w, "member"), "users").find_many(
        columns={"salary": True}, strategy=strategy
    )
    assert rows == [{}] * len(READABLE["member"]["users"])
    rows = await q(view(db, w, "member"), "posts").find_many(
        columns={"title": True}, where={"title": "hello"},
        with_={"author": {"columns": {"salary": True}}}, strategy=strategy,
    )  # fmt: skip
    assert rows == [{"title": "hello", "author": {}}]
    # Deep: orgs -> users (salary) -> posts (internal_note) -> comments (hidden) -> author.
    tree = {"with_": {"users": {"where": {"id": bob["id"]},
                                "with": {"posts": {"where": {"title": "hello"},
                                                   "with": {"comments": {"order_by": {"id": "asc"},
                                                                         "with": {"author": True}},
                                                            "author": True}}}}},
            "where": {"name": "acme"}}  # fmt: skip
    for who in VIEWERS:
        user = w.viewer(who)
        rows = await q(view(db, w, who), "orgs").find_many(**tree, strategy=strategy)
        hello = w.row("posts", "hello")
        comments = [c for c in w.visible("comments", user) if c["post_id"] == hello["id"]]
        expected_post = {
            **query_row(w, "posts", hello, who),
            "author": query_row(w, "users", bob, who),
            "comments": [
                {**query_row(w, "comments", c, who),
                 "author": query_row(w, "users", w.by_id("users", c["author_id"]), who)
                 if w.readable("users", w.by_id("users", c["author_id"]), user) else None}
                for c in comments
            ],
        }  # fmt: skip
        assert rows == [
            {
                **query_row(w, "orgs", w.row("orgs", "acme"), who),
                "users": [{**query_row(w, "users", bob, who), "posts": [expected_post]}],
            }
        ], who
        post = rows[0]["users"][0]["posts"][0]
        assert ("internal_note" in post) is (who != "anonymous")
        assert ("salary" in post["author"]) is (who == "admin")
        assert all(("hidden" in c) is (who == "admin") for c in post["comments"])
        assert [c["body"] for c in post["comments"]] == (["c1", "c2"] if who == "admin" else ["c1"])


HIDDEN_FIELD_QUERIES: list[tuple[str, str, dict[str, Any], str]] = [
    # (viewers for whom it is an error, slug, find_many options, the hidden field)
    ("anonymous member", "users", {"where": {"salary": {"gt": 0}}}, "salary"),
    ("anonymous member", "users", {"order_by": {"salary": "desc"}}, "salary"),
    ("anonymous member", "users", {"where": {"OR": [{"id": 0}, {"salary": None}]}}, "salary"),
    ("anonymous member", "orgs", {"with_": {"users": {"where": {"salary": 50}}}}, "salary"),
    ("anonymous member", "orgs", {"with_": {"users": {"order_by": {"salary": "asc"}}}}, "salary"),
    ("anonymous member", "orgs", {"where": {"users": {"salary": {"gt": 0}}}}, "salary"),
    ("anonymous member", "posts", {"where": {"author": {"salary": {"gt": 0}}}}, "salary"),
    ("anonymous member", "posts",
     {"with_": {"comments": {"where": {"post": {"author": {"salary": 1}}}}}}, "salary"),
    ("anonymous member", "comments", {"where": {"hidden": True}}, "hidden"),
    ("anonymous member", "comments", {"where": {"NOT": {"hidden": False}}}, "hidden"),
    ("anonymous member", "posts", {"where": {"comments": {"hidden": False}}}, "hidden"),
    ("anonymous", "users", {"where": {"manager_id": {"is_null": True}}}, "manager"),
    ("anonymous", "users", {"where": {"manager": {"name": "alice"}}}, "manager"),
    ("anonymous", "users", {"where": {"manager": True}}, "manager"),
    ("anonymous", "users", {"where": {"reports": {"name": "carol"}}}, "reports"),
    ("anonymous", "orgs", {"with_": {"users": {"where": {"reports": False}}}}, "reports"),
    ("anonymous", "users", {"order_by": {"manager_id": "asc"}}, "manager"),
    ("anonymous", "posts", {"where": {"internal_note": {"is_null": False}}}, "internal_note"),
    ("anonymous", "orgs", {"with_": {"users": {"with": {"posts": {
        "order_by": {"internal_note": "asc"}}}}}}, "internal_note"),
]  # fmt: skip


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_filtering_or_ordering_by_a_hidden_field_is_a_query_error(
    make_db: MakeDb, strategy: str
) -> None:
    db, w = await setup(make_db)
    for who in VIEWERS:
        v = view(db, w, who)
        for denied, slug, options, hidden in HIDDEN_FIELD_QUERIES:
            target = {"salary": "users", "manager": "users", "reports": "users",
                      "hidden": "comments",
                      "internal_note": "posts"}[hidden]  # fmt: skip
            if who not in denied.split():
                await q(v, slug).find_many(**options, strategy=strategy)  # runs
                continue
            with pytest.raises(QueryError) as info:
                await q(v, slug).find_many(**options, strategy=strategy)
            message = str(info.value)
            assert hidden in message and target in message, (who, options, message)
            if "where" in options:
                with pytest.raises(QueryError):
                    await q(v, slug).find_first(**options, strategy=strategy)
                with pytest.raises(QueryError):
                    await crud(v, slug).count(options["where"])
    # The admin may: exact rows.
    rows = await q(view(db, w, "admin"), "users").find_many(
        columns={"name": True, "salary": True},
        where={"salary": {"gt": 55}},
        order_by={"salary": "desc"},
        strategy=strategy,
    )
    assert rows == [
        {"name": "alice", "salary": 100},
        {"name": "dave", "salary": 70},
        {"name": "carol", "salary": 60},
    ]


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_a_rules_own_where_may_use_hidden_fields_and_unreadable_rows(
    make_db: MakeDb, strategy: str
) -> None:
    db, w = await setup(make_db)
    # comments' rule is {"hidden": False}; `hidden` is a field the member may not read.
    rows = await q(view(db, w, "member"), "comments").find_many(
        order_by={"id": "asc"}, strategy=strategy
    )
    assert names("comments", rows) == ["c1", "c3", "c5", "c6", "c7"]
    assert all("hidden" not in r for r in rows)
    # users' anonymous rule {"posts": True} counts alice's draft, which anonymous may not read.
    alice = await q(db, "users").find_first(
        where={"name": "alice"}, with_={"posts": True}, strategy=strategy
    )
    assert alice == {**query_row(w, "users", w.row("users", "alice"), "anonymous"), "posts": []}


# -- prepared queries --------------------------------------------------------------------------


def _compiled_plans(db: Database) -> int:
    """How many compiled plans the planner's cache holds."""
    return len(db._planner._cache)


def _count_compilations(db: Database) -> list[Any]:
    """From now on, every plan the planner compiles is appended to the returned list."""
    planner = db._planner
    build = planner._build
    builds: list[Any] = []

    def counted(node: Any, strategy: str) -> Any:
        builds.append((node.slug, strategy))
        return build(node, strategy)

    planner._build = counted  # type: ignore[method-assign]
    return builds


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_prepared_query_rebound_to_users(make_db: MakeDb, strategy: str) -> None:
    db, w = await setup(make_db)
    prepared = db.query.posts.find_many(
        columns={"title": True, "internal_note": True},
        where={"title": {"ne": placeholder("skip")}},
        with_={
            "comments": {"columns": {"body": True, "hidden": True}, "order_by": {"id": "asc"}},
            "author": {"columns": {"name": True, "salary": True}},
        },
        order_by={"id": "asc"},
        strategy=strategy,
    ).prepare()

    def expected(who: str, skip: str = "hello") -> list[dict[str, Any]]:
        user = w.viewer(who)
        out = []
        for p in w.visible("posts", user):
            if p["title"] == skip:
                continue
            row = w.strip("posts", {"title": p["title"], "internal_note": p["internal_note"]}, user)
            author = w.by_id("users", p["author_id"])
            row["author"] = (
                w.strip("users", {"name": author["name"], "salary": author["salary"]}, user)
                if w.readable("users", author, user) else None
            )  # fmt: skip
            row["comments"] = [
                w.strip("comments", {"body": c["body"], "hidden": c["hidden"]}, user)
                for c in w.visible("comments", user) if c["post_id"] == p["id"]
            ]  # fmt: skip
            out.append(row)
        return out

    # Prepared on the plain db: anonymous.
    assert await prepared.execute(skip="hello") == expected("anonymous")
    for _ in range(2):  # interleaved, twice: nothing sticks to the prepared query
        for who in VIEWERS:
            bound = prepared if who == "anonymous" else prepared.with_user(w.viewer(who))
            assert await bound.execute({"skip": "hello"}) == expected(who), who
    everything = await prepared.trusted().execute(skip="hello")
    assert [r["title"] for r in everything] == [t for t in EVERYTHING["posts"] if t != "hello"]
    assert everything[0] == {
        "title": "bob-draft", "internal_note": None, "author": {"name": "bob", "salary": 50},
        "comments": [{"body": "c3", "hidden": False}],
    }  # fmt: skip

    # Same rule shape (two members): the plan is reused, no new compilation.
    carol = w.viewer("carol")
    before = _compiled_plans(db)
    builds = _count_compilations(db)
    as_bob = prepared.with_user(w.viewer("member"))
    as_carol = prepared.with_user(carol)
    assert await as_bob.execute(skip="hello") == expected("member")
    assert await as_carol.execute(skip="hello") == expected("carol")
    assert await as_bob.execute(skip="hello") == expected("member")
    assert _compiled_plans(db) == before
    assert builds == []
    assert await prepared.with_user(w.viewer("dave")).execute(skip="x") == expected("dave", "x")
    assert builds == []  # dave is a member of another org: the same shape still
    assert as_bob.to_sql() == as_carol.to_sql()
    assert [r["title"] for r in await as_carol.execute(skip="x")] == [
        "hello", "carol-pub", "carol-draft", "dave-pub"]  # fmt: skip

    # Prepared on a user's view: runs as that user; rebinding goes both ways.
    as_member = (
        db.with_user(w.viewer("member"))
        .query.posts.find_many(columns={"title": True}, order_by={"id": "asc"}, strategy=strategy)
        .prepare()
    )
    assert names("posts", await as_member.execute()) == READABLE["member"]["posts"]
    assert (
        names("posts", await as_member.with_user(None).execute()) == READABLE["anonymous"]["posts"]
    )


async def test_rules_run_on_every_execution(make_db: MakeDb) -> None:
    """A prepared query evaluates the rules per execution (the user may change)."""
    db, w = await setup(make_db)
    user = dict(w.viewer("member") or {})
    prepared = db.query.posts.find_many(columns={"title": True}, order_by={"id": "asc"}).prepare()
    bound = prepared.with_user(user)
    assert names("posts", await bound.execute()) == READABLE["member"]["posts"]
    user["role"] = "admin"
    assert names("posts", await bound.execute()) == EVERYTHING["posts"]
    user["role"] = "member"
    assert names("posts", await bound.execute()) == READABLE["member"]["posts"]


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_prepared_query_shared_by_concurrent_users(make_db: MakeDb, strategy: str) -> None:
    db, w = await setup(make_db)
    prepared = db.query.users.find_many(
        columns={"name": True},
        with_={"posts": {"columns": {"title": True}, "order_by": {"id": "asc"}}},
        order_by={"id": "asc"},
        strategy=strategy,
    ).prepare()
    who_of = ["anonymous", "member", "admin", "dave"]
    results: dict[int, Any] = {}

    async def one(i: int) -> None:
        who = who_of[i % len(who_of)]
        bound = prepared if who == "anonymous" else prepared.with_user(w.viewer(who))
        results[i] = await bound.execute()

    async with anyio.create_task_group() as tg:
        for i in range(60):
            tg.start_soon(one, i)
    for i, got in results.items():
        who = who_of[i % len(who_of)]
        user = w.viewer(who)
        expected = [
            {"name": u["name"],
             "posts": [{"title": p["title"]} for p in w.visible("posts", user)
                       if p["author_id"] == u["id"]]}
            for u in w.visible("users", user)
        ]  # fmt: skip
        assert got == expected, (i, who)


# -- the views ---------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_trusted_sees_everything(make_db: MakeDb, strategy: str) -> None:
    db, w = await setup(make_db)
    t = db.trusted()
    for slug in SLUGS:
        rows = await q(t, slug).find_many(order_by={"id": "asc"}, strategy=strategy)
        expected = [{k: v for k, v in r.items() if k not in CRUD_ONLY.get(slug, set())}
                    for r in w.rows[slug].values()]  # fmt: skip
        assert rows == sorted(expected, key=lambda r: r["id"]), slug
        assert await crud(t, slug).count() == len(EVERYTHING[slug])
        for row in w.rows[slug].values():
            assert await crud(t, slug).read(row["id"]) == row
    rows = await t.query.users.find_many(
        columns={"name": True, "salary": True, "manager_id": True},
        where={"salary": {"is_null": True}, "manager": {"name": "bob"}},
        with_={"manager": {"columns": {"name": True}}},
        strategy=strategy,
    )
    assert rows == [
        {"name": "erin", "salary": None, "manager_id": w.id("users", "bob"),
         "manager": {"name": "bob"}}
    ]  # fmt: skip
    spec = {"with": ordered("orgs", TREES[0][1])}
    rows = await t.query.orgs.find_many(
        with_=spec["with"], order_by={"id": "asc"}, strategy=strategy
    )
    admin = w.viewer("admin")
    assert rows == [expected_tree(w, "orgs", o, spec, "admin") for o in w.visible("orgs", admin)]
    assert [names("users", o["users"]) for o in rows] == [
        ["alice", "bob", "carol", "frank"], ["dave", "erin"]]  # fmt: skip


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_plain_db_is_anonymous_and_views_keep_their_user(
    make_db: MakeDb, strategy: str
) -> None:
    db, w = await setup(make_db)
    anonymous = await db.query.posts.find_many(order_by={"id": "asc"}, strategy=strategy)
    assert names("posts", anonymous) == READABLE["anonymous"]["posts"]
    assert (
        await db.with_user(None).query.posts.find_many(order_by={"id": "asc"}, strategy=strategy)
        == anonymous
    )
    member = db.with_user(w.viewer("member"))
    # A view's own views: with_user replaces the user, trusted() drops the rules.
    assert names("posts", await member.with_user(w.viewer("admin")).query.posts.find_many(
        order_by={"id": "asc"}, strategy=strategy)) == EVERYTHING["posts"]  # fmt: skip
    assert await member.trusted().posts.count() == len(EVERYTHING["posts"])
    assert await db.trusted().with_user(w.viewer("member")).posts.count() == len(
        READABLE["member"]["posts"]
    )
    # Reads inside a transaction keep the view's user.
    async with member.transaction() as tx:
        rows = await tx.query.posts.find_many(order_by={"id": "asc"}, strategy=strategy)
        assert names("posts", rows) == READABLE["member"]["posts"]
        assert await tx.posts.read(w.id("posts", "alice-draft")) is None
        assert await tx.trusted().posts.count() == len(EVERYTHING["posts"])
        assert await tx.with_user(None).posts.count() == len(READABLE["anonymous"]["posts"])
    async with db.transaction() as tx:
        assert await tx.comments.count() == len(READABLE["anonymous"]["comments"])


# -- rules: how they run -------------------------------------------------------------------------


async def test_rules_see_the_context(make_db: MakeDb) -> None:
    seen: list[tuple[Any, ...]] = []

    async def tags_read(ctx: Any) -> Any:
        seen.append((ctx.user, ctx.trusted, ctx.operation, ctx.collection))
        return True

    db, w = await setup(make_db, access={"tags": {"read": tags_read}})
    member = w.viewer("member")
    await db.with_user(member).query.posts.find_many(with_={"tags": True})
    await db.tags.count()
    assert seen[0] == (member, False, "read", "tags")
    assert seen[-1] == (None, False, "read", "tags")
    assert all(s in (seen[0], seen[-1]) for s in seen)


async def test_trusted_runs_no_rules(make_db: MakeDb) -> None:
    def boom(ctx: Any) -> Any:
        raise RuntimeError("the tags rule ran")

    db, _ = await setup(make_db, access={"tags": {"read": boom}})
    t = db.trusted()
    assert names("tags", await t.query.tags.find_many(order_by={"id": "asc"})) == EVERYTHING["tags"]
    rows = await t.query.posts.find_many(
        columns={"title": True}, where={"tags": {"name": "secret"}},
        with_={"tags": {"columns": {"name": True}}}, order_by={"id": "asc"},
    )  # fmt: skip
    assert [r["title"] for r in rows] == ["carol-pub", "dave-draft"]
    with pytest.raises(RuntimeError, match="the tags rule ran"):
        await db.query.tags.find_many()


@pytest.mark.parametrize(
    "bad", ["yes", 1, None, ["status"], {"status": "published"}.items()], ids=repr
)
async def test_a_rule_returning_something_else_is_a_config_error(make_db: MakeDb, bad: Any) -> None:
    db, _ = await setup(make_db, access={"orgs": {"read": lambda ctx: bad}})
    with pytest.raises(ConfigError) as info:
        await db.query.orgs.find_many()
    assert "orgs" in str(info.value) and "read" in str(info.value)
    with pytest.raises(ConfigError):
        await db.query.users.find_many(with_={"org": True})


async def test_a_rule_where_dict_that_does_not_parse_is_a_config_error(make_db: MakeDb) -> None:
    db, _ = await setup(make_db, access={"posts": {"read": lambda ctx: {"athor_id": 1}}})
    with pytest.raises(ConfigError) as info:
        await db.query.users.find_many(with_={"posts": True})
    assert "posts" in str(info.value) and "athor_id" in str(info.value)
    with pytest.raises(ConfigError):
        await db.posts.count()


async def test_a_field_rule_returning_a_non_bool_is_a_config_error(make_db: MakeDb) -> None:
    db, _ = await setup(make_db, field_access={"orgs": {"public": {"read": lambda ctx: "no"}}})
    with pytest.raises(ConfigError) as info:
        await db.query.orgs.find_many()
    assert "public" in str(info.value)


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_a_hidden_many_to_many_field(make_db: MakeDb, strategy: str) -> None:
    """posts.tags readable by signed-in users only: the key `tags` of CRUD rows, the
    relation `tags` of queries and the relation back (`tags.posts`) are gone for the
    anonymous visitor; using them in a where is a QueryError."""
    signed_in = {"posts": {"tags": {"read": lambda ctx: ctx.user is not None}}}
    db, w = await setup(make_db, field_access=signed_in)
    hello = w.row("posts", "hello")
    got = await db.posts.read(hello["id"])
    assert got == {k: v for k, v in w.strip("posts", hello, None).items() if k != "tags"}
    rows = await db.query.posts.find_many(
        columns={"title": True}, with_={"tags": True, "author": {"columns": {"name": True}}},
        where={"id": hello["id"]}, strategy=strategy,
    )  # fmt: skip
    assert rows == [{"title": "hello", "author": {"name": "bob"}}]
    rows = await db.query.tags.find_many(
        columns={"name": True}, with_={"posts": True}, order_by={"id": "asc"}, strategy=strategy
    )
    assert rows == [{"name": "red"}, {"name": "green"}, {"name": "blue"}]
    for slug, where in (("posts", {"tags": {"name": "red"}}), ("tags", {"posts": True}),
                        ("users", {"posts": {"tags": False}})):  # fmt: skip
        with pytest.raises(QueryError) as info:
            await q(db, slug).find_many(where=where, strategy=strategy)
        assert "tags" in str(info.value) and "posts" in str(info.value), str(info.value)
    # A member sees them all.
    member = view(db, w, "member")
    got = await member.posts.read(hello["id"])
    assert got == w.strip("posts", hello, w.viewer("member"))
    rows = await q(member, "posts").find_many(
        columns={"title": True}, where={"tags": {"name": "red"}},
        with_={"tags": {"columns": {"name": True}, "order_by": {"id": "asc"}}},
        order_by={"id": "asc"}, strategy=strategy,
    )  # fmt: skip
    assert rows == [
        {"title": "hello", "tags": [{"name": "red"}, {"name": "green"}]},
        {"title": "dave-pub", "tags": [{"name": "red"}]},
    ]
