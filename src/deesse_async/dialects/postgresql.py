"""PostgreSQL (driver: asyncpg)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import asyncpg as sa_asyncpg
from sqlalchemy.engine import Dialect as SADialect

from .base import ColumnType, Dialect, sa_dialect
from .sync_rules import TypeRules

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
    type_rules = TypeRules(spelling="postgres")
    # PostgreSQL rewrites a CHECK deeply (``= ANY (ARRAY[...])``, casts).
    check_spelling = "probed"
    check_definitions_sql = (
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = CAST(:table AS regclass) AND contype = 'c' ORDER BY conname"
    )
    schema_exists_sql = "SELECT 1 FROM pg_namespace WHERE nspname = :name"
    current_schema_sql = "SELECT current_schema()"

    def alter_type_options(self, column: str, new_type: str) -> dict[str, str]:
        """text -> jsonb, integer or uuid converts only with an explicit USING: without it
        the change fails with "cannot be cast automatically", even over values that
        convert; with it, a value that does not convert makes the database refuse the
        plan (rolled back), naming the value."""
        return {"postgresql_using": f"{column}::{new_type}"}

    # -- connections (runtime/admin.py, drivers/): schema-connection setup ----------

    # -- column types (compile/tables.py) --------------------------------------------
    def column_variants(self) -> dict[ColumnType, sa.types.TypeEngine[Any]]:
        """JSON is stored as JSONB."""
        return {"json": postgresql.JSONB()}
