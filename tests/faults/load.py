"""A mixed load for fault tests and the checks every fault test makes afterwards."""

from __future__ import annotations

import collections
import dataclasses
import uuid

import anyio

from deesse_async import ConnectionError, Database, DeesseError

OP_BOUND = 15.0  # seconds any single operation may take, even while the server is down


@dataclasses.dataclass
class Ledger:
    """What the workers saw."""

    acked: dict[int, str] = dataclasses.field(default_factory=dict)
    ok: int = 0
    errors: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    escaped: list[BaseException] = dataclasses.field(default_factory=list)
    unbounded: int = 0


async def one_operation(db: Database, ledger: Ledger, name: str, kind: int) -> None:
    if kind == 0:  # an autocommit write
        row = await db.tags.create({"name": name})
        ledger.acked[row["id"]] = row["name"]
    elif kind == 1:  # a transaction, terminated mid-statement or mid-COMMIT
        async with db.transaction() as tx:
            row = await tx.tags.create({"name": name})
            found = await tx.query.tags.find_first(where={"id": row["id"]})
            assert found is not None and found["name"] == name
        ledger.acked[row["id"]] = row["name"]
    else:  # a read
        await db.query.tags.find_many(order_by={"id": "desc"}, limit=20)


async def worker(db: Database, ledger: Ledger, stop: anyio.Event, n: int) -> None:
    i = 0
    while not stop.is_set():
        i += 1
        try:
            with anyio.fail_after(OP_BOUND):
                await one_operation(db, ledger, f"w{n}-{i}", i % 3)
            ledger.ok += 1
        except DeesseError as exc:
            ledger.errors[type(exc).__name__] += 1
            await anyio.sleep(0.005)
        except TimeoutError:
            ledger.unbounded += 1
        except Exception as exc:  # the failure these tests exist for
            ledger.escaped.append(exc)


async def recovers(db: Database, within: float = 15.0) -> None:
    """Ten operations in a row succeed within ``within`` seconds."""
    with anyio.fail_after(within):
        streak = 0
        while streak < 10:
            try:
                await db.query.tags.find_many(limit=1)
                await db.tags.create({"name": f"recovered-{uuid.uuid4().hex[:8]}"})
                streak += 1
            except ConnectionError:
                streak = 0
                await anyio.sleep(0.05)


async def check(db: Database, ledger: Ledger) -> None:
    assert ledger.escaped == [], [
        f"{type(e).__module__}.{type(e).__name__}: {e}" for e in ledger.escaped
    ]
    assert ledger.unbounded == 0
    await recovers(db)
    stored = {r["id"]: r["name"] for r in await db.query.tags.find_many()}
    lost = {k: v for k, v in ledger.acked.items() if stored.get(k) != v}
    assert lost == {}, f"{len(lost)} acknowledged writes are gone"
