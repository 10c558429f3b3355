"""The risk a schema change poses to data already stored, and the verdict that says why.

Every part of the schema sync speaks this vocabulary: the sentinel's verdicts, the plan's
statements and changes, the dev engine's reload messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["RANK", "RISKS", "Classification", "Risk", "fitting", "worst"]

Risk = Literal["safe", "unsafe", "destructive"]
RISKS: Final[tuple[Risk, ...]] = ("safe", "unsafe", "destructive")
RANK: Final[dict[Risk, int]] = {risk: rank for rank, risk in enumerate(RISKS)}


@dataclass(frozen=True, slots=True)
class Classification:
    """The risk of some SQL and one sentence explaining it."""

    risk: Risk
    reason: str


def worst(items: Iterable[Classification]) -> Classification | None:
    """The riskiest verdict; of equal ones the first, so the earliest reason wins a tie.

    >>> worst([Classification("unsafe", "a"), Classification("unsafe", "b")]).reason
    'a'
    """
    return max(items, key=lambda item: RANK[item.risk], default=None)


_FITS: Final = " Every value stored now fits the new type (read before planning): nothing is lost."


def fitting(verdict: Classification, fits: bool) -> Classification:
    """A narrowing the data was checked against loses nothing: unsafe, not destructive."""
    if fits and verdict.risk == "destructive":
        return Classification("unsafe", verdict.reason + _FITS)
    return verdict
