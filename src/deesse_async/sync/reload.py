"""Re-load the collections in a fresh interpreter, plan there and apply what is allowed.

A running app cannot re-import its collection modules safely: objects compiled from the
old definitions (tables, pydantic models, prepared statements, route signatures) stay
referenced everywhere. So the development engine (``DevEngine``) starts ``python -m
deesse_async.sync.reload module:attribute``: a new process imports the edited files,
compares them with the live database (``db.plan()``), applies the plan when it loses no
data (``db.push()``) and prints one JSON line holding ``SyncPlan.to_dict()`` (the same
as ``deesse plan --json``). A broken file only breaks that child; its traceback comes
back on stderr and is summarised.

Both sides of that small protocol live here: ``main()`` runs in the child,
``Reloader`` in the engine.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import ByteReceiveStream, Process

from .plan import SyncPlan
from .project import installed_prefixes

if TYPE_CHECKING:
    import sqlalchemy as sa

    from ..runtime.database import BaseDatabase as Database

__all__ = [
    "ReloadResult",
    "Reloader",
    "TableShape",
    "child_argv",
    "fingerprint",
    "load_database",
    "main",
    "table_shapes",
]

RESULT_MARKER = "DEESSE-SYNC-RESULT "
URL_ENV = "DEESSE_SYNC_URL"  # `deesse dev --url`: the database the child works on
EXIT_OK, EXIT_REFUSED, EXIT_BROKEN = 0, 1, 2
CHILD_TIMEOUT = 300.0  # seconds; planning a large database can take a while


@dataclass(frozen=True, slots=True)
class TableShape:
    """A table's columns, and those a row cannot be written without (NOT NULL, no default)."""

    columns: frozenset[str]
    required: frozenset[str] = frozenset()


def table_shapes(metadata: sa.MetaData) -> dict[str, TableShape]:
    """The shape of every table in a SQLAlchemy ``MetaData``."""
    return {
        table.name: TableShape(
            frozenset(c.name for c in table.columns),
            frozenset(
                c.name
                for c in table.columns
                if not c.nullable and c.server_default is None and not c.primary_key
            ),
        )
        for table in metadata.tables.values()
    }


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What one fresh interpreter found and did: the plan (``SyncPlan``) and its fate."""

    plan: SyncPlan = field(default_factory=SyncPlan)  # applied, or found and not applied
    applied: bool = False  # the plan was applied
    changed: bool = False  # an accepted plan was no longer the current plan: nothing applied
    database: str = ""  # DatabaseURL.identity of the db the child opened
    error: str | None = None  # one-line summary: broken collection file, refused statement
    detail: str = ""  # the broken source line (and caret) from the child's traceback
    seconds: float = 0.0
    # After an applied plan: the re-loaded collections' tables (= the database's now).
    tables: Mapping[str, TableShape] | None = None

    @property
    def is_empty(self) -> bool:
        """Nothing to do: the database matches the collections."""
        return self.plan.is_empty

    @property
    def has_data_loss(self) -> bool:
        """Some statement is destructive."""
        return self.plan.has_data_loss

    @property
    def fingerprint(self) -> str:
        """Identifies the plan: accepting it applies exactly these statements or nothing."""
        return fingerprint(self.plan)


def fingerprint(plan: SyncPlan) -> str:
    """A short hash of the statements' risk and SQL, in order.

    >>> fingerprint(SyncPlan()) == fingerprint(SyncPlan.from_dict(SyncPlan().to_dict()))
    True
    """
    text = "\n".join(f"{s.risk}\t{s.sql}" for s in plan.statements)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- the engine's side ------------------------------------------------------------------


def child_argv(app_path: str, *, database: str = "") -> list[str]:
    """The command of the fresh interpreter (the one place that names it).

    It waits for one instruction line on stdin (see ``Reloader``), then plans and applies
    a plan that loses no data, or an accepted destructive plan if it is still that plan.
    With ``database`` it acts only if the re-loaded app points at that database.
    """
    argv = [sys.executable, "-m", "deesse_async.sync.reload", app_path]
    return [*argv, "--database", database] if database else argv


class Reloader:
    """Runs re-load rounds in fresh interpreters, keeping the next one started and warm.

    Importing deesse_async, SQLAlchemy and a driver is most of a round (~0.4 s of ~0.6 s):
    a spare interpreter does that while the developer is still typing, and only imports
    the edited files once told to go. Use it as an async context manager: leaving it kills
    the spare, and a cancelled round kills its interpreter.

    >>> # async with Reloader("app.main:db") as reloader:
    >>> #     result = await reloader.run()
    """

    def __init__(
        self,
        app_path: str,
        *,
        import_root: Path | None = None,
        database: str = "",
        url: str | None = None,
    ) -> None:
        self._argv = child_argv(app_path, database=database)
        self._env = dict(os.environ)
        if url is not None:
            # In the environment, not argv: a password must not show in `ps`.
            self._env[URL_ENV] = url
        if import_root is not None:
            # The app's package root, which the app's own process found on its sys.path.
            paths = [str(import_root), self._env.get("PYTHONPATH", "")]
            self._env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        self._spare: Process | None = None

    async def __aenter__(self) -> Reloader:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Kill the spare interpreter, if any."""
        spare, self._spare = self._spare, None
        if spare is not None:
            await _close(spare)

    async def _spawn(self) -> Process:
        # Shielded: a cancellation landing between fork and return would orphan the child.
        with anyio.CancelScope(shield=True):
            process = await anyio.open_process(self._argv, env=self._env)
        return process

    async def run(self, *, accept: str | None = None) -> ReloadResult:
        """One round; ``accept=<fingerprint>`` applies that destructive plan (only that one).

        Never raises for a broken collection file or a refused plan: ``error`` says what went
        wrong. An interpreter that outlives ``CHILD_TIMEOUT`` is killed.
        """
        process, self._spare = self._spare, None
        if process is None or process.returncode is not None:
            process = await self._spawn()
        started = time.monotonic()
        instruction = json.dumps({"accept": accept}).encode() + b"\n"
        try:
            with anyio.fail_after(CHILD_TIMEOUT):
                out, err = await _communicate(process, instruction)
        finally:
            await _close(process)
        seconds = time.monotonic() - started
        self._spare = await self._spawn()
        return _parse(out, err, process.returncode, seconds)


