"""A throw-away PostgreSQL cluster for fault tests (never the shared server).

The server-starting code is ``tests/pgcluster.py`` (shared with the TLS and replica
tests); this is the fault tests' cluster: fast settings, 60 connections, its own
temp dir removed by ``close()``.
"""

from __future__ import annotations

import shutil

from tests.pgcluster import FAST, PostgresServer, make_temp_dir, unavailable

SETTINGS = {**FAST, "max_connections": "60"}


def available() -> str | None:
    """Why no private cluster can be started here (None: it can)."""
    return unavailable()


class Cluster(PostgresServer):
    """One private postmaster: ``start()``, ``stop()``, ``close()`` (stop and remove)."""

    def __init__(self) -> None:
        server = PostgresServer.initdb(make_temp_dir(), settings=SETTINGS)
        super().__init__(server.data, SETTINGS)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
