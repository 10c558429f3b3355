"""Schema sync: plans with risk-classified statements, and the sqlglot risk classifier.

``classify``/``classify_many`` load sqlglot on first use, so that ``import deesse_async``
stays fast.
"""

from typing import TYPE_CHECKING, Any

from .plan import DataConflict, PlanChange, PlannedStatement, SyncPlan

if TYPE_CHECKING:
    from .sentinel import Classification, classify, classify_many

__all__ = [
    "Classification",
    "DataConflict",
    "PlanChange",
    "PlannedStatement",
    "SyncPlan",
    "classify",
    "classify_many",
]
_SENTINEL = frozenset({"Classification", "classify", "classify_many"})


def __getattr__(name: str) -> Any:
    if name in _SENTINEL:
        from . import sentinel

        return getattr(sentinel, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
