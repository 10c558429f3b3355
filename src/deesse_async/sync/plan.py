"""``SyncPlan``: the SQL that brings a database to its collections, judged statement by
statement (frozen data; built by ``plan_builder.py``, applied by ``push.py``).

This module stays light (``import deesse_async`` loads it): alembic and sqlglot are
imported when a plan is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from ..errors import (
    DeesseError,
)
from .risk import RISKS, Risk

if TYPE_CHECKING:
    pass

__all__ = [
    "DataConflict",
    "PlanChange",
    "PlannedStatement",
    "Risk",
    "SyncPlan",
]

PLAN_FORMAT = 1


class PlannedStatement(NamedTuple):
    """One statement of a plan: ``sql, risk, reason = statement`` or ``statement.risk``."""

    sql: str
    risk: Risk
    reason: str


class DataConflict(NamedTuple):
    """Rows that would make a plan fail: found by reading the data before applying.

    ``problem`` says what was found ("3 rows have NULL in tasks.due_on"), ``fix`` what
    to do; ``rows`` counts the offending rows (or duplicate values); ``kind`` is one of
    ``not_null``, ``unique``, ``length``, ``check``.
    """

    table: str
    column: str
    rows: int
    problem: str
    fix: str
    kind: str

    @property
    def message(self) -> str:
        """``will fail: <problem>; <fix>``."""
        return f"will fail: {self.problem}; {self.fix}"


class PlanChange(NamedTuple):
    """One schema change of a plan as a person reads it, and the statements it takes.

    ``summary`` names the change and the data it loses ("drop column tasks.color
    (2 values)"; on SQLite "rebuild tasks: drop column color (2 values)");
    ``statements`` are indexes into ``SyncPlan.statements``.
    """

    summary: str
    risk: Risk
    statements: tuple[int, ...]


@dataclass(frozen=True)
class SyncPlan:
    """The statements that bring the database to the collections, each with its risk.

    ``affected_rows[i]`` is the number of rows whose data ``statements[i]`` destroys
    (rows of a dropped table, non-NULL values of a dropped or converted column), or
    None for statements that destroy nothing. ``hints`` explain probable mistakes, such
    as a rename written as drop + add. ``conflicts`` lists rows that would make the plan
    fail (``push`` then refuses it before any statement runs). ``changes`` groups the
    statements by schema change (a SQLite table rebuild is one change of several
    statements) with a summary that names the data each loses.

    >>> plan = SyncPlan([PlannedStatement("DROP TABLE tags", "destructive", "...")], [3])
    >>> plan.has_data_loss, plan.data_loss[0][1]
    (True, 3)
    """

    statements: list[PlannedStatement] = field(default_factory=list)
    affected_rows: list[int | None] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    created_tables: list[str] = field(default_factory=list)
    dialect: str = ""
    conflicts: list[DataConflict] = field(default_factory=list)
    changes: list[PlanChange] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """True when the database already matches the collections."""
        return not self.statements

    @property
    def has_data_loss(self) -> bool:
        """True when a statement is destructive (``push`` then needs ``accept_data_loss``)."""
        return any(s.risk == "destructive" for s in self.statements)

    @property
    def data_loss(self) -> list[tuple[PlannedStatement, int | None]]:
        """The destructive statements with the number of rows each affects."""
        rows = self.affected_rows + [None] * (len(self.statements) - len(self.affected_rows))
        return [
            (s, n) for s, n in zip(self.statements, rows, strict=True) if s.risk == "destructive"
        ]

    @property
    def unsafe(self) -> list[PlannedStatement]:
        """Statements that lose no data but can fail or break code (applied with a warning)."""
        return [s for s in self.statements if s.risk == "unsafe"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; ``SyncPlan.from_dict`` reads it back."""
        rows = self.affected_rows + [None] * (len(self.statements) - len(self.affected_rows))
        return {
            "format": PLAN_FORMAT,
            "dialect": self.dialect,
            "statements": [
                {"sql": s.sql, "risk": s.risk, "reason": s.reason, "affected_rows": n}
                for s, n in zip(self.statements, rows, strict=True)
            ],
            "hints": list(self.hints),
            "created_tables": list(self.created_tables),
            "conflicts": [c._asdict() for c in self.conflicts],
            "changes": [
                {"summary": c.summary, "risk": c.risk, "statements": list(c.statements)}
                for c in self.changes
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncPlan:
        """Rebuild a plan from ``to_dict()`` output (e.g. ``deesse plan --json``)."""
        try:
            if data["format"] != PLAN_FORMAT:
                raise ValueError(f"format {data['format']!r} is not {PLAN_FORMAT}")
            items = list(data["statements"])
            statements = [_statement(item) for item in items]
            rows = [_rows(item.get("affected_rows")) for item in items]
            hints = [str(h) for h in data.get("hints", [])]
            created = [str(t) for t in data.get("created_tables", [])]
            conflicts = [_conflict(c) for c in data.get("conflicts", [])]
            changes = [_change(c, len(statements)) for c in data.get("changes", [])]
            dialect = str(data.get("dialect", ""))
            return cls(statements, rows, hints, created, dialect, conflicts, changes)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DeesseError(
                f"not a SyncPlan dict ({exc}); produce it with SyncPlan.to_dict() or "
                "`deesse plan --json`"
            ) from None

    def grouped(self) -> list[PlanChange]:
        """``changes``, or one change per statement for a plan built without them."""
        covered = sorted(n for c in self.changes for n in c.statements)
        if self.changes and covered == list(range(len(self.statements))):
            return list(self.changes)
        # Built without changes, or cut down (``dataclasses.replace``) without them.
        return [
            PlanChange(" ".join(s.sql.split()), s.risk, (n,)) for n, s in enumerate(self.statements)
        ]

    def summary(self, *, risks: Sequence[Risk] = RISKS) -> str:
        """Plain text, one line per change: risk and summary, then the conflicts.

        A one-statement change also shows its SQL; a SQLite rebuild's statements are
        left to ``describe()`` (``deesse plan --sql``).
        """
        lines = []
        for change in self.grouped():
            if change.risk not in risks:
                continue
            lines.append(f"  [{change.risk}] {change.summary}")
            sql = " ".join(self.statements[change.statements[0]].sql.split())
            if len(change.statements) == 1 and sql != change.summary:
                lines.append(f"      {sql}")
        lines += [f"  {c.message}" for c in self.conflicts]
        return "\n".join(lines)

    def describe(self, statements: Sequence[PlannedStatement] | None = None) -> str:
        """Plain text, one line per statement: risk, SQL on one line, affected rows."""
        chosen = self.statements if statements is None else list(statements)
        rows = dict(zip(self.statements, self.affected_rows, strict=False))
        lines = []
        for s in chosen:
            count = rows.get(s)
            suffix = f"  ({count} row{'s' * (count != 1)} affected)" if count is not None else ""
            lines.append(f"  [{s.risk}] {' '.join(s.sql.split())}{suffix}")
        return "\n".join(lines)


def _statement(item: Mapping[str, Any]) -> PlannedStatement:
    risk = item["risk"]
    if risk not in RISKS:
        raise ValueError(f"unknown risk {risk!r}")
    return PlannedStatement(str(item["sql"]), cast(Risk, risk), str(item["reason"]))


def _conflict(item: Mapping[str, Any]) -> DataConflict:
    rows = _rows(item["rows"])
    if rows is None:
        raise ValueError("a conflict needs its row count")
    text = [str(item[k]) for k in ("table", "column", "problem", "fix", "kind")]
    return DataConflict(text[0], text[1], rows, text[2], text[3], text[4])


def _change(item: Mapping[str, Any], count: int) -> PlanChange:
    risk = item["risk"]
    if risk not in RISKS:
        raise ValueError(f"unknown risk {risk!r}")
    indexes = tuple(int(n) for n in item["statements"])
    if any(not 0 <= n < count for n in indexes):
        raise ValueError(f"change {item['summary']!r} names a statement the plan lacks")
    return PlanChange(str(item["summary"]), cast(Risk, risk), indexes)


def _rows(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"affected_rows {value!r} is not an integer")
    return value
