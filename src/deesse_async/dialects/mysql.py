"""MySQL 8 and MariaDB 10.5+ (driver: asyncmy)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects.mysql import asyncmy as sa_asyncmy
from sqlalchemy.engine import Dialect as SADialect

from .base import ColumnType, Dialect, sa_dialect
from .sync_rules import TypeRules

__all__ = ["MySQLDialect"]


class MySQLDialect(Dialect):
    """MySQL 8 / MariaDB: no RETURNING we can rely on, DDL commits itself."""

    name = "mysql"
    display_name = "MySQL"
    sa_names = ("mysql", "mariadb")
    sqlglot_name = "mysql"
    # MySQL 8 has no RETURNING, MariaDB none on UPDATE: writes read their row back inside
    # the same transaction.
    insert_returning = False
    update_returning = False
    # Each DDL statement commits (sync/apply.py reports what a stopped plan left applied).
    transactional_ddl = False
    max_bind_params = 65535

    def _sa_dialect(self) -> SADialect:
        return sa_dialect(sa_asyncmy.dialect)

    # -- queries (query/): key sets, JSON aggregation, values inside JSON -----------

    # -- schema sync (sync/): type rules, checks, rebuilds, post-apply checks -------
    type_rules = TypeRules(
        spelling="mysql",
        decimal_default=(10, 0),
        # TEXT sizes are bytes; divide by 4 because utf8mb4 may need 4 bytes a character.
        text_chars={
            "TINYTEXT": 255 // 4,
            "TEXT": 65_535 // 4,
            "MEDIUMTEXT": 16_777_215 // 4,
            "LONGTEXT": 4_294_967_295 // 4,
        },
    )
    # MySQL/MariaDB quote and lower-case a CHECK's text.
    check_spelling = "normalised"

    # -- connections (runtime/admin.py, drivers/): schema-connection setup ----------

    # -- column types (compile/tables.py) --------------------------------------------
    # Binary collation: '=', LIKE and UNIQUE compare exactly, as on PostgreSQL and SQLite
    # (the default *_ci collations would make 'a' = 'A').
    table_options: ClassVar[Mapping[str, str]] = {
        "mysql_charset": "utf8mb4",
        "mysql_collate": "utf8mb4_bin",
    }

    def column_variants(self) -> dict[ColumnType, sa.types.TypeEngine[Any]]:
        """DATETIME(6) and a bounded indexed text."""
        return {
            # DATETIME keeps no fractions unless asked: DATETIME(6) keeps microseconds.
            "timestamp": mysql.DATETIME(fsp=6),
            # InnoDB indexes at most 3072 bytes = 768 utf8mb4 characters.
            "indexed_text": sa.String(768),
        }
