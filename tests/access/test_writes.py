"""Write access rules (API.md §5, access-spec.md "Writes" and "Views").

``docs`` is a small shared-notebook collection: anonymous visitors may do nothing, an
admin everything, a member creates only their own docs, reads their own and the public
ones, and changes or deletes only their own unlocked docs. Field rules: ``reviewed``
is set by admins only, ``pinned`` is fixed once created, ``note`` is readable by admins
only. What is stored is always checked through ``db.trusted()``, which runs no rules.
"""

from __future__ import annotations

from typing import Any

import pytest

from deesse_async import (
    AccessDenied,
    ConfigError,
    Database,
    NotFound,
    boolean,
    collection,
    field,
    integer,
    required,
    text,
)
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio

ALICE = {"id": 1, "role": "member"}
BOB = {"id": 2, "role": "member"}
ADMIN = {"id": 9, "role": "admin"}
MISSING = 10**6


class Boom(Exception):
    pass


def is_admin(ctx: Any) -> bool:
    return ctx.user is not None and ctx.user["role"] == "admin"


def read_docs(ctx: Any) -> Any:
    if ctx.user is None:
        return False
    if is_admin(ctx):
        return True
    return {"OR": [{"owner": ctx.user["id"]}, {"public": True}]}


def create_docs(ctx: Any) -> Any:
    if ctx.user is None:
        return False
    if is_admin(ctx):
        return True
    return {"owner": ctx.user["id"]}


async def change_docs(ctx: Any) -> Any:  # async rules work like sync ones
    if ctx.user is None:
        return False
    if is_admin(ctx):
        return True
    return {"owner": ctx.user["id"], "locked": False}


Docs = collection(
    slug="docs",
    timestamps=False,
    fields={
        "title": required(field(type=text(min=1, max=100))),
        "owner": required(field(type=integer())),
        "public": field(type=boolean(), default=False),
        "locked": field(type=boolean(), default=False),
        "reviewed": field(
            type=boolean(), default=False, access={"create": is_admin, "update": is_admin}
        ),
        "pinned": field(type=boolean(), default=False, access={"update": lambda ctx: False}),
        "note": field(type=text(), access={"read": is_admin}),
    },
    access={"read": read_docs, "create": create_docs, "update": change_docs, "delete": change_docs},
)

# Anyone may drop a message in the inbox; only admins may read it.
Inbox = collection(
    slug="inbox",
    timestamps=False,
    fields={"body": required(field(type=text()))},
    access={"read": is_admin},
)

# A rule that returns neither a bool nor a where-dict.
Odd = collection(
    slug="odd",
    timestamps=False,
    fields={"name": field(type=text())},
    access={"create": lambda ctx: "yes"},
)

ALL = [Docs, Inbox, Odd]


def doc(id: int, title: str, owner: int, **extra: Any) -> dict[str, Any]:
    """A docs row as a trusted reader gets it (every field)."""
    row = {
        "id": id,
        "title": title,
        "owner": owner,
        "public": False,
        "locked": False,
        "reviewed": False,
        "pinned": False,
        "note": None,
    }
    row.update(extra)
    return row


def member_view(row: dict[str, Any]) -> dict[str, Any]:
    """The same row as a member gets it: ``note`` is an admin-only field."""
    return {k: v for k, v in row.items() if k != "note"}


async def stored(db: Database) -> list[dict[str, Any]]:
    return await db.trusted().query.docs.find_many(order_by={"id": "asc"})


async def seed(db: Database) -> dict[str, dict[str, Any]]:
    t = db.trusted().docs
    return {
        "alice_own": await t.create({"title": "alice own", "owner": 1, "note": "a"}),
        "alice_locked": await t.create({"title": "alice locked", "owner": 1, "locked": True}),
        "bob_public": await t.create({"title": "bob public", "owner": 2, "public": True}),
        "bob_private": await t.create({"title": "bob private", "owner": 2, "note": "b"}),
    }


# -- create ---------------------------------------------------------------------------


