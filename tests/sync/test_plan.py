"""SyncPlan as data: named-tuple statements, JSON round trip, data-loss views."""

from __future__ import annotations

import json

import pytest

from deesse_async import DeesseError, PlannedStatement, SyncPlan

PLAN = SyncPlan(
    statements=[
        PlannedStatement(
            "CREATE TABLE tags (id INTEGER)", "safe", "CREATE TABLE tags is additive."
        ),
        PlannedStatement("ALTER TABLE posts ADD CONSTRAINT uq UNIQUE (slug)", "unsafe", "dupes"),
        PlannedStatement("ALTER TABLE posts DROP COLUMN body", "destructive", "loses data."),
    ],
    affected_rows=[None, None, 7],
    hints=["posts.body was dropped ..."],
    created_tables=["tags"],
    dialect="postgresql",
)


def test_statements_unpack_as_named_tuples() -> None:
    sql, risk, reason = PLAN.statements[2]
    assert (risk, PLAN.statements[2].risk) == ("destructive", "destructive")
    assert sql.startswith("ALTER TABLE") and reason == "loses data."


def test_views_of_the_plan() -> None:
    assert not PLAN.is_empty and PLAN.has_data_loss
    assert PLAN.data_loss == [(PLAN.statements[2], 7)]
    assert PLAN.unsafe == [PLAN.statements[1]]
    assert SyncPlan().is_empty and not SyncPlan().has_data_loss
    assert "(7 rows affected)" in PLAN.describe()


def test_json_round_trip() -> None:
    data = json.loads(json.dumps(PLAN.to_dict()))
    assert data["statements"][2] == {
        "sql": "ALTER TABLE posts DROP COLUMN body",
        "risk": "destructive",
        "reason": "loses data.",
        "affected_rows": 7,
    }
    assert SyncPlan.from_dict(data) == PLAN


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"format": 99, "statements": []},
        {"format": 1, "statements": [{"sql": "x", "risk": "scary", "reason": "r"}]},
        {
            "format": 1,
            "statements": [{"sql": "x", "risk": "safe", "reason": "r", "affected_rows": "3"}],
        },
        {"format": 1, "statements": "nope"},
    ],
)
def test_from_dict_rejects_what_to_dict_does_not_make(data: dict[str, object]) -> None:
    with pytest.raises(DeesseError, match="not a SyncPlan dict"):
        SyncPlan.from_dict(data)
