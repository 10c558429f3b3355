"""The `deesse` command."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from deesse_async.cli import main


def test_demo_creates_and_seeds_a_sqlite_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_file = tmp_path / "blog.db"
    assert main(["demo", "--db", str(db_file)]) == 0
    out = capsys.readouterr().out
    assert "UniqueViolation: users.email" in out
    assert "ValidationError: invalid data for posts.create: title" in out
    # the nested query: its SQL and its rows
    assert "one SQL statement" in out and "JSON_GROUP_ARRAY" in out
    assert "Grace (invited by Ada)" in out
    assert "Why async? (published) — python, async — Great read!; Agreed." in out
    with sqlite3.connect(db_file) as conn:
        counts = {
            t: conn.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("users", "tags", "posts", "comments", "posts_tags")
        }
        status = conn.execute("select status from posts").fetchall()
    assert counts == {"users": 3, "tags": 3, "posts": 1, "comments": 1, "posts_tags": 1}
    assert status == [("published",)]
    # Running again starts over instead of failing on the existing rows.
    assert main(["demo", "--db", str(db_file)]) == 0


def test_demo_as_a_console_script_in_the_current_folder(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("deesse")
    command = (
        [str(exe), "demo"] if exe.exists() else [sys.executable, "-m", "deesse_async.cli", "demo"]
    )
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "deesse_demo.db").stat().st_size > 0
    assert "created tables" in result.stdout


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out
