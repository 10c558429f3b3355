"""CHECK constraints on fields added to existing tables (issue 13, defect 1).

PostgreSQL spelled our CHECK on a temporary copy of the *live* table, which lacks the
column being added: every sync path failed with ``column "kind" does not exist``.
"""

from __future__ import annotations

import pytest

from deesse_async import Field, collection, field, integer, number, required, select, text
from tests.sync.conftest import Version, fetch

pytestmark = pytest.mark.anyio

NAME = required(field(type=text(max=50)))


@pytest.mark.parametrize(
    ("new", "value", "bad"),
    [
        (field(type=select("a", "b")), "a", "c"),
        (field(type=integer(min=0)), 3, -1),
        (field(type=number(min=0.5, max=9.5)), 1.5, 10.0),
        (field(type=select("x", "y"), default="x"), "y", "z"),
    ],
    ids=["select", "integer-min", "number-range", "select-default"],
)
async def test_adding_a_field_with_a_check_to_a_table_with_rows(
    version: Version, new: Field, value: object, bad: object
) -> None:
    v1 = version([collection(slug="items", fields={"name": NAME})])
    await v1.push()
    await v1.items.create({"name": "kept"})
    v2 = version([collection(slug="items", fields={"name": NAME, "kind": new})])
    plan = await v2.plan()
    assert plan.statements and not plan.has_data_loss
    assert any("ck_items_kind" in s.sql for s in plan.statements), plan.statements
    await v2.push()
    assert await fetch(v2, "SELECT name FROM items ORDER BY id") == [("kept",)]
    assert (await v2.plan()).is_empty
    await v2.items.create({"name": "new", "kind": value})
    assert [r["kind"] for r in await v2.query.items.find_many(order_by={"id": "asc"})][1] == value
    with pytest.raises(Exception, match="kind"):
        await v2.items.create({"name": "bad", "kind": bad})


async def test_retyping_a_column_that_gets_a_check(version: Version) -> None:
    """The CHECK is spelled against the new type, not the live one (text -> integer)."""
    v1 = version([collection(slug="items", fields={"name": NAME, "n": field(type=text())})])
    await v1.push()
    v2 = version([collection(slug="items", fields={"name": NAME, "n": field(type=integer(min=0))})])
    plan = await v2.plan()
    assert any("ck_items_n" in s.sql for s in plan.statements)
    await v2.push(accept_data_loss=True)
    assert (await v2.plan()).is_empty
    await v2.items.create({"name": "n", "n": 5})
    with pytest.raises(Exception, match="n"):
        await v2.items.create({"name": "m", "n": -1})
