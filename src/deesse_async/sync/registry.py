"""Which tables of the database are ours to plan, alter and drop.

Existing databases are where most users start: another app's tables, alembic's
``alembic_version``, a table made by hand. Only these tables are managed:

- the tables the collections declare (junction tables included, and the old names
  ``renamed_from=`` gives for a rename still to run), always;
- the tables this library created, remembered in the small ``deesse_tables`` table that
  ``push()`` keeps up to date in the transaction that creates or drops them, so removing
  a collection still plans its drop;
- what ``define_config(manage=...)`` says about any other table, in the spirit of
  drizzle-kit's ``tablesFilter`` and alembic's ``include_object``: a list of glob
  patterns (``["legacy_*", "!legacy_audit"]``; a ``!`` pattern keeps a table out, even
  one we created) or a callable ``name -> True | False | None`` (None: no opinion).

``deesse_tables`` itself and ``alembic_version`` are never managed. A database pushed by
an older version (no ``deesse_tables`` yet) adopts the collections' tables at its next
push.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

import sqlalchemy as sa

from .._types import ManageRule
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..compile.schema import Schema

__all__ = [
    "NEVER_MANAGED",
    "REGISTRY_TABLE",
    "Manage",
    "ManageRule",
    "TableFilter",
    "manage_rule",
    "record_tables",
    "registered_tables",
    "table_filter",
]

REGISTRY_TABLE = "deesse_tables"
NEVER_MANAGED = frozenset({REGISTRY_TABLE, "alembic_version"})

Manage: TypeAlias = Sequence[str] | ManageRule | None
"""What ``define_config(manage=...)`` takes: glob patterns or a ``ManageRule``."""
TableFilter: TypeAlias = Callable[[str], bool]
"""A table name -> whether the comparison looks at that table."""

_REGISTRY = sa.Table(
    REGISTRY_TABLE,
    sa.MetaData(),
    sa.Column("name", sa.String(255), primary_key=True),
)
_HOW = (
    "define_config(manage=...) takes a list of glob patterns (e.g. ['legacy_*', "
    "'!legacy_audit']) or a callable name -> True | False | None"
)


def manage_rule(manage: Manage) -> ManageRule | None:
    """Check ``define_config(manage=...)`` and turn patterns into a ``ManageRule``.

    >>> rule = manage_rule(["app_*", "!app_audit"])
    >>> rule("app_users"), rule("app_audit"), rule("other")
    (True, False, None)
    """
    if manage is None:
        return None
    if callable(manage):
        return manage
    if isinstance(manage, str | bytes) or not isinstance(manage, Sequence):
        raise ConfigError(f"manage={manage!r} is not {_HOW}")
    patterns = list(manage)
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise ConfigError(f"manage: {pattern!r} is not a string; {_HOW}")
        if not pattern.removeprefix("!"):
            raise ConfigError(f"manage: {pattern!r} is an empty pattern; {_HOW}")
    keep_out = [p[1:] for p in patterns if p.startswith("!")]
    take_in = [p for p in patterns if not p.startswith("!")]

    def rule(name: str) -> bool | None:
        # Case-sensitive like the table names themselves (fnmatch would fold on Windows).
        if any(fnmatch.fnmatchcase(name, p) for p in keep_out):
            return False
        if any(fnmatch.fnmatchcase(name, p) for p in take_in):
            return True
        return None

    return rule


def registered_tables(conn: sa.Connection) -> set[str]:
    """The tables recorded as created by this library (empty before the first push)."""
    if not sa.inspect(conn).has_table(REGISTRY_TABLE):
        return set()
    return {str(name) for name in conn.execute(sa.select(_REGISTRY.c.name)).scalars()}


def _renamed_tables(conn: sa.Connection, schema: Schema) -> set[str]:
    """Live tables a collection claims with ``renamed_from=`` (the rename is still to run)."""
    from .renames import find_renames

    live: dict[str, set[str]] = {name: set() for name in sa.inspect(conn).get_table_names()}
    return {r.old for r in find_renames(schema, live).renames() if r.kind == "table"}


def table_filter(conn: sa.Connection, schema: Schema, rule: ManageRule | None) -> TableFilter:
    """Whether each table is ours: declared, else ``rule``'s verdict, else recorded.

    A table a collection names in ``renamed_from=`` counts as declared: the collection
    claims it, even in a database pushed before the registry existed.
    """
    declared = frozenset(schema.metadata.tables) | _renamed_tables(conn, schema)
    recorded = frozenset(registered_tables(conn))

    def managed(name: str) -> bool:
        if name in declared:
            return True
        if name in NEVER_MANAGED:
            return False
        verdict = rule(name) if rule is not None else None
        if verdict is not None:
            return bool(verdict)
        return name in recorded

    return managed


def record_tables(conn: sa.Connection, schema: Schema) -> None:
    """After a push, in its transaction: remember the collections' tables that exist.

    Recorded tables that no longer exist (dropped or renamed by the push) are forgotten,
    so a table another app later creates under that name is not taken for ours.
    """
    existing = set(sa.inspect(conn).get_table_names())
    wanted = set(schema.metadata.tables) & existing
    if not wanted and REGISTRY_TABLE not in existing:
        return
    _REGISTRY.create(conn, checkfirst=True)
    recorded = registered_tables(conn)
    gone = sorted(recorded - existing)
    new = sorted(wanted - recorded)
    if gone:
        conn.execute(sa.delete(_REGISTRY).where(_REGISTRY.c.name.in_(gone)))
    if new:
        conn.execute(sa.insert(_REGISTRY), [{"name": name} for name in new])
