"""PostgreSQL (driver: asyncpg)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import asyncpg as sa_asyncpg
from sqlalchemy.engine import Dialect as SADialect

from .base import ColumnType, Dialect, sa_dialect

__all__ = ["PostgreSQLDialect"]


class PostgreSQLDialect(Dialect):
    """PostgreSQL 12+: LATERAL, RETURNING, transactional DDL, JSONB."""

    name = "postgresql"
    display_name = "PostgreSQL"
    sa_names = ("postgresql",)
    sqlglot_name = "postgres"
    lateral = True
    # The wire protocol counts parameters in 16 bits.
    max_bind_params = 32767

    def _sa_dialect(self) -> SADialect:
        return sa_dialect(sa_asyncpg.dialect)

    # -- queries (query/): key sets, JSON aggregation, values inside JSON -----------

    # -- schema sync (sync/): type rules, checks, rebuilds, post-apply checks -------

    # -- connections (runtime/admin.py, drivers/): schema-connection setup ----------

    # -- column types (compile/tables.py) --------------------------------------------
    def column_variants(self) -> dict[ColumnType, sa.types.TypeEngine[Any]]:
        """JSON is stored as JSONB."""
        return {"json": postgresql.JSONB()}
