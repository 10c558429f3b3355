"""Driver adapters: asyncpg (PostgreSQL), aiosqlite (SQLite), asyncmy (MySQL/MariaDB)."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..dialects import Backend
from .base import Codecs, Connection, ConstraintNames, ExecResult, Pool, PoolOptions
from .url import DatabaseURL

__all__ = [
    "Codecs",
    "Connection",
    "ConstraintNames",
    "ExecResult",
    "Pool",
    "PoolOptions",
    "adapter",
    "codecs_for",
    "create_pool",
]

_MODULES: dict[Backend, str] = {
    "postgresql": "deesse_async.drivers.asyncpg",
    "sqlite": "deesse_async.drivers.aiosqlite",
    "mysql": "deesse_async.drivers.asyncmy",
}


def adapter(backend: Backend) -> ModuleType:
    """The adapter module serving ``backend`` (imported on first use).

    Each one defines ``CODECS``, ``create_pool``, ``translate`` (its error tables) and,
    for schema engines, ``schema_connect_args`` and ``schema_engine_url``.
    """
    return importlib.import_module(_MODULES[backend])


def codecs_for(backend: Backend) -> Codecs:
    """The value codecs of a backend's driver."""
    codecs: Codecs = adapter(backend).CODECS
    return codecs


async def create_pool(url: DatabaseURL, options: PoolOptions, constraints: ConstraintNames) -> Pool:
    """Open the driver pool for ``url`` (raises ``ConnectionError`` if unreachable)."""
    pool: Pool = await adapter(url.backend).create_pool(url, options, constraints)
    return pool
