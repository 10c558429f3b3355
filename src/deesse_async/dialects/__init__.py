"""What differs between the databases, one class per backend (STYLE.md §4).

``query/``, ``runtime/`` and ``sync/`` receive a ``Dialect`` and ask it: named capability
flags (``lateral``, ``insert_returning``, ``transactional_ddl`` ...) and small SQL hooks.
None of them names a backend; adding one is a new module here plus a driver
(docs/architecture.md, "Adding a backend").
"""

from __future__ import annotations

from ..errors import ConfigError
from .base import Backend, CompiledSQL, Dialect, compile_sql
from .mysql import MySQLDialect
from .postgresql import PostgreSQLDialect
from .sqlite import SQLiteDialect

__all__ = ["DIALECTS", "Backend", "CompiledSQL", "Dialect", "compile_sql", "dialect_for"]

DIALECTS: dict[Backend, Dialect] = {
    d.name: d for d in (PostgreSQLDialect(), SQLiteDialect(), MySQLDialect())
}


def dialect_for(sa_name: str) -> Dialect:
    """The dialect serving a SQLAlchemy dialect name (``conn.dialect.name``).

    >>> dialect_for("mariadb").name
    'mysql'
    """
    for dialect in DIALECTS.values():
        if sa_name in dialect.sa_names:
            return dialect
    raise ConfigError(f"no deesse_async dialect serves SQLAlchemy's {sa_name!r} dialect")
