"""`deesse plan` / `deesse push` over data that breaks the next version, on every backend.

`deesse plan` lists one row per change and, under it, the rows that would make the plan
fail; `--sql` lists the statements; `deesse push` refuses with the same lines, exit 1.
"""

from __future__ import annotations

import pytest

from deesse_async import define_config
from deesse_async.runtime.schema_connections import schema_connection
from tests.sync.conftest import snapshot
from tests.sync.test_cli_sync import WriteApp, deesse, project, write_app

pytestmark = pytest.mark.anyio
__all__ = ["project", "write_app"]  # fixtures used through their names


async def test_plan_names_the_rows_and_push_refuses(
    write_app: WriteApp, capsys: pytest.CaptureFixture[str], database_url: str, backend: str
) -> None:
    v1 = write_app('"code": field(type=text(max=20)), "note": field(type=text()),')
    assert await deesse("push", "--app", v1) == 0
    db = define_config(provider=database_url, collections=[])
    async with schema_connection(db.url, write=True) as conn:
        for title in ("a", "b"):
            await conn.exec_driver_sql(
                "INSERT INTO posts (title, code, created_at, updated_at) VALUES "
                f"('{title}', 'same', '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
            )
        await conn.commit()
    capsys.readouterr()
    v2 = write_app('"code": __import__("deesse_async").unique(field(type=text(max=20))),')
    assert await deesse("plan", "--app", v2) == 0
    out = capsys.readouterr().out
    rebuild = backend == "sqlite"
    assert ("rebuild posts:" in out) == rebuild
    assert "drop column note (0 values)" in out or "drop column posts.note (0 values)" in out
    assert "✗ will fail: 1 duplicate value in posts.code ('same' in 2 rows)" in out
    assert "push refuses this plan until the data is fixed" in out
    assert await deesse("plan", "--app", v2, "--sql") == 0
    out = capsys.readouterr().out
    assert ("_alembic_tmp_posts" in out) == rebuild  # every statement, on request
    assert "will fail: 1 duplicate value" in out
    before = await snapshot(db)
    assert await deesse("push", "--app", v2, "--accept-data-loss") == 1
    err = capsys.readouterr().err
    assert "nothing was applied" in err and "1 duplicate value in posts.code" in err
    assert await snapshot(db) == before
