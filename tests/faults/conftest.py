"""Fault tests run against a PostgreSQL cluster of their own (see ``cluster.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import IN_CI

from .cluster import Cluster, available


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A private PostgreSQL 15 cluster, started once per session, removed at the end."""
    reason = available()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI=true: cannot start a private PostgreSQL: {reason}", pytrace=False)
        pytest.skip(f"!!! cannot start a private PostgreSQL: {reason}")
    cluster = Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()
