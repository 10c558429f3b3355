"""Versioned migrations for production: alembic under the hood, no ``alembic.ini``.

``deesse migrate generate -m MSG`` writes a revision file into the project's
``migrations/`` folder (created on first use with a two-line ``env.py``) from the same
comparison ``db.plan()`` makes: the same noise filters, CHECK handling, operation order
and ``renamed_from`` renames. ``deesse migrate apply`` upgrades the database to the
newest revision; ``deesse migrate stamp`` adopts a database ``push`` made (records the
newest revision as applied). The folder is meant to be committed; alembic's own commands
also work on it given a ``Config`` whose ``script_location`` points there.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.operations import ops
from alembic.util import CommandError

from ..errors import ConfigError, SchemaSyncError
from ..runtime.database import BaseDatabase as Database
from .apply import foreign_key_check
from .diff import comparison_options, order_ops
from .project import project_settings
from .registry import record_tables, table_filter
from .renames import Rename, find_renames, metadata_with_old_names

__all__ = [
    "apply_migrations",
    "generate_migration",
    "migration_config",
    "migrations_folder",
    "run_env",
    "stamp_migrations",
]

DB_KEY = "deesse_db"
APPLIED_KEY = "deesse_applied"
RECORD_KEY = "deesse_record_tables"
ENV_PY = '''"""Alembic environment of this project's deesse_async migrations (generated; commit it).

`deesse migrate apply` runs it; it loads your Database the way the deesse command does.
"""

from deesse_async.sync.migrations import run_env

run_env()
'''
SCRIPT_MAKO = '''"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

# revision identifiers, used by Alembic.
revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
'''


def migrations_folder(given: Path | str | None = None, cwd: Path | None = None) -> Path:
    """``given``, else ``[tool.deesse] migrations`` in pyproject.toml, else ``./migrations``."""
    base = cwd or Path.cwd()
    chosen = given or project_settings(base).get("migrations") or "migrations"
    return (base / chosen).resolve()


def _init_folder(folder: Path) -> None:
    (folder / "versions").mkdir(parents=True, exist_ok=True)
    for name, text in (("env.py", ENV_PY), ("script.py.mako", SCRIPT_MAKO)):
        path = folder / name
        if not path.exists():
            path.write_text(text, encoding="utf-8")


def migration_config(db: Database, folder: Path) -> Config:
    """An alembic ``Config`` for ``folder``, built in code (no alembic.ini needed)."""
    # quiet: alembic's own progress lines would mix with the command's output.
    config = Config(cmd_opts=argparse.Namespace(quiet=True))
    config.set_main_option("script_location", str(folder))
    # Date-first names sort in creation order in a file browser ('%%' escapes configparser).
    config.set_main_option(
        "file_template",
        "%%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(slug)s_%%(rev)s",
    )
    config.attributes[DB_KEY] = db
    config.attributes[APPLIED_KEY] = []
    return config


STAMP_HINT = (
    "The database already has tables: if `deesse push` made them from the same "
    "collections, adopt it with `deesse migrate stamp` (marks the newest revision as "
    "applied; later revisions then apply normally)."
)


def _run(action: Callable[[], Any], what: str) -> Any:
    try:
        return action()
    except CommandError as exc:
        hint = ""
        if "not up to date" in str(exc):
            hint = (
                " Run `deesse migrate apply` first: revisions are generated against a "
                "database at the newest revision."
            )
        raise SchemaSyncError(f"{what} failed: {exc}.{hint}") from None
    except sa.exc.DBAPIError as exc:
        # PostgreSQL 'relation "x" already exists', SQLite 'table x already exists',
        # MySQL 1050 "Table 'x' already exists": a pushed database meeting migrations.
        hint = f"\n{STAMP_HINT}" if "already exists" in str(exc.orig) else ""
        raise SchemaSyncError(f"{what} failed: the database said {exc.orig}{hint}") from None


def generate_migration(db: Database, message: str, folder: Path) -> Path | None:
    """Write a revision for the differences between ``db``'s database and its collections.

    Returns the new file, or None when there is nothing to migrate. Must be called
    outside a running event loop (use ``anyio.to_thread.run_sync`` from async code).
    """
    _init_folder(folder)
    config = migration_config(db, folder)
    script = _run(
        lambda: command.revision(config, message=message, autogenerate=True), "migrate generate"
    )
    if not script or isinstance(script, list):
        return None
    return Path(script.path)


def apply_migrations(db: Database, folder: Path, revision: str = "head") -> list[str]:
    """Upgrade ``db``'s database to ``revision``; returns the revision ids applied, in order.

    Must be called outside a running event loop (``anyio.to_thread.run_sync`` from async).
    """
    _require_folder(folder)
    config = migration_config(db, folder)
    config.attributes[RECORD_KEY] = True
    _run(lambda: command.upgrade(config, revision), "migrate apply")
    return list(config.attributes[APPLIED_KEY])


def stamp_migrations(db: Database, folder: Path, revision: str = "head") -> list[str]:
    """Mark ``db``'s database as being at ``revision`` without running anything.

    For a database ``push`` created: it already has the tables the revisions create.
    Returns the revision ids now recorded as applied. Call it outside a running event
    loop (``anyio.to_thread.run_sync`` from async code).
    """
    from alembic.script import ScriptDirectory

    _require_folder(folder)
    config = migration_config(db, folder)
    config.attributes[RECORD_KEY] = True
    script = ScriptDirectory.from_config(config)
    targets = _run(lambda: [r.revision for r in script.get_revisions(revision)], "migrate stamp")
    if not targets:
        raise ConfigError(f"no revisions in {folder}: run `deesse migrate generate -m MESSAGE`")
    _run(lambda: command.stamp(config, revision), "migrate stamp")
    return [str(t) for t in targets]


def _require_folder(folder: Path) -> None:
    if not (folder / "env.py").is_file():
        raise ConfigError(
            f"no migrations in {folder}: run `deesse migrate generate -m MESSAGE` first"
        )


# --------------------------------------------------------------------------- env.py


def _rename_ops(renames: Sequence[Rename], inspector: sa.Inspector) -> list[ops.MigrateOperation]:
    out: list[ops.MigrateOperation] = []
    for r in renames:
        if r.kind == "table":
            out.append(ops.RenameTableOp(r.old, r.new))
            continue
        info = next(c for c in inspector.get_columns(r.table) if c["name"] == r.old)
        out.append(
            ops.AlterColumnOp(
                r.table,
                r.old,
                modify_name=r.new,
                existing_type=info["type"],
                existing_nullable=info["nullable"],
                existing_server_default=info.get("default"),
            )
        )
    return out


def _reverse_renames(renames: Sequence[Rename], inspector: sa.Inspector) -> list[Any]:
    out: list[ops.MigrateOperation] = []
    for op in reversed(_rename_ops(renames, inspector)):
        if isinstance(op, ops.RenameTableOp):
            out.append(ops.RenameTableOp(op.new_table_name, op.table_name))
        elif isinstance(op, ops.AlterColumnOp):
            # AlterColumnOp.reverse() keeps the names: swap them by hand.
            out.append(
                ops.AlterColumnOp(
                    op.table_name,
                    str(op.modify_name),
                    modify_name=op.column_name,
                    existing_type=op.existing_type,
                    existing_nullable=op.existing_nullable,
                    existing_server_default=op.existing_server_default,
                )
            )
    return out


def _directives(
    conn: sa.Connection,
    target: sa.MetaData,
    renames: Sequence[Rename],
    context: Any,
    revision: Any,
    directives: list[Any],
) -> None:
    """Give the revision dev sync's order, CHECKs and renames; write nothing when empty."""
    script = directives[0]
    inspector = sa.inspect(conn)
    ordered = order_ops(script.upgrade_ops.ops, conn, target)
    if not ordered and not renames:
        directives[:] = []
        return
    drops = [op for op in ordered if isinstance(op, ops.DropTableOp)]
    rest = [op for op in ordered if not isinstance(op, ops.DropTableOp)]
    upgrade = rest + _rename_ops(renames, inspector) + drops
    downgrade = (
        ops.UpgradeOps(ops=drops).reverse().ops
        + _reverse_renames(renames, inspector)
        + ops.UpgradeOps(ops=rest).reverse().ops
    )
    script.upgrade_ops = ops.UpgradeOps(ops=upgrade)
    script.downgrade_ops = ops.DowngradeOps(ops=downgrade)


