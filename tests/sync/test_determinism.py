"""Plans do not depend on the hash seed: byte-identical in every process (issue 13, defect 3).

Every dev sync plans in a fresh interpreter, and the plan a person approved must equal
the plan that is about to be applied. Two long-lived planner processes with different
``PYTHONHASHSEED``s plan the same collections against the same database.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deesse_async import define_config
from tests.sync.planworker import ROOT, PlanWorkers
from tests.sync.specs import Spec, collections

pytestmark = pytest.mark.anyio


def _f(kind: str, **extra: Any) -> dict[str, Any]:
    args = extra.pop("args", {})
    return {"type": kind, "args": args, **extra}


# Every kind of constraint a table can have, on several tables.
V1: Spec = [
    {
        "slug": "users",
        "fields": {
            "name": _f("text", args={"max": 40}, required=True),
            "email": _f("email", unique=True),
            "age": _f("integer", args={"min": 0, "max": 150}),
            "score": _f("number", args={"min": 0.0}, index=True),
            "role": _f("select", args={"choices": ["admin", "user"]}, default="user"),
            "code": _f("text", args={"max": 10}, unique=True),
            "born": _f("date", index=True),
        },
    },
    {
        "slug": "tags",
        "fields": {
            "label": _f("text", args={"max": 30}, unique=True, required=True),
            "weight": _f("integer", args={"min": 1}),
        },
    },
    {
        "slug": "posts",
        "fields": {
            "title": _f("text", args={"max": 100}, required=True, unique=True),
            "status": _f("select", args={"choices": ["draft", "live"]}),
            "rank": _f("integer", args={"min": 0}, index=True),
            "author": _f("relation", args={"target": "users"}),
            "editor": _f("relation", args={"target": "users"}),
            "tags": _f("relation", args={"target": "tags", "many": True}),
            "meta": _f("json"),
        },
    },
]


def _v2() -> Spec:
    """Changes that rebuild every table on SQLite and touch every constraint kind."""
    spec = copy.deepcopy(V1)
    users, tags, posts = spec
    users["fields"]["name"]["args"] = {"max": 80}
    users["fields"]["age"]["args"] = {"min": 0, "max": 200}
    users["fields"]["nick"] = _f("text", args={"max": 20}, unique=True)
    users["fields"]["level"] = _f("integer", args={"min": 1, "max": 9}, index=True)
    tags["fields"]["weight"]["required"] = False
    tags["fields"]["colour"] = _f("select", args={"choices": ["red", "blue"]})
    posts["fields"]["status"]["args"] = {"choices": ["draft", "live", "gone"]}
    posts["fields"]["rank"]["index"] = False
    posts["fields"]["rank"]["unique"] = True
    posts["fields"]["reviewer"] = _f("relation", args={"target": "users"})
    posts["fields"]["score"] = _f("number", args={"min": 0.0, "max": 5.0})
    del posts["fields"]["meta"]
    return spec


@pytest.fixture(scope="module")
def workers() -> Iterator[PlanWorkers]:
    pool = PlanWorkers(seeds=(1, 2, 3))
    yield pool
    pool.close()


def _same(answers: list[str]) -> dict[str, Any]:
    assert len(set(answers)) == 1, "plans differ between hash seeds:\n" + "\n".join(answers)
    answer = json.loads(answers[0])
    assert "plan" in answer, answer
    return dict(answer["plan"])


async def test_plans_are_identical_whatever_the_hash_seed(
    database_url: str, backend: str, workers: PlanWorkers
) -> None:
    created = _same(workers.plans(V1, database_url))
    assert len(created["statements"]) > 5
    db = define_config(provider=database_url, collections=collections(V1))
    try:
        await db.push()
        await db.users.create({"name": "a", "email": "a@x.io", "code": "c1"})
    finally:
        await db.close()
    changed = _same(workers.plans(_v2(), database_url))
    sql = "\n".join(s["sql"] for s in changed["statements"])
    assert "nick" in sql and "reviewer" in sql and "gone" in sql
    if backend == "sqlite":  # the rebuilds whose CREATE TABLE order used to vary
        assert sql.count("CREATE TABLE _alembic_tmp_") == 3
    db = define_config(provider=database_url, collections=collections(_v2()))
    try:
        await db.push(accept_data_loss=True)  # drops posts.meta
        assert (await db.users.read(1) or {}).get("code") == "c1"
        assert (await db.plan()).is_empty
    finally:
        await db.close()
    assert _same(workers.plans(_v2(), database_url))["statements"] == []


def test_deesse_plan_json_is_identical_across_hash_seeds(tmp_path: Path) -> None:
    """The issue's repro: `PYTHONHASHSEED=$s deesse plan --json | md5sum` for several s."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    (tmp_path / "app.py").write_text(
        "from deesse_async import define_config\n"
        "from tests.sync.specs import collections\n"
        f"SPEC = {V1!r}\n"
        f"db = define_config(provider={url!r}, collections=collections(SPEC))\n"
    )
    outputs = set()
    for seed in (1, 2, 3):
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), str(tmp_path)])
        result = subprocess.run(
            [sys.executable, "-m", "deesse_async.cli", "plan", "--json", "--app", "app:db"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1, outputs