async def test_create_rule_false_denies_and_writes_nothing(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    with pytest.raises(AccessDenied):
        await db.docs.create({"title": "anon", "owner": 1})
    with pytest.raises(AccessDenied):
        await db.docs.create_many(
            [{"title": "anon 1", "owner": 1}, {"title": "anon 2", "owner": 1}]
        )
    assert await db.trusted().docs.count() == 0
    assert await stored(db) == []


async def test_create_with_a_where_rule_stores_only_matching_rows(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    alice = db.with_user(ALICE)
    row = await alice.docs.create({"title": "mine", "owner": 1, "note": "hidden from alice"})
    assert row == member_view(doc(row["id"], "mine", 1))
    with pytest.raises(AccessDenied):
        await alice.docs.create({"title": "bob's", "owner": 2})
    assert await stored(db) == [doc(row["id"], "mine", 1, note="hidden from alice")]
    assert await db.trusted().docs.count() == 1


async def test_a_denied_create_inside_a_transaction_leaves_nothing_and_the_tx_goes_on(
    make_db: MakeDb,
) -> None:
    db = await make_db(ALL)
    async with db.with_user(ALICE).transaction() as tx:
        first = await tx.docs.create({"title": "first", "owner": 1})
        with pytest.raises(AccessDenied):
            await tx.docs.create({"title": "not mine", "owner": 2})
        with pytest.raises(AccessDenied):
            await tx.docs.create_many(
                [{"title": "mine too", "owner": 1}, {"title": "no", "owner": 2}]
            )
        # the transaction is still usable (PostgreSQL would refuse after an aborted statement)
        second = await tx.docs.create({"title": "second", "owner": 1})
        assert await tx.trusted().docs.count() == 2
    assert await stored(db) == [doc(first["id"], "first", 1), doc(second["id"], "second", 1)]


async def test_create_many_is_all_or_nothing(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    alice = db.with_user(ALICE)
    with pytest.raises(AccessDenied):
        await alice.docs.create_many(
            [
                {"title": "one", "owner": 1},
                {"title": "two", "owner": 2},
                {"title": "three", "owner": 1},
            ]
        )
    assert await stored(db) == []
    rows = await alice.docs.create_many(
        [{"title": "one", "owner": 1}, {"title": "two", "owner": 1}]
    )
    assert rows == [
        member_view(doc(rows[0]["id"], "one", 1)),
        member_view(doc(rows[1]["id"], "two", 1)),
    ]
    assert await stored(db) == [doc(rows[0]["id"], "one", 1), doc(rows[1]["id"], "two", 1)]


async def test_a_rule_returning_neither_bool_nor_where_dict_is_a_config_error(
    make_db: MakeDb,
) -> None:
    db = await make_db(ALL)
    with pytest.raises(ConfigError, match=r"odd[\s\S]*create|create[\s\S]*odd"):
        await db.odd.create({"name": "x"})
    assert await db.trusted().odd.count() == 0


# -- update ---------------------------------------------------------------------------


async def test_update_with_a_where_rule(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    s = await seed(db)
    before = await stored(db)
    alice = db.with_user(ALICE)

    row = await alice.docs.update(s["alice_own"]["id"], {"title": "alice renamed"})
    assert row == member_view(doc(s["alice_own"]["id"], "alice renamed", 1))
    after = [dict(r) for r in before]
    after[0]["title"] = "alice renamed"
    assert await stored(db) == after

    # readable but not hers (public) / hers but locked: AccessDenied, nothing changes
    with pytest.raises(AccessDenied):
        await alice.docs.update(s["bob_public"]["id"], {"title": "hijacked"})
    with pytest.raises(AccessDenied):
        await alice.docs.update(s["alice_locked"]["id"], {"title": "unlocked?"})
    # unreadable and absent rows look the same: NotFound (no oracle)
    with pytest.raises(NotFound):
        await alice.docs.update(s["bob_private"]["id"], {"title": "hijacked"})
    with pytest.raises(NotFound):
        await alice.docs.update(MISSING, {"title": "nobody"})
    # anonymous: the rule is False
    with pytest.raises(AccessDenied):
        await db.docs.update(s["alice_own"]["id"], {"title": "anon"})
    assert await stored(db) == after


async def test_update_moving_a_row_out_of_sight_returns_only_its_id(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    s = await seed(db)
    id = s["alice_own"]["id"]
    # alice may change her doc; once it belongs to bob (private) she may no longer read it
    assert await db.with_user(ALICE).docs.update(id, {"owner": 2}) == {"id": id}
    assert await db.trusted().docs.read(id) == doc(id, "alice own", 2, note="a")
    assert await db.with_user(ALICE).docs.read(id) is None


# -- delete ---------------------------------------------------------------------------


async def test_delete_with_a_where_rule(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    s = await seed(db)
    before = await stored(db)
    alice = db.with_user(ALICE)

    deleted = await alice.docs.delete(s["alice_own"]["id"])
    assert deleted == member_view(doc(s["alice_own"]["id"], "alice own", 1))
    after = before[1:]
    assert await stored(db) == after

    with pytest.raises(AccessDenied):
        await alice.docs.delete(s["bob_public"]["id"])
    with pytest.raises(AccessDenied):
        await alice.docs.delete(s["alice_locked"]["id"])
    assert await alice.docs.delete(s["bob_private"]["id"]) is None
    assert await alice.docs.delete(MISSING) is None
    with pytest.raises(AccessDenied):
        await db.docs.delete(s["bob_public"]["id"])
    assert await stored(db) == after


async def test_a_denied_delete_inside_a_transaction_keeps_the_row(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    s = await seed(db)
    before = await stored(db)
    async with db.with_user(ALICE).transaction() as tx:
        with pytest.raises(AccessDenied):
            await tx.docs.delete(s["bob_public"]["id"])
        assert await tx.docs.delete(s["bob_private"]["id"]) is None
        # the transaction goes on
        await tx.docs.delete(s["alice_own"]["id"])
    assert await stored(db) == before[1:]


# -- field rules ----------------------------------------------------------------------


async def test_field_create_rule_denies_naming_the_field(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    alice = db.with_user(ALICE)
    with pytest.raises(AccessDenied, match="reviewed"):
        await alice.docs.create({"title": "self-reviewed", "owner": 1, "reviewed": True})
    with pytest.raises(AccessDenied, match="reviewed"):
        await alice.docs.create({"title": "even false", "owner": 1, "reviewed": False})
    with pytest.raises(AccessDenied, match="reviewed"):
        await alice.docs.create_many(
            [{"title": "fine", "owner": 1}, {"title": "not", "owner": 1, "reviewed": True}]
        )
    assert await stored(db) == []

    # the admin may; and pinned has no create rule, so alice may set it at creation
    reviewed = await db.with_user(ADMIN).docs.create(
        {"title": "reviewed", "owner": 1, "reviewed": True}
    )
    pinned = await alice.docs.create({"title": "pinned", "owner": 1, "pinned": True})
    assert await stored(db) == [
        doc(reviewed["id"], "reviewed", 1, reviewed=True),
        doc(pinned["id"], "pinned", 1, pinned=True),
    ]


async def test_field_update_rule_denies_naming_the_field(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    s = await seed(db)
    before = await stored(db)
    id = s["alice_own"]["id"]
    with pytest.raises(AccessDenied, match="reviewed"):
        await db.with_user(ALICE).docs.update(id, {"title": "new", "reviewed": True})
    with pytest.raises(AccessDenied, match="pinned"):
        await db.with_user(ALICE).docs.update(id, {"pinned": True})
    with pytest.raises(AccessDenied, match="pinned"):
        await db.with_user(ADMIN).docs.update(id, {"pinned": True})
    assert await stored(db) == before

    assert await db.with_user(ADMIN).docs.update(id, {"reviewed": True}) == doc(
        id, "alice own", 1, note="a", reviewed=True
    )
    assert await db.trusted().docs.update(id, {"pinned": True}) == doc(
        id, "alice own", 1, note="a", reviewed=True, pinned=True
    )


# -- rows that writes return ----------------------------------------------------------


async def test_rows_returned_by_writes_obey_field_read_rules(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    alice, admin = db.with_user(ALICE), db.with_user(ADMIN)
    mine = await alice.docs.create({"title": "mine", "owner": 1, "note": "n"})
    assert "note" not in mine
    assert mine == member_view(doc(mine["id"], "mine", 1))
    updated = await alice.docs.update(mine["id"], {"note": "m"})
    assert updated == member_view(doc(mine["id"], "mine", 1))
    assert await admin.docs.read(mine["id"]) == doc(mine["id"], "mine", 1, note="m")
    assert await alice.docs.delete(mine["id"]) == member_view(doc(mine["id"], "mine", 1))

    theirs = await admin.docs.create({"title": "admin's", "owner": 9, "note": "x"})
    assert theirs == doc(theirs["id"], "admin's", 9, note="x")
    assert await admin.docs.update(theirs["id"], {"note": "y"}) == doc(
        theirs["id"], "admin's", 9, note="y"
    )
    assert await admin.docs.delete(theirs["id"]) == doc(theirs["id"], "admin's", 9, note="y")
    assert await stored(db) == []


async def test_rows_the_caller_may_not_read_come_back_as_their_id_only(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    created = await db.inbox.create({"body": "hello"})
    assert created == {"id": created["id"]}
    many = await db.with_user(ALICE).inbox.create_many([{"body": "a"}, {"body": "b"}])
    assert many == [{"id": many[0]["id"]}, {"id": many[1]["id"]}]
    assert await db.trusted().query.inbox.find_many(order_by={"id": "asc"}) == [
        {"id": created["id"], "body": "hello"},
        {"id": many[0]["id"], "body": "a"},
        {"id": many[1]["id"], "body": "b"},
    ]
    # inbox has no update/delete rule, but a row the caller may not read is absent to
    # them: update -> NotFound, delete -> None, and nothing changes
    with pytest.raises(NotFound):
        await db.inbox.update(created["id"], {"body": "changed"})
    assert await db.inbox.delete(created["id"]) is None
    assert await db.with_user(ADMIN).inbox.delete(many[0]["id"]) == {
        "id": many[0]["id"],
        "body": "a",
    }
    assert await db.trusted().query.inbox.find_many(order_by={"id": "asc"}) == [
        {"id": created["id"], "body": "hello"},
        {"id": many[1]["id"], "body": "b"},
    ]


# -- trusted --------------------------------------------------------------------------


async def test_trusted_bypasses_every_rule(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    s = await seed(db)
    t = db.trusted()
    row = await t.docs.create({"title": "any", "owner": 5, "reviewed": True, "note": "seen"})
    assert row == doc(row["id"], "any", 5, reviewed=True, note="seen")
    id = s["bob_private"]["id"]
    assert await t.docs.update(id, {"locked": True, "pinned": True}) == doc(
        id, "bob private", 2, note="b", locked=True, pinned=True
    )
    assert await t.docs.delete(s["alice_locked"]["id"]) == doc(
        s["alice_locked"]["id"], "alice locked", 1, locked=True
    )
    assert [r["title"] for r in await stored(db)] == [
        "alice own",
        "bob public",
        "bob private",
        "any",
    ]
    assert await t.odd.create({"name": "no rule runs"}) == {"id": 1, "name": "no rule runs"}


# -- views ----------------------------------------------------------------------------


async def test_tx_with_user_and_tx_trusted_are_the_same_transaction(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    async with db.transaction() as tx:
        with pytest.raises(AccessDenied):
            await tx.docs.create({"title": "anon", "owner": 1})  # the plain tx is anonymous
        mine = await tx.with_user(ALICE).docs.create({"title": "alice", "owner": 1})
        with pytest.raises(AccessDenied):
            await tx.with_user(ALICE).docs.create({"title": "bob's", "owner": 2})
        other = await tx.trusted().docs.create({"title": "trusted", "owner": 2})
        # all three views see the same uncommitted rows
        assert await tx.trusted().docs.count() == 2
        assert [r["title"] for r in await tx.with_user(BOB).query.docs.find_many()] == ["trusted"]
    assert await stored(db) == [doc(mine["id"], "alice", 1), doc(other["id"], "trusted", 2)]

    with pytest.raises(Boom):
        async with db.transaction() as tx:
            await tx.with_user(ALICE).docs.create({"title": "rolled back", "owner": 1})
            await tx.trusted().docs.create({"title": "rolled back too", "owner": 2})
            raise Boom
    assert await stored(db) == [doc(mine["id"], "alice", 1), doc(other["id"], "trusted", 2)]


async def test_a_transaction_opened_on_a_view_keeps_its_user(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    s = await seed(db)
    async with db.with_user(ALICE).transaction() as tx:
        with pytest.raises(AccessDenied):
            await tx.docs.create({"title": "bob's", "owner": 2})
        mine = await tx.docs.create({"title": "alice new", "owner": 1})
        rows = await tx.query.docs.find_many(order_by={"id": "asc"})
        assert [r["title"] for r in rows] == [
            "alice own",
            "alice locked",
            "bob public",
            "alice new",
        ]
        with pytest.raises(NotFound):
            await tx.docs.update(s["bob_private"]["id"], {"title": "x"})
        async with tx.transaction() as inner:  # a savepoint keeps the user too
            with pytest.raises(AccessDenied):
                await inner.docs.create({"title": "bob's again", "owner": 2})
            assert await inner.docs.read(s["bob_private"]["id"]) is None
            await inner.docs.update(mine["id"], {"title": "alice newer"})
    assert await db.trusted().docs.read(mine["id"]) == doc(mine["id"], "alice newer", 1)
    assert await db.trusted().docs.count() == 5

    async with db.trusted().transaction() as tx:
        await tx.docs.create({"title": "anything", "owner": 7, "reviewed": True})
        assert (await tx.docs.read(s["bob_private"]["id"]))["note"] == "b"
    assert await db.trusted().docs.count() == 6


async def test_with_user_views_do_not_leak_into_each_other(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    alice, bob = db.with_user(ALICE), db.with_user(BOB)
    a = await alice.docs.create({"title": "a", "owner": 1})
    b = await bob.docs.create({"title": "b", "owner": 2})
    with pytest.raises(NotFound):
        await bob.docs.update(a["id"], {"title": "bob was here"})
    with pytest.raises(NotFound):
        await alice.docs.update(b["id"], {"title": "alice was here"})
    with pytest.raises(AccessDenied):
        await db.docs.create({"title": "plain db is anonymous", "owner": 1})
    assert await stored(db) == [doc(a["id"], "a", 1), doc(b["id"], "b", 2)]


async def test_a_hook_may_set_a_field_the_caller_may_not_write(make_db: MakeDb) -> None:
    # field write rules judge the caller's data, before the hooks run
    def approve(ctx: Any, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "approved": data.get("body") == "fine"}

    Posts = collection(
        slug="posts",
        timestamps=False,
        fields={
            "body": field(type=text()),
            "approved": field(type=boolean(), access={"create": lambda ctx: False}),
        },
        hooks={"before_change": [approve]},
    )
    db = await make_db([Posts])
    with pytest.raises(AccessDenied, match="approved"):
        await db.posts.create({"body": "fine", "approved": True})
    row = await db.posts.create({"body": "fine"})
    assert row == {"id": row["id"], "body": "fine", "approved": True}
    other = await db.posts.update(row["id"], {"body": "changed"})
    assert other == {"id": row["id"], "body": "changed", "approved": False}
    assert await db.trusted().query.posts.find_many() == [other]


def test_unknown_access_keys_and_non_callable_rules_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="reed"):
        collection(slug="bad", fields={"x": field(type=text())}, access={"reed": is_admin})
    with pytest.raises(ConfigError, match="read"):
        collection(slug="bad", fields={"x": field(type=text())}, access={"read": True})
    # field rules: read/create/update only, callables only (checked by collection(...))
    with pytest.raises(ConfigError, match="delete"):
        collection(slug="bad", fields={"x": field(type=text(), access={"delete": is_admin})})
    with pytest.raises(ConfigError, match="read"):
        collection(slug="bad", fields={"x": field(type=text(), access={"read": "admins"})})
