"""What a developer reads when a rule or hook goes wrong (docs/access.md)."""

from __future__ import annotations

from typing import Any

import pytest

from deesse_async import ConfigError, QueryError, collection, field, integer, required, text
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio


def owner_rule(ctx: Any) -> Any:
    return {"owner": ctx.user["id"]}  # TypeError for an anonymous visitor


Notes = collection(
    slug="notes",
    timestamps=False,
    fields={
        "body": required(field(type=text())),
        "owner": field(type=integer()),
        "secret": field(type=text(), access={"read": lambda ctx: ctx.user is not None}),
    },
    access={"read": owner_rule},
    hooks={"after_read": [lambda ctx, row: None if ctx.trusted else row["missing"]]},
)


async def test_a_failing_rule_keeps_its_error_with_a_note_naming_it(make_db: MakeDb) -> None:
    db = await make_db([Notes])
    with pytest.raises(TypeError) as caught:
        await db.query.notes.find_many(columns={"body": True})
    assert "deesse_async: raised by the read rule of 'notes' (owner_rule)" in caught.value.__notes__


async def test_a_failing_hook_keeps_its_error_with_a_note_naming_it(make_db: MakeDb) -> None:
    db = await make_db([Notes])
    await db.trusted().notes.create({"body": "b", "owner": 1})
    with pytest.raises(KeyError) as caught:
        await db.with_user({"id": 1}).query.notes.find_many(columns={"body": True})
    assert any("after_read hook of 'notes'" in n for n in caught.value.__notes__)


async def test_a_field_rule_returning_a_non_bool_is_a_config_error(make_db: MakeDb) -> None:
    Odd = collection(
        slug="odd",
        timestamps=False,
        fields={"name": field(type=text(), access={"read": lambda ctx: "yes"})},
    )
    db = await make_db([Odd])
    with pytest.raises(
        ConfigError, match=r"field rule odd\.name\.read returned str; a field rule returns True"
    ):
        await db.with_user({"id": 1}).odd.count()


async def test_filtering_by_a_hidden_field_names_it(make_db: MakeDb) -> None:
    Plain = collection(
        slug="plain",
        timestamps=False,
        fields={"secret": field(type=text(), access={"read": lambda ctx: False})},
    )
    db = await make_db([Plain])
    with pytest.raises(
        QueryError,
        match=r"^where\.secret: 'secret' of 'plain' is hidden from this caller by a field "
        r"access rule; filter and order only by fields the caller can see$",
    ):
        await db.query.plain.find_many(where={"secret": "x"})
    with pytest.raises(QueryError, match=r"^order_by\.secret: 'secret' of 'plain' is hidden"):
        await db.query.plain.find_many(order_by={"secret": "asc"})
    with pytest.raises(QueryError, match=r"^where\.secret: 'secret' of 'plain' is hidden"):
        await db.plain.count({"secret": {"is_null": True}})
    # The trusted view may: rules and field rules are not run at all.
    assert await db.trusted().query.plain.find_many(where={"secret": "x"}) == []


async def test_an_after_read_hook_returning_a_non_dict_is_a_config_error(make_db: MakeDb) -> None:
    Tags = collection(
        slug="tags",
        timestamps=False,
        fields={"name": field(type=text())},
        hooks={
            "after_read": [lambda ctx, row: None if ctx.trusted else True],
            "before_change": [lambda ctx, data: None if ctx.trusted else 1],
        },
    )
    db = await make_db([Tags])
    with pytest.raises(
        ConfigError, match=r"before_change hook '[^']*<lambda>' of 'tags' returned int"
    ):
        await db.tags.create({"name": "a"})
    assert await db.trusted().tags.count() == 0
    await db.trusted().tags.create({"name": "b"})
    with pytest.raises(
        ConfigError, match=r"after_read hook '[^']*<lambda>' of 'tags' returned bool"
    ):
        await db.query.tags.find_many()


async def test_a_hidden_field_error_names_the_full_option_path(make_db: MakeDb) -> None:
    from deesse_async import relation

    Owners = collection(
        slug="owners",
        timestamps=False,
        fields={"salary": field(type=integer(), access={"read": lambda ctx: False})},
    )
    Pets = collection(
        slug="pets",
        timestamps=False,
        fields={"owner": field(type=relation("owners", related_name="pets"))},
    )
    db = await make_db([Owners, Pets])
    cases = [
        ("pets", {"where": {"owner": {"salary": 1}}}, "where.owner.salary"),
        ("pets", {"with_": {"owner": {"where": {"salary": 1}}}}, "with_.owner.where.salary"),
        ("owners", {"with_": {"pets": {"with": {"owner": {"where": {"salary": 1}}}}}},
         "with_.pets.with.owner.where.salary"),
        ("pets", {"where": {"OR": [{"id": 1}, {"owner": {"salary": 1}}]}},
         "where.owner.salary"),
        ("owners", {"with_": {"pets": {"order_by": {"owner_id": "asc"}}},
                    "order_by": {"salary": "desc"}}, "order_by.salary"),
    ]  # fmt: skip
    for slug, options, path in cases:
        with pytest.raises(QueryError) as caught:
            await getattr(db.query, slug).find_many(**options)
        assert str(caught.value).startswith(f"{path}: 'salary' of 'owners' is hidden"), options


async def test_a_rule_may_look_up_permissions_through_ctx_db(make_db: MakeDb) -> None:
    """The usual team pattern: an async rule reads the caller's memberships (trusted) and
    returns a where-dict with the ids; a rule reading its own collection as the caller
    would recurse, and is stopped by the depth limit instead of the stack."""
    from deesse_async import HookRecursionError

    async def read_projects(ctx: Any) -> Any:
        if ctx.user is None:
            return False
        rows = await ctx.db.trusted().query.members.find_many(
            columns={"team": True}, where={"user": ctx.user["id"]}
        )
        return {"team": {"in": [r["team"] for r in rows]}}

    async def read_loops(ctx: Any) -> Any:
        await ctx.db.query.loops.find_many()  # as the caller: runs this rule again
        return True

    Members = collection(
        slug="members",
        timestamps=False,
        fields={"user": field(type=integer()), "team": field(type=integer())},
        access={"read": lambda ctx: False},
    )
    Projects = collection(
        slug="projects",
        timestamps=False,
        fields={"name": field(type=text()), "team": field(type=integer())},
        access={"read": read_projects},
    )
    Loops = collection(
        slug="loops", timestamps=False, fields={"n": field(type=integer())},
        access={"read": read_loops},
    )  # fmt: skip
    db = await make_db([Members, Projects, Loops])
    t = db.trusted()
    await t.members.create_many([{"user": 1, "team": 10}, {"user": 1, "team": 11}])
    await t.members.create({"user": 2, "team": 11})
    await t.projects.create_many([{"name": n, "team": k} for n, k in (("a", 10), ("b", 11))])
    await t.projects.create({"name": "c", "team": 12})

    async def names(user: Any) -> list[str]:
        view = db.with_user(user)
        return [r["name"] for r in await view.query.projects.find_many(order_by={"id": "asc"})]

    assert await names({"id": 1}) == ["a", "b"]
    assert await names({"id": 2}) == ["b"]
    assert await names({"id": 3}) == []
    assert await names(None) == []
    assert await db.with_user({"id": 1}).members.count() == 0  # members: no one reads them
    with pytest.raises(HookRecursionError, match="nested more than 16 deep"):
        await db.query.loops.find_many()
