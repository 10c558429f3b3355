"""Replicas in a FastAPI app: ``db.lifespan()`` runs the poller; a request reads its
own writes; each request is its own context (as under a real server: its own task)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from .conftest import MakeDb, Replication
from .test_routing import STANDBY, elsewhere, opened

pytestmark = pytest.mark.anyio


async def test_a_request_reads_its_own_writes(replicated: tuple[Replication, MakeDb]) -> None:
    replication, make = replicated
    db = await opened(make, max_replica_lag=60)  # the marker row is on the standby
    await db.close()
    app = FastAPI(lifespan=db.lifespan(dev_sync=False))

    @app.post("/notes")
    async def create(data: dict[str, Any]) -> Any:
        note = await db.notes.create(data)
        return await db.query.notes.find_first(where={"id": note["id"]}, extras=STANDBY)

    @app.get("/notes")
    async def listing() -> Any:
        return await db.query.notes.find_many(extras=STANDBY)

    def pollers() -> int:
        return sum("replica poller" in t.get_name() for t in asyncio.all_tasks())

    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        assert pollers() == 1
        await replication.standby_sql("SELECT pg_wal_replay_pause()")
        try:
            created = (await elsewhere(client.post("/notes", json={"body": "hi"}))).json()
            assert created["body"] == "hi" and created["standby"] is False
            listed = (await elsewhere(client.get("/notes"))).json()
            assert {n["standby"] for n in listed} == {True}  # another request: stale is fine
            assert created["id"] not in {n["id"] for n in listed}
        finally:
            await replication.standby_sql("SELECT pg_wal_replay_resume()")
    assert pollers() == 0