async def _communicate(process: Process, instruction: bytes) -> tuple[str, str]:
    chunks: tuple[list[bytes], list[bytes]] = ([], [])

    async def drain(stream: ByteReceiveStream | None, into: list[bytes]) -> None:
        if stream is not None:
            into.extend([chunk async for chunk in stream])

    async with anyio.create_task_group() as tg:
        tg.start_soon(drain, process.stdout, chunks[0])
        tg.start_soon(drain, process.stderr, chunks[1])
        assert process.stdin is not None
        with contextlib.suppress(anyio.BrokenResourceError):  # it died early: stderr says why
            await process.stdin.send(instruction)
        await process.stdin.aclose()
        await process.wait()
    out, err = (b"".join(c).decode(errors="replace") for c in chunks)
    return out, err


async def _close(process: Process) -> None:
    with anyio.CancelScope(shield=True):
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        await process.aclose()


def _parse(out: str, err: str, returncode: int | None, seconds: float) -> ReloadResult:
    payload = _find_payload(out)
    if payload is not None:
        return _result(payload, seconds=seconds)
    summary = summarise_traceback(err)
    if summary is None:
        summary = (f"the re-loading interpreter exited with code {returncode}", "")
    return ReloadResult(error=summary[0], detail=summary[1], seconds=seconds)


def _find_payload(stdout: str) -> dict[str, Any] | None:
    # The app may print while it is imported: only the marked line is ours.
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            value = json.loads(line[len(RESULT_MARKER) :])
            return value if isinstance(value, dict) else None
    return None


def _result(payload: Mapping[str, Any], *, seconds: float) -> ReloadResult:
    tables = payload.get("tables")
    plan = payload.get("plan")
    return ReloadResult(
        plan=SyncPlan() if plan is None else SyncPlan.from_dict(plan),
        tables=None
        if tables is None
        else {
            name: TableShape(frozenset(shape["columns"]), frozenset(shape["required"]))
            for name, shape in tables.items()
        },
        applied=bool(payload.get("applied")),
        changed=bool(payload.get("changed")),
        database=str(payload.get("database", "")),
        error=payload.get("error"),
        seconds=seconds,
    )


_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')
_QUALIFIED = re.compile(r"^(?:[A-Za-z_][\w]*\.)+(?=[A-Za-z_]\w*:)")


def summarise_traceback(stderr: str) -> tuple[str, str] | None:
    """``("SyntaxError: … (app/collections.py, line 7)", "<that line, caret>")``.

    The location is the innermost frame outside deesse_async, importlib and installed
    packages: the user's file that broke (for a ``SyntaxError``, the file Python could not
    parse). The excerpt is the source line (and caret) Python printed for it.
    """
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not lines:
        return None
    message = next((line for line in reversed(lines) if not line[0].isspace()), lines[-1])
    message = _QUALIFIED.sub("", message)  # deesse_async.errors.ConfigError -> ConfigError
    # Not the user's: deesse_async itself, importlib, the standard library, site-packages.
    library = ("<frozen", str(Path(__file__).resolve().parent.parent), *installed_prefixes())
    found: int | None = None
    for index, line in enumerate(lines):
        match = _FRAME.match(line)
        if match and not match["file"].startswith(library):
            found = index
    if found is None:
        return message, ""
    match = _FRAME.match(lines[found])
    assert match is not None
    excerpt = []
    for line in lines[found + 1 :]:
        if _FRAME.match(line) or not line[:1].isspace():
            break
        excerpt.append(line.rstrip())
    location = f"{_short(match['file'])}, line {match['line']}"
    return f"{message} ({location})", "\n".join(excerpt)