def _configure_and_run(conn: sa.Connection, context: Any, db: Database) -> None:
    inspector = sa.inspect(conn)
    tables = table_filter(conn, db.schema, db.manage)  # only ours, as db.plan() compares
    live = {
        t: {c["name"] for c in inspector.get_columns(t)}
        for t in inspector.get_table_names()
        if tables(t)
    }
    renames = find_renames(db.schema, live)
    target = metadata_with_old_names(db.schema.metadata, renames)
    applied: list[str] = context.config.attributes.setdefault(APPLIED_KEY, [])
    context.configure(
        connection=conn,
        target_metadata=target,
        process_revision_directives=functools.partial(_directives, conn, target, renames.renames()),
        on_version_apply=lambda ctx, step, heads, run_args: applied.append(step.up_revision_id),
        **comparison_options(db.dialect, tables),
    )
    with context.begin_transaction():
        context.run_migrations()
    if context.config.attributes.get(RECORD_KEY):
        # apply/stamp: the collections' tables are ours from now on, so that a revision
        # generated after removing a collection drops its table.
        record_tables(conn, db.schema)
    foreign_key_check(conn, db.dialect)


async def _run_online(context: Any, db: Database) -> None:
    from ..runtime.schema_connections import schema_connection

    async with schema_connection(db.url, write=True) as conn:
        await conn.run_sync(_configure_and_run, context, db)
        await conn.commit()


def run_env() -> None:
    """The body of the generated ``migrations/env.py`` (online mode only)."""
    from alembic import context

    from .project import find_database

    db = context.config.attributes.get(DB_KEY) or find_database()
    if context.is_offline_mode():
        raise ConfigError("offline (--sql) migrations are not supported; apply them online")
    anyio.run(_run_online, context, db)
