"""Hooks (API.md §5, access-spec.md "Hooks"): order, reshaping, aborting, ctx, on_commit,
recursion.

Every test builds its own small collections (``lists`` 1-n ``items``, and ``audit``) with
the hooks it needs; the hooks record what they saw in a list. What is stored is read
back through ``db.trusted()``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from anyio.lowlevel import checkpoint

import deesse_async
from deesse_async import (
    AccessDenied,
    Collection,
    ConfigError,
    Database,
    ValidationError,
    collection,
    field,
    integer,
    relation,
    required,
    text,
)
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio

USER = {"id": 1, "name": "ann"}


class Boom(Exception):
    pass


def world(
    items: Mapping[str, list[Callable[..., Any]]] | None = None,
    lists: Mapping[str, list[Callable[..., Any]]] | None = None,
    audit: Mapping[str, list[Callable[..., Any]]] | None = None,
    audit_access: Mapping[str, Callable[..., Any]] | None = None,
) -> list[Collection]:
    Lists = collection(
        slug="lists",
        timestamps=False,
        fields={"name": required(field(type=text(min=1, max=50)))},
        hooks=lists,
    )
    Items = collection(
        slug="items",
        timestamps=False,
        fields={
            "name": required(field(type=text(min=1, max=50))),
            "qty": field(type=integer(min=0)),
            "list": field(type=relation("lists", related_name="items")),
        },
        hooks=items,
    )
    Audit = collection(
        slug="audit",
        timestamps=False,
        fields={"event": required(field(type=text(min=1, max=200)))},
        hooks=audit,
        access=audit_access,
    )
    return [Lists, Items, Audit]


def item(id: int, name: str, qty: int | None = None, list_id: int | None = None) -> dict[str, Any]:
    return {"id": id, "name": name, "qty": qty, "list_id": list_id}


async def items(db: Database) -> list[dict[str, Any]]:
    return await db.trusted().query.items.find_many(order_by={"id": "asc"})


async def audit(db: Database) -> list[str]:
    return [r["event"] for r in await db.trusted().query.audit.find_many(order_by={"id": "asc"})]


# -- order ----------------------------------------------------------------------------


async def test_hooks_run_in_order_and_before_change_chains(make_db: MakeDb) -> None:
    log: list[tuple[str, Any]] = []

    def b1(ctx: Any, data: dict[str, Any]) -> dict[str, Any]:
        log.append(("b1", dict(data)))
        return {**data, "name": data["name"] + "-b1"}

    def b2(ctx: Any, data: dict[str, Any]) -> dict[str, Any]:
        log.append(("b2", dict(data)))
        return {**data, "name": data["name"] + "-b2"}

    def b3(ctx: Any, data: dict[str, Any]) -> None:  # None keeps the data
        log.append(("b3", dict(data)))

    def a1(ctx: Any, row: dict[str, Any]) -> None:
        log.append(("a1", dict(row)))

    def a2(ctx: Any, row: dict[str, Any]) -> None:
        log.append(("a2", dict(row)))

    db = await make_db(world(items={"before_change": [b1, b2, b3], "after_change": [a1, a2]}))
    row = await db.items.create({"name": "x", "qty": 1, "list_id": None})
    expected = item(row["id"], "x-b1-b2", 1)
    assert row == expected
    assert log == [
        ("b1", {"name": "x", "qty": 1, "list_id": None}),
        ("b2", {"name": "x-b1", "qty": 1, "list_id": None}),
        ("b3", {"name": "x-b1-b2", "qty": 1, "list_id": None}),
        ("a1", expected),
        ("a2", expected),
    ]
    assert await items(db) == [expected]


async def test_before_change_on_update_gets_the_partial_data(make_db: MakeDb) -> None:
    log: list[tuple[str, Any]] = []

    def before(ctx: Any, data: dict[str, Any]) -> None:
        log.append(("before", dict(data)))

    def after(ctx: Any, row: dict[str, Any]) -> None:
        log.append(("after", dict(row)))

    db = await make_db(world(items={"before_change": [before], "after_change": [after]}))
    row = await db.trusted().items.create({"name": "x", "qty": 1, "list_id": None})
    log.clear()
    assert await db.items.update(row["id"], {"qty": 5}) == item(row["id"], "x", 5)
    assert log == [("before", {"qty": 5}), ("after", item(row["id"], "x", 5))]


async def test_async_hooks_run_in_order_with_sync_ones(make_db: MakeDb) -> None:
    log: list[str] = []

    async def b1(ctx: Any, data: dict[str, Any]) -> dict[str, Any]:
        await checkpoint()
        log.append("b1")
        return {**data, "qty": 10}

    def b2(ctx: Any, data: dict[str, Any]) -> dict[str, Any]:
        log.append(f"b2 qty={data['qty']}")
        return {**data, "qty": data["qty"] + 1}

    async def a1(ctx: Any, row: dict[str, Any]) -> None:
        await checkpoint()
        log.append(f"a1 qty={row['qty']}")

    async def bd(ctx: Any, id: Any) -> None:
        await checkpoint()
        log.append(f"bd {id}")

    async def ad(ctx: Any, row: dict[str, Any]) -> None:
        await checkpoint()
        log.append(f"ad {row['name']}")

    db = await make_db(
        world(
            items={
                "before_change": [b1, b2],
                "after_change": [a1],
                "before_delete": [bd],
                "after_delete": [ad],
            }
        )
    )
    row = await db.items.create({"name": "x"})
    assert row == item(row["id"], "x", 11)
    await db.items.delete(row["id"])
    assert log == ["b1", "b2 qty=10", "a1 qty=11", f"bd {row['id']}", "ad x"]
    assert await items(db) == []


# -- before_change reshaping ----------------------------------------------------------


async def test_before_change_may_reshape_data_and_it_is_validated_again(make_db: MakeDb) -> None:
    def shape(ctx: Any, data: dict[str, Any]) -> dict[str, Any]:
        if "name" in data and data["name"].startswith("empty"):
            return {**data, "name": ""}  # violates text(min=1)
        if data.get("qty") == 7:
            return {**data, "qty": -1}  # violates integer(min=0)
        if "name" in data:
            return {**data, "qty": len(data["name"])}  # a key the caller did not give
        return data

    db = await make_db(world(items={"before_change": [shape]}))
    row = await db.items.create({"name": "four"})
    assert row == item(row["id"], "four", 4)
    with pytest.raises(ValidationError):
        await db.items.create({"name": "empty please"})
    with pytest.raises(ValidationError):
        await db.items.create({"name": "x", "qty": 7})  # qty is replaced by 1 first
    with pytest.raises(ValidationError):
        await db.items.update(row["id"], {"qty": 7})
    with pytest.raises(ValidationError):
        await db.items.create_many([{"name": "fine"}, {"name": "empty"}])
    assert await items(db) == [item(row["id"], "four", 4)]


async def test_before_change_returning_a_wrongly_typed_value_is_a_validation_error(
    make_db: MakeDb,
) -> None:
    def bad(ctx: Any, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "qty": "lots"}

    db = await make_db(world(items={"before_change": [bad]}))
    with pytest.raises(ValidationError):
        await db.items.create({"name": "x"})
    assert await items(db) == []


# -- a hook that raises ---------------------------------------------------------------


async def test_a_raising_before_change_aborts_with_nothing_written(make_db: MakeDb) -> None:
    def refuse(ctx: Any, data: dict[str, Any]) -> None:
        if data.get("name") == "bad" or data.get("qty") == 13:
            raise Boom

    db = await make_db(world(items={"before_change": [refuse]}))
    row = await db.items.create({"name": "good", "qty": 1})
    with pytest.raises(Boom):
        await db.items.create({"name": "bad"})
    with pytest.raises(Boom):
        await db.items.update(row["id"], {"qty": 13})
    with pytest.raises(Boom):
        await db.items.create_many([{"name": "ok"}, {"name": "bad"}])
    assert await items(db) == [item(row["id"], "good", 1)]


async def test_a_raising_after_change_rolls_the_write_back(make_db: MakeDb) -> None:
    def refuse(ctx: Any, row: dict[str, Any]) -> None:
        if row["name"] == "bad" or row["qty"] == 13:
            raise Boom

    db = await make_db(world(items={"after_change": [refuse]}))
    row = await db.items.create({"name": "good", "qty": 1})
    with pytest.raises(Boom):
        await db.items.create({"name": "bad"})
    with pytest.raises(Boom):
        await db.items.update(row["id"], {"qty": 13})
    with pytest.raises(Boom):
        await db.items.create_many([{"name": "first"}, {"name": "bad"}])
    assert await items(db) == [item(row["id"], "good", 1)]

    # inside an open transaction only the failed write goes; the caller commits the rest
    async with db.transaction() as tx:
        kept = await tx.items.create({"name": "kept"})
        with pytest.raises(Boom):
            await tx.items.create({"name": "bad"})
        with pytest.raises(Boom):
            await tx.items.update(row["id"], {"qty": 13})
        after = await tx.items.create({"name": "after"})
    assert await items(db) == [
        item(row["id"], "good", 1),
        item(kept["id"], "kept"),
        item(after["id"], "after"),
    ]


async def test_delete_hooks(make_db: MakeDb) -> None:
    log: list[tuple[str, Any, Any]] = []

    def before_delete(ctx: Any, id: Any) -> None:
        log.append(("before_delete", ctx.operation, id))
        if id == refuse_before:
            raise Boom

    def after_delete(ctx: Any, row: dict[str, Any]) -> None:
        log.append(("after_delete", ctx.operation, dict(row)))
        if row["name"] == "refused after":
            raise Boom

    db = await make_db(
        world(items={"before_delete": [before_delete], "after_delete": [after_delete]})
    )
    t = db.trusted().items
    gone = await t.create({"name": "gone", "qty": 2})
    first = await t.create({"name": "refused before"})
    second = await t.create({"name": "refused after"})
    refuse_before = first["id"]

    assert await db.items.delete(gone["id"]) == item(gone["id"], "gone", 2)
    assert log == [
        ("before_delete", "delete", gone["id"]),
        ("after_delete", "delete", item(gone["id"], "gone", 2)),
    ]
    log.clear()
    with pytest.raises(Boom):
        await db.items.delete(first["id"])
    with pytest.raises(Boom):
        await db.items.delete(second["id"])
    assert log == [
        ("before_delete", "delete", first["id"]),
        ("before_delete", "delete", second["id"]),
        ("after_delete", "delete", item(second["id"], "refused after")),
    ]
    assert await items(db) == [
        item(first["id"], "refused before"),
        item(second["id"], "refused after"),
    ]


# -- before_read / after_read ---------------------------------------------------------


async def test_before_read_receives_the_options_of_top_level_reads(make_db: MakeDb) -> None:
    seen: list[tuple[str, str, Any]] = []

    def before_read(ctx: Any, options: Any) -> None:
        seen.append((ctx.collection, ctx.operation, options))
        if isinstance(options, Mapping) and options.get("where") == {"name": "forbidden"}:
            raise Boom

    db = await make_db(
        world(items={"before_read": [before_read]}, lists={"before_read": [before_read]})
    )
    t = db.trusted()
    lst = await t.lists.create({"name": "l"})
    row = await t.items.create({"name": "a", "qty": 1, "list_id": lst["id"]})
    seen.clear()

    await db.query.items.find_many(
        where={"qty": {"gt": 0}}, order_by={"id": "asc"}, limit=5, with_={"list": True}
    )
    await db.query.items.find_first(where={"name": "a"}, columns={"name": True})
    assert await db.items.read(row["id"]) == item(row["id"], "a", 1, lst["id"])
    assert await db.items.count(where={"qty": 1}) == 1
    assert seen == [
        (
            "items",
            "read",
            {
                "where": {"qty": {"gt": 0}},
                "order_by": {"id": "asc"},
                "limit": 5,
                "with": {"list": True},
            },
        ),
        ("items", "read", {"where": {"name": "a"}, "columns": {"name": True}}),
        ("items", "read", {"where": {"id": row["id"]}}),
        ("items", "read", {"where": {"qty": 1}}),
    ]

    # nested levels are not top-level reads: only the lists hook runs
    seen.clear()
    await db.query.lists.find_many(with_={"items": True})
    assert seen == [("lists", "read", {"with": {"items": True}})]

    # a raising before_read aborts the read
    with pytest.raises(Boom):
        await db.query.items.find_many(where={"name": "forbidden"})


async def test_after_read_reshapes_top_level_rows(make_db: MakeDb) -> None:
    def label(ctx: Any, row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "label": row["name"].upper()}

    def mark(ctx: Any, row: dict[str, Any]) -> None:  # mutates, returns None: kept
        row["seen"] = True

    db = await make_db(world(items={"after_read": [label, mark]}))
    t = db.trusted()
    a = await t.items.create({"name": "a"})
    b = await t.items.create({"name": "b", "qty": 2})

    def shaped(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "label": row["name"].upper(), "seen": True}

    assert a == shaped(item(a["id"], "a"))  # trusted runs hooks too
    assert await db.query.items.find_many(order_by={"id": "asc"}) == [
        shaped(item(a["id"], "a")),
        shaped(item(b["id"], "b", 2)),
    ]
    assert await db.query.items.find_first(where={"name": "b"}) == shaped(item(b["id"], "b", 2))
    assert await db.items.read(a["id"]) == shaped(item(a["id"], "a"))
    assert await db.query.items.find_many(columns={"name": True}, order_by={"id": "asc"}) == [
        {"name": "a", "label": "A", "seen": True},
        {"name": "b", "label": "B", "seen": True},
    ]


@pytest.mark.parametrize("strategy", ["lateral", "batched"])
async def test_after_read_reshapes_nested_rows(make_db: MakeDb, strategy: str) -> None:
    def item_label(ctx: Any, row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "label": f"item {row['name']}"}

    def list_label(ctx: Any, row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "label": f"list {row['name']}"}

    db = await make_db(
        world(items={"after_read": [item_label]}, lists={"after_read": [list_label]})
    )
    t = db.trusted()
    lst = await t.lists.create({"name": "l"})
    empty = await t.lists.create({"name": "empty"})
    a = await t.items.create({"name": "a", "list_id": lst["id"]})
    b = await t.items.create({"name": "b", "list_id": lst["id"]})
    loose = await t.items.create({"name": "loose"})

    lists = await db.query.lists.find_many(
        order_by={"id": "asc"},
        with_={"items": {"order_by": {"id": "asc"}, "with": {"list": {"columns": {"name": True}}}}},
        strategy=strategy,
    )
    assert lists == [
        {
            "id": lst["id"],
            "name": "l",
            "label": "list l",
            "items": [
                {
                    **item(a["id"], "a", None, lst["id"]),
                    "label": "item a",
                    "list": {"name": "l", "label": "list l"},
                },
                {
                    **item(b["id"], "b", None, lst["id"]),
                    "label": "item b",
                    "list": {"name": "l", "label": "list l"},
                },
            ],
        },
        {"id": empty["id"], "name": "empty", "label": "list empty", "items": []},
    ]
    rows = await db.query.items.find_many(
        order_by={"id": "asc"}, with_={"list": True}, strategy=strategy
    )
    assert rows == [
        {
            **item(a["id"], "a", None, lst["id"]),
            "label": "item a",
            "list": {"id": lst["id"], "name": "l", "label": "list l"},
        },
        {
            **item(b["id"], "b", None, lst["id"]),
            "label": "item b",
            "list": {"id": lst["id"], "name": "l", "label": "list l"},
        },
        {**item(loose["id"], "loose"), "label": "item loose", "list": None},
    ]


async def test_after_read_reshapes_the_rows_writes_return(make_db: MakeDb) -> None:
    changed: list[dict[str, Any]] = []

    def after_change(ctx: Any, row: dict[str, Any]) -> None:
        changed.append(dict(row))

    def label(ctx: Any, row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "label": row["name"].upper()}

    db = await make_db(world(items={"after_change": [after_change], "after_read": [label]}))
    row = await db.items.create({"name": "a"})
    assert row == {**item(row["id"], "a"), "label": "A"}
    many = await db.items.create_many([{"name": "b"}, {"name": "c"}])
    assert many == [
        {**item(many[0]["id"], "b"), "label": "B"},
        {**item(many[1]["id"], "c"), "label": "C"},
    ]
    assert await db.items.update(row["id"], {"name": "z"}) == {**item(row["id"], "z"), "label": "Z"}
    assert await db.items.delete(row["id"]) == {**item(row["id"], "z"), "label": "Z"}
    # after_change got the stored row, before after_read
    assert changed == [
        item(row["id"], "a"),
        item(many[0]["id"], "b"),
        item(many[1]["id"], "c"),
        item(row["id"], "z"),
    ]


async def test_after_read_runs_after_field_read_rules(make_db: MakeDb) -> None:
    keys: list[list[str]] = []

    def after_read(ctx: Any, row: dict[str, Any]) -> None:
        keys.append(sorted(row))

    Secrets = collection(
        slug="secrets",
        timestamps=False,
        fields={
            "name": field(type=text()),
            "code": field(type=text(), access={"read": lambda ctx: False}),
        },
        hooks={"after_read": [after_read]},
    )
    db = await make_db([Secrets])
    row = await db.secrets.create({"name": "n", "code": "c"})
    assert row == {"id": row["id"], "name": "n"}
    assert await db.query.secrets.find_many() == [{"id": row["id"], "name": "n"}]
    assert keys == [["id", "name"], ["id", "name"]]
    keys.clear()
    assert await db.trusted().secrets.read(row["id"]) == {"id": row["id"], "name": "n", "code": "c"}
    assert keys == [["code", "id", "name"]]


# -- ctx ------------------------------------------------------------------------------


async def test_ctx_tells_who_what_and_where(make_db: MakeDb) -> None:
    seen: list[tuple[Any, ...]] = []
    shaped: list[tuple[Any, ...]] = []

    def record(hook: str) -> Callable[..., None]:
        def hook_fn(ctx: Any, arg: Any) -> None:
            seen.append((hook, ctx.user, ctx.trusted, ctx.operation, ctx.collection))

        return hook_fn

    def record_after_read(ctx: Any, row: Any) -> None:
        # after_read also runs on the rows writes return; where it runs among the write's
        # hooks and which operation it reports there is not specified, so kept apart
        shaped.append((ctx.user, ctx.trusted, ctx.collection, row["id"]))

    names = ["before_change", "after_change", "before_read", "before_delete", "after_delete"]
    hooks = {name: [record(name)] for name in names}
    db = await make_db(world(items={**hooks, "after_read": [record_after_read]}))

    row = await db.with_user(USER).items.create({"name": "a"})
    id = row["id"]
    assert seen == [
        ("before_change", USER, False, "create", "items"),
        ("after_change", USER, False, "create", "items"),
    ]
    assert shaped == [(USER, False, "items", id)]
    seen.clear()
    shaped.clear()
    await db.items.update(id, {"qty": 1})
    assert seen == [
        ("before_change", None, False, "update", "items"),
        ("after_change", None, False, "update", "items"),
    ]
    assert shaped == [(None, False, "items", id)]
    seen.clear()
    shaped.clear()
    await db.trusted().query.items.find_many()
    assert seen == [("before_read", None, True, "read", "items")]
    assert shaped == [(None, True, "items", id)]
    seen.clear()
    shaped.clear()
    async with db.with_user(USER).transaction() as tx:
        await tx.items.delete(id)
    assert seen == [
        ("before_delete", USER, False, "delete", "items"),
        ("after_delete", USER, False, "delete", "items"),
    ]
    assert shaped == [(USER, False, "items", id)]


async def test_ctx_db_works_in_the_operation_transaction(make_db: MakeDb) -> None:
    async def write_audit(ctx: Any, row: dict[str, Any]) -> None:
        # ctx.db sees the row of this very operation, not yet committed
        again = await ctx.db.items.read(row["id"])
        await ctx.db.audit.create({"event": f"{ctx.operation} {again['name']} {again['qty']}"})

    def fail_on_bad(ctx: Any, row: dict[str, Any]) -> None:
        if row["name"] == "bad" or row["qty"] == 13:
            raise Boom

    async def audit_delete(ctx: Any, row: dict[str, Any]) -> None:
        assert await ctx.db.items.read(row["id"]) is None
        await ctx.db.audit.create({"event": f"delete {row['name']}"})

    db = await make_db(
        world(
            items={
                "after_change": [write_audit, fail_on_bad],
                "after_delete": [audit_delete, fail_on_bad],
            }
        )
    )
    good = await db.items.create({"name": "good", "qty": 1})
    with pytest.raises(Boom):
        await db.items.create({"name": "bad"})
    with pytest.raises(Boom):
        await db.items.update(good["id"], {"qty": 13})
    await db.items.update(good["id"], {"qty": 2})
    assert await audit(db) == ["create good 1", "update good 2"]

    x = await db.trusted().items.create({"name": "x"})
    async with db.transaction() as tx:
        kept = await tx.items.create({"name": "kept"})
        with pytest.raises(Boom):
            await tx.items.create({"name": "bad"})
        await tx.items.delete(x["id"])
    assert await audit(db) == [
        "create good 1",
        "update good 2",
        "create x None",
        "create kept None",
        "delete x",
    ]
    assert await items(db) == [item(good["id"], "good", 2), item(kept["id"], "kept")]


async def test_ctx_db_keeps_the_user_and_the_trust(make_db: MakeDb) -> None:
    audited: list[tuple[Any, bool]] = []

    async def write_audit(ctx: Any, row: dict[str, Any]) -> None:
        await ctx.db.audit.create({"event": f"{ctx.operation} {row['name']}"})

    def record(ctx: Any, data: dict[str, Any]) -> None:
        audited.append((ctx.user, ctx.trusted))

    def audit_create(ctx: Any) -> Any:
        # a signed-in user may write any audit row, an anonymous one only a "guest" row
        return True if ctx.user is not None else {"event": {"like": "% guest"}}

    db = await make_db(
        world(
            items={"after_change": [write_audit]},
            audit={"after_change": [record]},
            audit_access={"create": audit_create},
        )
    )
    # anonymous (plain db): ctx.db is anonymous too, so its audit row must be a guest one
    with pytest.raises(AccessDenied):
        await db.items.create({"name": "anon"})
    await db.items.create({"name": "guest"})
    await db.with_user(USER).items.create({"name": "ann's"})
    await db.trusted().items.create({"name": "trusted"})  # no rule runs for ctx.db either
    assert audited == [(None, False), (USER, False), (None, True)]
    assert await audit(db) == ["create guest", "create ann's", "create trusted"]
    assert [r["name"] for r in await items(db)] == ["guest", "ann's", "trusted"]


async def test_a_create_rule_returning_false_denies_before_any_hook_runs(
    make_db: MakeDb,
) -> None:
    # docs/access.md: the collection rule runs first, so a denied create runs no hook (a
    # where-dict rule is checked against the inserted row, after before_change).
    log: list[str] = []

    def before(ctx: Any, data: dict[str, Any]) -> None:
        log.append(f"before_change {data['event']}")

    def rule(ctx: Any) -> bool:
        log.append("create rule")
        return ctx.user is not None

    db = await make_db(world(audit={"before_change": [before]}, audit_access={"create": rule}))
    with pytest.raises(AccessDenied):
        await db.audit.create({"event": "anon"})
    await db.with_user(USER).audit.create({"event": "ann"})
    assert log == ["create rule", "create rule", "before_change ann"]
    assert await audit(db) == ["ann"]


# -- on_commit ------------------------------------------------------------------------


def on_commit_world(log: list[str], *, fail_on: str = "bad") -> list[Collection]:
    def register(ctx: Any, row: dict[str, Any]) -> None:
        name = row["name"]
        ctx.on_commit(lambda: log.append(f"committed {name}"))

    def fail(ctx: Any, row: dict[str, Any]) -> None:
        if row["name"] == fail_on:
            raise Boom

    return world(items={"after_change": [register, fail]})


async def test_on_commit_runs_right_after_a_write_on_the_plain_db(make_db: MakeDb) -> None:
    log: list[Any] = []
    db: Database

    async def check_committed(ctx: Any, row: dict[str, Any]) -> None:
        id = row["id"]

        async def callback() -> None:
            # committed: a read outside the transaction (another connection) sees it
            log.append(("visible", await db.trusted().items.read(id) is not None))

        ctx.on_commit(callback)
        log.append("after_change")

    db = await make_db(world(items={"after_change": [check_committed]}))
    await db.items.create({"name": "a"})
    assert log == ["after_change", ("visible", True)]


async def test_on_commit_runs_once_after_the_outermost_commit(make_db: MakeDb) -> None:
    log: list[str] = []
    db = await make_db(on_commit_world(log))
    async with db.transaction() as tx:
        await tx.items.create({"name": "a"})
        async with tx.transaction() as inner:
            await inner.items.create({"name": "b"})
        assert log == []  # releasing a savepoint is not a commit
        await tx.items.create({"name": "c"})
        assert log == []
    assert log == ["committed a", "committed b", "committed c"]
    # nothing runs twice afterwards
    await db.items.create({"name": "d"})
    assert log == ["committed a", "committed b", "committed c", "committed d"]


async def test_on_commit_never_runs_after_a_rollback(make_db: MakeDb) -> None:
    log: list[str] = []
    db = await make_db(on_commit_world(log))
    with pytest.raises(Boom):
        async with db.transaction() as tx:
            await tx.items.create({"name": "a"})
            raise Boom
    with pytest.raises(Boom):
        await db.items.create({"name": "bad"})  # registered, then its own write failed
    assert log == []
    assert await items(db) == []


async def test_on_commit_registered_in_a_rolled_back_savepoint_never_runs(
    make_db: MakeDb,
) -> None:
    log: list[str] = []
    db = await make_db(on_commit_world(log))
    async with db.transaction() as tx:
        await tx.items.create({"name": "outer"})
        with pytest.raises(Boom):
            async with tx.transaction() as inner:
                await inner.items.create({"name": "inner"})
                raise Boom
        # a write that fails inside the open transaction is its own rolled-back savepoint
        with pytest.raises(Boom):
            await tx.items.create({"name": "bad"})
        async with tx.transaction() as one:
            await one.items.create({"name": "kept"})
            with pytest.raises(Boom):
                async with one.transaction() as two:
                    await two.items.create({"name": "deep"})
                    raise Boom
    assert log == ["committed outer", "committed kept"]
    assert [r["name"] for r in await items(db)] == ["outer", "kept"]


async def test_on_commit_for_a_read_outside_a_transaction_runs_after_the_read(
    make_db: MakeDb,
) -> None:
    log: list[str] = []

    def after_read(ctx: Any, row: dict[str, Any]) -> None:
        name = row["name"]
        ctx.on_commit(lambda: log.append(f"read {name}"))

    db = await make_db(world(items={"after_read": [after_read]}))
    await db.trusted().items.create({"name": "a"})
    log.clear()
    assert [r["name"] for r in await db.query.items.find_many()] == ["a"]
    assert log == ["read a"]


async def test_on_commit_callbacks_that_raise_do_not_stop_the_others(make_db: MakeDb) -> None:
    log: list[str] = []

    def register(ctx: Any, row: dict[str, Any]) -> None:
        def first() -> None:
            log.append("first")
            raise Boom("first")

        async def second() -> None:
            log.append("second")
            raise ValueError("second")

        def third() -> None:
            log.append("third")

        ctx.on_commit(first)
        ctx.on_commit(second)
        ctx.on_commit(third)

    db = await make_db(world(items={"after_change": [register]}))
    with pytest.raises(Boom, match="first") as info:
        await db.items.create({"name": "a"})
    assert log == ["first", "second", "third"]
    assert any("commit" in note for note in getattr(info.value, "__notes__", []))
    assert [r["name"] for r in await items(db)] == ["a"]  # the write did commit


# -- recursion ------------------------------------------------------------------------


async def test_bounded_hook_recursion_nests_in_the_same_transaction(make_db: MakeDb) -> None:
    async def spawn(ctx: Any, row: dict[str, Any]) -> None:
        if len(row["name"]) < 4:
            await ctx.db.items.create({"name": row["name"] + "+"})
        if row["name"] == "b++":
            raise Boom

    db = await make_db(world(items={"after_change": [spawn]}))
    await db.items.create({"name": "a"})
    assert [r["name"] for r in await items(db)] == ["a", "a+", "a++", "a+++"]
    with pytest.raises(Boom):
        await db.items.create({"name": "b"})  # fails two levels down: nothing of it stays
    assert [r["name"] for r in await items(db)] == ["a", "a+", "a++", "a+++"]


async def test_unbounded_hook_recursion_is_a_hook_recursion_error(make_db: MakeDb) -> None:
    async def spawn(ctx: Any, row: dict[str, Any]) -> None:
        await ctx.db.items.create({"name": "again"})

    db = await make_db(world(items={"after_change": [spawn]}))
    with pytest.raises(deesse_async.HookRecursionError):
        await db.items.create({"name": "first"})
    assert await items(db) == []

    async with db.transaction() as tx:
        await tx.audit.create({"event": "before"})
        with pytest.raises(deesse_async.HookRecursionError):
            await tx.items.create({"name": "first"})
        await tx.audit.create({"event": "after"})
    assert await items(db) == []
    assert await audit(db) == ["before", "after"]


def test_unknown_hook_names_and_non_callables_are_config_errors() -> None:
    def hook(ctx: Any, data: Any) -> None:
        pass

    with pytest.raises(ConfigError, match="before_change"):  # did you mean
        collection(slug="bad", fields={"x": field(type=text())}, hooks={"before_chnage": [hook]})
    with pytest.raises(ConfigError, match="after_read"):
        collection(slug="bad", fields={"x": field(type=text())}, hooks={"after_read": ["hook"]})


async def test_on_commit_of_create_many_runs_once_per_registration(make_db: MakeDb) -> None:
    # Each create of a create_many registered its callback; every callback runs once.
    log: list[str] = []

    def register(ctx: Any, row: dict[str, Any]) -> None:
        name = row["name"]
        ctx.on_commit(lambda: log.append(name))

    db = await make_db(world(items={"after_change": [register]}))
    lst = await db.trusted().lists.create({"name": "l"})
    await db.items.create_many([{"name": n, "list_id": lst["id"]} for n in ("a", "b", "c")])
    assert log == ["a", "b", "c"]
