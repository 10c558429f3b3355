"""Prepared queries bound to callers whose rules differ in shape (API.md §5)."""

from __future__ import annotations

from typing import Any

import pytest

from deesse_async import collection, field, integer, placeholder, required, text
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio


def read_rule(ctx: Any) -> Any:
    if ctx.user is None:
        return False
    if ctx.user.get("admin"):
        return True
    return {"owner": ctx.user["id"]}


Files = collection(
    slug="files",
    timestamps=False,
    fields={"name": required(field(type=text())), "owner": field(type=integer())},
    access={"read": read_rule},
)


@pytest.mark.parametrize("strategy", ["lateral", "batched"])
async def test_one_prepared_query_serves_three_rule_shapes(make_db: MakeDb, strategy: str) -> None:
    db = await make_db([Files])
    for name, owner in (("a", 1), ("b", 2), ("c", 1)):
        await db.trusted().files.create({"name": name, "owner": owner})
    by_id = db.query.files.find_first(
        where={"id": placeholder("id")}, columns={"name": True}, strategy=strategy
    ).prepare()
    page = db.query.files.find_many(
        columns={"name": True}, limit=placeholder("n"), order_by={"id": "asc"}, strategy=strategy
    ).prepare()
    # Anonymous (False): the rule folds the placeholder away; the values are still accepted.
    assert await by_id.execute(id=1) is None
    assert await page.execute(n=10) == []
    owner = by_id.with_user({"id": 1})
    assert await owner.execute(id=1) == {"name": "a"}
    assert await owner.execute(id=2) is None
    assert await page.with_user({"id": 1}).execute(n=10) == [{"name": "a"}, {"name": "c"}]
    assert await page.with_user({"id": 2}).execute(n=10) == [{"name": "b"}]
    admin = page.with_user({"id": 9, "admin": True})
    assert await admin.execute(n=2) == [{"name": "a"}, {"name": "b"}]
    assert await page.trusted().execute(n=3) == [{"name": "a"}, {"name": "b"}, {"name": "c"}]
    # Placeholders are still checked for every caller.
    for prepared in (by_id, owner, by_id.trusted()):
        with pytest.raises(Exception, match="placeholder values: missing 'id'"):
            await prepared.execute()
    # Three shapes (False, a where-dict, True) each compiled once, whatever the users.
    access = page.query.access
    assert access is not None
    assert len(access._plans) == 3
    for user in ({"id": 3}, {"id": 4}, None, {"admin": True, "id": 5}):
        await page.with_user(user).execute(n=1)
    assert len(access._plans) == 3


def shaped_rule(ctx: Any) -> Any:
    """Where-dicts of one skeleton with other values, and of other skeletons."""
    return ctx.user["where"]


Shaped = collection(
    slug="shaped",
    timestamps=False,
    fields={"name": field(type=text()), "owner": field(type=integer())},
    access={"read": shaped_rule},
)


async def test_rule_values_are_bound_anew_for_each_execution(make_db: MakeDb) -> None:
    from deesse_async import ConfigError

    db = await make_db([Shaped])
    for name, owner in (("a", 1), ("b", 2), (None, 3)):
        await db.trusted().shaped.create({"name": name, "owner": owner})
    page = db.query.shaped.find_many(columns={"owner": True}, order_by={"id": "asc"}).prepare()

    async def owners(where: Any) -> list[int]:
        return [r["owner"] for r in await page.with_user({"where": where}).execute()]

    assert await owners({"owner": 1}) == [1]
    assert await owners({"owner": 2}) == [2]
    assert await owners({"owner": {"in": [1, 3]}}) == [1, 3]
    assert await owners({"owner": {"in": [2]}}) == [2]
    assert await owners({"name": {"is_null": True}}) == [3]
    assert await owners({"name": {"is_null": False}}) == [1, 2]
    assert await owners({"name": None}) == [3]
    assert await owners({"OR": [{"owner": 3}, {"name": "a"}]}) == [1, 3]
    assert await owners({"OR": [{"owner": 2}, {"name": "zz"}]}) == [2]
    assert await owners({"owner": {"in": [None, 2]}}) == [2]
    with pytest.raises(
        ConfigError, match=r"access rule shaped\.read\.owner: expected an integer, got 'x'"
    ):
        await owners({"owner": "x"})
    assert await owners({"owner": 1}) == [1]  # the same skeleton after the failure


async def test_a_boolean_in_a_rule_is_bound_like_any_value(make_db: MakeDb) -> None:
    from deesse_async import boolean

    Flags = collection(
        slug="flags",
        timestamps=False,
        fields={"name": field(type=text()), "public": field(type=boolean())},
        access={"read": lambda ctx: {"public": ctx.user["public"]}},
    )
    db = await make_db([Flags])
    await db.trusted().flags.create_many(
        [{"name": "a", "public": True}, {"name": "b", "public": False}]
    )
    page = db.query.flags.find_many(columns={"name": True}).prepare()
    for _ in range(2):  # parsed once, then bound from the template
        assert await page.with_user({"public": True}).execute() == [{"name": "a"}]
        assert await page.with_user({"public": False}).execute() == [{"name": "b"}]
    templates = page.query.access._templates[0]._by_skeleton  # type: ignore[union-attr]
    assert all(t is not None for t in templates.values()) and len(templates) == 2
