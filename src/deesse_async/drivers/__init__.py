"""Driver adapters: asyncpg (PostgreSQL), aiosqlite (SQLite), asyncmy (MySQL/MariaDB)."""

from __future__ import annotations

import importlib

from ..dialects import Backend
from ..errors import DeesseError
from .base import Codecs, Connection, ConstraintNames, ExecResult, Pool, PoolOptions
from .url import DatabaseURL

__all__ = [
    "Codecs",
    "Connection",
    "ConstraintNames",
    "ExecResult",
    "Pool",
    "PoolOptions",
    "codecs_for",
    "create_pool",
    "translate",
]

_MODULES: dict[Backend, str] = {
    "postgresql": "deesse_async.drivers.asyncpg",
    "sqlite": "deesse_async.drivers.aiosqlite",
    "mysql": "deesse_async.drivers.asyncmy",
}


def codecs_for(backend: Backend) -> Codecs:
    """The value codecs of a backend's driver."""
    codecs: Codecs = importlib.import_module(_MODULES[backend]).CODECS
    return codecs


async def create_pool(url: DatabaseURL, options: PoolOptions, constraints: ConstraintNames) -> Pool:
    """Open the driver pool for ``url`` (raises ``ConnectionError`` if unreachable)."""
    pool: Pool = await importlib.import_module(_MODULES[url.backend]).create_pool(
        url, options, constraints
    )
    return pool


def translate(url: DatabaseURL, exc: BaseException) -> DeesseError | None:
    """A driver exception met outside a pool (schema engines) as a ``DeesseError``."""
    module = importlib.import_module(_MODULES[url.backend])
    error: DeesseError | None = module.translate(exc, {}, url.display)
    return error
