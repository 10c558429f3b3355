"""Re-running a transaction that lost a collision with a concurrent one
(``db.run_in_transaction``; docs/production.md, "Retried transactions")."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from ..errors import ConfigError, TransactionConflict

__all__ = ["BACKOFF_CAP", "BACKOFF_FIRST", "backoff", "check_retries", "retrying"]

T = TypeVar("T")

logger = logging.getLogger("deesse_async.transactions")

# The wait before the n-th re-run (n = 0, 1, ...): BACKOFF_FIRST * 2**n, at most
# BACKOFF_CAP, times a random factor in [0.5, 1.5) so that the transactions that
# collided do not collide again in step.
BACKOFF_FIRST = 0.005
BACKOFF_CAP = 0.2


def backoff(retry: int) -> float:
    """Seconds to wait before re-run number ``retry`` (0-based), jittered.

    >>> 0.0025 <= backoff(0) < 0.0075 and 0.1 <= backoff(10) < 0.3
    True
    """
    return min(BACKOFF_CAP, BACKOFF_FIRST * 2.0**retry) * random.uniform(0.5, 1.5)


def check_retries(retries: object) -> int:
    """``retries`` checked: a whole number of re-runs, 0 or more."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(
            f"retries={retries!r}: give the number of times to re-run the transaction after "
            "a conflict, a whole number >= 0 (0: run it once)"
        )
    return retries


async def retrying(attempt: Callable[[], Awaitable[T]], retries: int, what: str) -> T:
    """``await attempt()``, again after each ``TransactionConflict`` (a serialization
    failure, a deadlock, a lock timeout), at most ``retries`` more times; any other
    exception propagates at once. The last conflict propagates with a note."""
    for retry in range(retries + 1):
        try:
            return await attempt()
        except TransactionConflict as exc:
            if retry == retries:
                exc.add_note(
                    f"deesse_async: {what} gave up after {retries + 1} attempt(s) "
                    f"(retries={retries}): raise retries=, or make the conflicting "
                    "transactions shorter (or lock rows in the same order)"
                )
                raise
            delay = backoff(retry)
            logger.info(
                "%s: %s (%s); re-running it in %.0f ms (retry %d of %d)",
                what,
                type(exc).__name__,
                exc.code,
                delay * 1000,
                retry + 1,
                retries,
            )
        await anyio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