def _short(file: str) -> str:
    try:
        return str(Path(file).resolve().relative_to(Path.cwd()))
    except ValueError:
        return file


# --- the child's side -------------------------------------------------------------------


def load_database(app_path: str, *, url: str | None = None) -> Database:
    """Import ``module:attribute`` and check that it is a ``Database`` (on ``url`` if given).

    Unlike ``find_database`` (the ``deesse`` commands) it lets the user's own error through:
    its traceback, summarised by ``summarise_traceback``, points at the broken line.

    >>> # db = load_database("app.main:db")
    """
    from ..errors import ConfigError
    from ..runtime.database import BaseDatabase as Database
    from .project import with_url

    module_name, _, attribute = app_path.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"the app path must look like module:attribute, not {app_path!r}")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    if not isinstance(value, Database):
        raise ConfigError(f"{app_path} is a {type(value).__name__}, not a deesse_async Database")
    return value if url is None else with_url(value, url)


async def _sync(db: Database, accept: str | None, expected: str | None) -> dict[str, Any]:
    """Plan, and apply what may be applied; the payload carries ``SyncPlan.to_dict()``
    (its ``changes`` too: the engine shows one line per change, as ``deesse plan``)."""
    from ..errors import DeesseError
    from .push import plan_schema, push_schema

    payload: dict[str, Any] = {"database": db.url.identity, "applied": False}
    if expected and payload["database"] != expected:
        # Say, DATABASE_URL read from a file the running app loaded differently: never
        # apply a plan to a database the running app does not use.
        payload["error"] = (
            f"the re-loaded app uses {payload['database']}, the running app {expected}"
        )
        return payload
    try:
        async with db:
            plan = await plan_schema(db)
            payload["plan"] = plan.to_dict()
            if plan.conflicts:  # push() would refuse it, whatever the answer: do not ask
                conflicts = "\n".join(c.message for c in plan.conflicts)
                payload["error"] = f"DataConflictError: {conflicts}"
            elif accept is not None and fingerprint(plan) != accept:
                payload["changed"] = True
            elif not plan.is_empty and (accept is not None or not plan.has_data_loss):
                # push() plans again in its own transaction: report what it applied.
                applied = await push_schema(db, accept_data_loss=accept is not None)
                payload["plan"] = applied.to_dict()
                payload["applied"] = True
                payload["tables"] = {
                    name: {"columns": sorted(shape.columns), "required": sorted(shape.required)}
                    for name, shape in table_shapes(db.metadata).items()
                }
    except DeesseError as exc:
        payload["error"] = f"{type(exc).__name__}: {exc}"
    return payload


def _warm_up() -> None:
    # What every round needs, imported before the files are final (see Reloader).
    for name in (
        "sqlalchemy.ext.asyncio",
        "deesse_async.runtime.schema_connections",
        "alembic.autogenerate",
    ):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def main(argv: Sequence[str] | None = None) -> int:
    """Child entry point: ``python -m deesse_async.sync.reload module:attr [--database ID]``.

    The instruction (``{"accept": FP | null}``) comes as one JSON line on stdin; the app
    is imported only then, so the files read are the latest.

    >>> # echo '{"accept": null}' | python -m deesse_async.sync.reload app.main:db
    """
    parser = argparse.ArgumentParser(prog="python -m deesse_async.sync.reload")
    parser.add_argument("app", help="module:attribute of the Database")
    parser.add_argument("--database", help="act only on this database (DatabaseURL.identity)")
    args = parser.parse_args(argv)
    _warm_up()
    line = sys.stdin.readline()
    if not line:  # the engine went away without a round for us
        return EXIT_OK
    accept = json.loads(line).get("accept")
    try:
        db = load_database(args.app, url=os.environ.get(URL_ENV))
    except Exception:
        # The user's file is broken: the traceback on stderr is what the engine summarises.
        traceback.print_exc()
        return EXIT_BROKEN
    payload = anyio.run(_sync, db, accept, args.database)
    print(RESULT_MARKER + json.dumps(payload, default=str), flush=True)
    return EXIT_REFUSED if payload.get("error") else EXIT_OK


if __name__ == "__main__":
    exit_code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is written and the database closed: skip the interpreter's teardown of
    # the whole SQLAlchemy/pydantic module graph (~0.25 s of every round).
    os._exit(exit_code)
