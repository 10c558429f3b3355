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
