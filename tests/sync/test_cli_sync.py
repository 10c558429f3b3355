"""`deesse schema | plan | push | migrate` in a temporary project folder, on every backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest

from deesse_async import Database, SyncPlan, define_config
from deesse_async.cli import main
from tests.sync.conftest import fetch, snapshot

pytestmark = pytest.mark.anyio

APP = """
from deesse_async import collection, define_config, field, index, integer, required, text

Posts = collection(slug="posts", fields={{
    "title": required(field(type=text(max=100))),
    {fields}
}})
db = define_config(provider={url!r}, collections=[Posts])
"""

WriteApp = Callable[..., str]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "250")  # rich tables: one line per row
    monkeypatch.delenv("DEESSE_APP", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _write_app(folder: Path, fields: str, url: str) -> str:
    name = f"app_{uuid.uuid4().hex[:8]}"
    (folder / f"{name}.py").write_text(APP.format(fields=fields, url=url))
    return f"{name}:db"


@pytest.fixture
def write_app(project: Path, database_url: str) -> WriteApp:
    """``write_app('"body": field(type=text()),')`` -> a fresh ``module:db`` app path."""

    def write(fields: str = "", url: str = database_url) -> str:
        return _write_app(project, fields, url)

    return write


async def deesse(*argv: str) -> int:
    # In a worker thread: the command runs its own event loop, as from a terminal.
    return await anyio.to_thread.run_sync(main, list(argv))


def test_schema_prints_the_create_statements_per_dialect(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = _write_app(project, '"rank": index(field(type=integer())),', "sqlite:///unused.db")
    assert main(["schema", "--app", app]) == 0
    out = capsys.readouterr().out
    assert "CREATE TABLE posts (" in out and "id INTEGER NOT NULL" in out
    assert "CREATE INDEX ix_posts_rank ON posts (rank);" in out
    assert main(["schema", "--app", app, "--dialect", "postgresql"]) == 0
    assert "id BIGSERIAL NOT NULL" in capsys.readouterr().out
    assert main(["schema", "--app", app, "--dialect", "mysql"]) == 0
    out = capsys.readouterr().out
    assert "AUTO_INCREMENT" in out and "COLLATE utf8mb4_bin" in out
    assert not (project / "unused.db").exists()  # no database needed


async def test_plan_push_and_accept_data_loss(
    write_app: WriteApp, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    v1 = write_app('"body": field(type=text()),')
    assert await deesse("push", "--app", v1) == 0
    assert "applied" in capsys.readouterr().out
    db = define_config(provider=database_url, collections=[])
    await insert_post(db)

    v2 = write_app()
    assert await deesse("plan", "--app", v2) == 0
    out = capsys.readouterr().out
    assert "destructive" in out and "drop column" in out and "body (1 value)" in out
    assert await deesse("plan", "--app", v2, "--json") == 0
    plan = SyncPlan.from_dict(json.loads(capsys.readouterr().out))
    assert plan.has_data_loss and [n for _, n in plan.data_loss] == [1]

    assert await deesse("push", "--app", v2) == 1
    out = capsys.readouterr().out
    assert "nothing was applied" in out and "body (1 value)" in out
    assert "run `deesse push --accept-data-loss` to apply" in out
    assert "body" in [c[0] for c in (await snapshot(db))["posts"]["columns"]]

    assert await deesse("push", "--app", v2, "--accept-data-loss") == 0
    assert "body" not in [c[0] for c in (await snapshot(db))["posts"]["columns"]]
    assert await deesse("push", "--app", v2) == 0
    assert "nothing to do" in capsys.readouterr().out


async def insert_post(db: Database) -> None:
    from deesse_async.runtime.schema_connections import schema_connection

    async with schema_connection(db.url, write=True) as conn:
        await conn.exec_driver_sql(
            "INSERT INTO posts (title, body, created_at, updated_at) "
            "VALUES ('a', 'x', '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
        )
        await conn.commit()


async def test_the_app_comes_from_env_or_pyproject(
    write_app: WriteApp, project: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    app = write_app()
    monkeypatch.setenv("DEESSE_APP", app)
    assert await deesse("plan") == 0
    assert "CREATE TABLE posts" in capsys.readouterr().out
    monkeypatch.delenv("DEESSE_APP")
    (project / "pyproject.toml").write_text(f'[tool.deesse]\napp = "{app}"\n')
    assert await deesse("plan", "--json") == 0
    assert SyncPlan.from_dict(json.loads(capsys.readouterr().out)).created_tables == ["posts"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plan"], "deesse does not know where your Database is"),
        (["plan", "--app", "nosuch_module:db"], "cannot import module 'nosuch_module'"),
        (["plan", "--app", "APPNAME:dbb"], "has no attribute 'dbb'; did you mean 'db'?"),
        (["plan", "--app", "APPNAME:Posts"], "is a Collection, not a Database"),
        (["plan", "--app", "no-colon"], "must look like 'module:attribute'"),
    ],
)
async def test_mistakes_are_one_red_line_without_traceback(
    write_app: WriteApp, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    name = write_app().split(":")[0]
    assert await deesse(*[a.replace("APPNAME", name) for a in argv]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and message in err and "Traceback" not in err


async def test_migrate_generate_and_apply(
    write_app: WriteApp, project: Path, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    v1 = write_app('"body": field(type=text(max=200)),')
    assert await deesse("migrate", "generate", "-m", "create posts", "--app", v1) == 0
    assert "wrote" in capsys.readouterr().out
    versions = sorted((project / "migrations" / "versions").glob("*.py"))
    assert len(versions) == 1 and "create_posts" in versions[0].name
    assert "op.create_table('posts'" in versions[0].read_text()
    assert (project / "migrations" / "env.py").is_file()

    assert await deesse("migrate", "apply", "--app", v1) == 0
    assert "applied" in capsys.readouterr().out
    db = define_config(provider=database_url, collections=[])
    assert {"posts", "alembic_version"} <= set(await snapshot(db))
    await insert_post(db)
    assert await deesse("migrate", "generate", "-m", "nothing", "--app", v1) == 0
    assert "no schema changes" in capsys.readouterr().out
    assert await deesse("migrate", "apply", "--app", v1) == 0
    assert "newest revision already" in capsys.readouterr().out

    v2 = write_app(
        '"content": field(type=text(max=200), renamed_from="body"), '
        '"rank": index(field(type=integer())),'
    )
    assert await deesse("migrate", "generate", "-m", "rename body", "--app", v2) == 0
    assert "rename_body" in capsys.readouterr().out
    second = next(p for p in (project / "migrations" / "versions").glob("*rename_body*.py"))
    text = second.read_text()
    assert "new_column_name='content'" in text and "op.create_index" in text
    assert "op.alter_column('posts', 'content'" in text  # the downgrade renames it back
    assert await deesse("migrate", "apply", "--app", v2) == 0
    assert "applied" in capsys.readouterr().out
    assert await fetch(db, "SELECT title, content, rank FROM posts") == [("a", "x", None)]
    assert await deesse("plan", "--app", v2, "--json") == 0
    assert SyncPlan.from_dict(json.loads(capsys.readouterr().out)).is_empty
    # The generated downgrade undoes it (alembic's own command on the same folder).
    from alembic import command

    from deesse_async.sync.migrations import migration_config
    from deesse_async.sync.project import find_database

    config = migration_config(find_database(v2), project / "migrations")
    await anyio.to_thread.run_sync(command.downgrade, config, "-1")
    columns = [c[0] for c in (await snapshot(db))["posts"]["columns"]]
    assert "body" in columns and "content" not in columns and "rank" not in columns
    assert await fetch(db, "SELECT body FROM posts") == [("x",)]


def test_plan_json_in_a_fresh_interpreter(tmp_path: Path) -> None:
    """What the dev engine does: run `deesse plan --json` as a separate process."""
    app = tmp_path / "blogapp.py"
    app.write_text(APP.format(fields="", url=f"sqlite:///{tmp_path / 'x.db'}"))
    exe = Path(sys.executable).with_name("deesse")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "deesse_async.cli"]
    result = subprocess.run(
        [*command, "plan", "--json", "--app", "blogapp:db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    plan = SyncPlan.from_dict(json.loads(result.stdout))
    assert plan.created_tables == ["posts"] and plan.dialect == "sqlite"


async def test_migrations_leave_a_foreign_table_alone_and_drop_a_removed_collection(
    write_app: WriteApp, project: Path, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    bare = define_config(provider=database_url, collections=[])
    await _execute(bare, "CREATE TABLE legacy_orders (id INTEGER PRIMARY KEY)")
    v1 = write_app('"body": field(type=text(max=200)),')
    assert await deesse("migrate", "generate", "-m", "create posts", "--app", v1) == 0
    first = next((project / "migrations" / "versions").glob("*create_posts*.py")).read_text()
    assert "legacy_orders" not in first
    assert await deesse("migrate", "apply", "--app", v1) == 0
    capsys.readouterr()
    # An app without posts: apply recorded posts as ours, so the revision drops it.
    empty = f"empty_{uuid.uuid4().hex[:8]}"  # a new module name: imports are cached
    (project / f"{empty}.py").write_text(
        f"from deesse_async import define_config\ndb = define_config(provider={database_url!r})\n"
    )
    assert await deesse("migrate", "generate", "-m", "drop posts", "--app", f"{empty}:db") == 0
    second = next((project / "migrations" / "versions").glob("*drop_posts*.py")).read_text()
    assert "op.drop_table('posts')" in second and "legacy_orders" not in second


async def _execute(db: Database, sql: str) -> None:
    from deesse_async.runtime.schema_connections import schema_connection

    async with schema_connection(db.url, write=True) as conn:
        await conn.exec_driver_sql(sql)
        await conn.commit()


# --- the real command in a subprocess: --safe, stamp, --url -------------------------------


def cli(project: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``deesse ARGV`` as a separate process in the project folder, as from a terminal."""
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
    env.pop("DEESSE_APP", None)
    return subprocess.run(
        [sys.executable, "-m", "deesse_async.cli", *argv],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


TAGS_APP = """
from deesse_async import collection, define_config, field, required, text

Posts = collection(slug="posts", fields={{"title": required(field(type=text(max=100)))}})
Tags = collection(slug="tags", fields={{"name": field(type=text(max=40))}})
db = define_config(provider={url!r}, collections=[Posts, Tags])
"""


async def test_push_safe_applies_the_safe_part_and_lists_the_rest(
    write_app: WriteApp, project: Path, database_url: str
) -> None:
    v1 = write_app('"body": field(type=text()),')
    done = await anyio.to_thread.run_sync(cli, project, "push", "--safe", "--app", v1)
    assert done.returncode == 0, done.stderr
    assert "applied 1 safe statement" in done.stdout
    db = define_config(provider=database_url, collections=[])
    await insert_post(db)

    # posts loses body (destructive); a new collection tags is safe.
    name = f"app_{uuid.uuid4().hex[:8]}"
    (project / f"{name}.py").write_text(TAGS_APP.format(url=database_url))
    held = await anyio.to_thread.run_sync(cli, project, "push", "--safe", "--app", f"{name}:db")
    assert held.returncode == 1, held.stdout + held.stderr
    assert "CREATE TABLE tags" in held.stdout and "held back" in held.stdout
    assert "destructive" in held.stdout and "not applied" in held.stdout
    tables = await snapshot(db)
    assert "tags" in tables  # the safe part went in
    assert "body" in [c[0] for c in tables["posts"]["columns"]]  # the rest did not
    assert await fetch(db, "SELECT title, body FROM posts") == [("a", "x")]
    again = await anyio.to_thread.run_sync(cli, project, "push", "--safe", "--app", f"{name}:db")
    assert again.returncode == 1 and "CREATE TABLE tags" not in again.stdout
    both = await anyio.to_thread.run_sync(
        cli, project, "push", "--safe", "--accept-data-loss", "--app", f"{name}:db"
    )
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


@pytest.fixture
async def second_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """Another empty database on the same backend (a scratch database for `--url`)."""
    from tests.conftest import fresh_database

    async with fresh_database(backend, tmp_path / "scratch.db") as url:
        yield url


async def test_a_pushed_database_is_adopted_into_migrations_with_stamp(
    write_app: WriteApp, project: Path, database_url: str, second_url: str
) -> None:
    v1 = write_app('"body": field(type=text(max=200)),')
    pushed = await anyio.to_thread.run_sync(cli, project, "push", "--app", v1)
    assert pushed.returncode == 0, pushed.stderr
    db = define_config(provider=database_url, collections=[])
    await insert_post(db)
    # The first revision is generated against an empty scratch database (--url).
    generated = await anyio.to_thread.run_sync(
        cli, project, "migrate", "generate", "-m", "init", "--app", v1, "--url", second_url
    )
    assert generated.returncode == 0, generated.stderr
    scratch = define_config(provider=second_url, collections=[])
    assert "posts" not in await snapshot(scratch)  # generate creates no table

    # apply on the pushed database meets its tables: the error says to stamp.
    failed = await anyio.to_thread.run_sync(cli, project, "migrate", "apply", "--app", v1)
    assert failed.returncode == 1
    assert "already exists" in failed.stderr and "deesse migrate stamp" in failed.stderr
    assert "Traceback" not in failed.stderr

    stamped = await anyio.to_thread.run_sync(cli, project, "migrate", "stamp", "--app", v1)
    assert stamped.returncode == 0, stamped.stderr
    assert "is now at revision" in stamped.stdout
    applied = await anyio.to_thread.run_sync(cli, project, "migrate", "apply", "--app", v1)
    assert applied.returncode == 0 and "newest revision already" in applied.stdout
    assert await fetch(db, "SELECT title, body FROM posts") == [("a", "x")]
    assert [row[0] for row in await fetch(db, "SELECT version_num FROM alembic_version")]

    # Stamping an empty database would skip creating its tables: refused.
    empty = await anyio.to_thread.run_sync(
        cli, project, "migrate", "stamp", "--app", v1, "--url", second_url
    )
    assert empty.returncode == 1 and "nothing to adopt" in empty.stdout
    # --url on plan and push: the scratch database, not the app's provider.
    plan = await anyio.to_thread.run_sync(
        cli, project, "plan", "--json", "--app", v1, "--url", second_url
    )
    assert SyncPlan.from_dict(json.loads(plan.stdout)).created_tables == ["posts"]
    pushed = await anyio.to_thread.run_sync(cli, project, "push", "--app", v1, "--url", second_url)
    assert pushed.returncode == 0 and "posts" in await snapshot(scratch)
