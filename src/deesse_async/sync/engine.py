"""The development sync engine: watch the collection files, debounce, re-load, plan, apply.

It is a guest in the app's event loop (``db.lifespan(dev_sync=True)``) or runs alone
(``deesse dev``). The shape of one round:

    file events (sync/watch.py) ─▶ Debouncer (``debounce`` s after the LAST change) ─▶
    fresh interpreter (sync/reload.py: import the edited collections, ``db.plan()``, apply
    when no data is lost) ─▶ report (sync/prompt.py); a destructive plan is held back:
    boxed warning, y/N on a terminal.

``deesse dev`` runs it without a server (cli/dev.py).

Rules it keeps: it never blocks the loop (file system and terminal work go through
``anyio.to_thread``), never crashes the app (every error is reported and it keeps
watching), leaves no thread, task or child process behind when cancelled, and only one
engine per database acts (sync/lock.py); the others stay quiet.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from contextlib import aclosing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from rich.console import Console
from rich.markup import escape

from .._types import WatchPaths
from .lock import DevEngineLock
from .project import AppLocation, collection_folders, locate_app, lock_key, project_root
from .prompt import (
    ask_yes_no,
    change_line,
    change_rows,
    console,
    held_back_panel,
    report_applied,
    report_error,
    say,
    stdin_is_tty,
)
from .reload import Reloader, ReloadResult, TableShape, table_shapes
from .watch import ChangeStream, Debouncer, watch_python_files

if TYPE_CHECKING:
    from ..runtime.database import BaseDatabase as Database

__all__ = [
    "DevEngine",
    "DevEngineConfig",
    "dev_engine_config",
    "memory_refusal",
    "running_tables",
    "stale_code",
]

_WATCH_RETRY = 5.0  # seconds between attempts when watching fails (folder deleted…)
_PROGRESS_EVERY = 5.0  # seconds between "still planning" lines during a long round
_NO_APP_OFF = (
    "dev sync is off: no module global holds this Database, so a fresh interpreter cannot "
    "import it; set DEESSE_APP=module:attribute"
)


@dataclass(frozen=True, slots=True)
class DevEngineConfig:
    """Everything an engine needs; ``DevEngine.for_database`` derives it from a live db."""

    app_path: str  # module:attribute of the Database, imported by the fresh interpreters
    database: str  # DatabaseURL.identity: the reloaded app must point at the same database
    lock_key: str
    watch: tuple[Path, ...]
    recursive: bool = True
    debounce: float = 15.0
    import_root: Path | None = None  # added to the fresh interpreters' PYTHONPATH
    project_root: Path | None = None  # .deesse/ lives here; None: found above `watch`
    interactive: bool | None = None  # None: ask when stdin is a terminal
    lock_retry: float = 2.0  # a quiet engine re-tries the lock this often (takes over)
    url: str | None = None  # `deesse dev --url`: the app's collections on this database
    # The tables and columns the running app's code uses (under a server); None: no app.
    running: Mapping[str, frozenset[str]] | None = None


class DevEngine:
    """Watches, debounces and syncs until cancelled. ``await engine.run()`` never raises.

    >>> # async with anyio.create_task_group() as tg:
    >>> #     tg.start_soon(engine.run)
    >>> #     ...                      # serve
    >>> #     engine.stop(); tg.cancel_scope.cancel()
    """

    def __init__(
        self,
        config: DevEngineConfig,
        *,
        out: Console | None = None,
        changes: ChangeStream | None = None,
    ) -> None:
        self.config = config
        self.out = out or console()
        self._changes = changes or watch_python_files(config.watch, recursive=config.recursive)
        self._stop: anyio.Event | None = None
        self._stopping = False
        self._debouncer: Debouncer | None = None
        self._reloader: Reloader | None = None
        self.syncs = 0  # rounds completed (the startup check included)
        self.leading = False  # holds the lock
        self._told_to_reload = False

    @classmethod
    def for_database(
        cls,
        db: Database,
        *,
        watch: WatchPaths | None = None,
        debounce: float = 15.0,
        out: Console | None = None,
    ) -> DevEngine | None:
        """An engine for a live ``db``, or None (after saying why) when it cannot run.

        ``watch=None`` watches the folders of the modules holding ``db``'s collections (not
        recursively); given folders are watched recursively.
        """
        out = out or console()
        refusal = memory_refusal(db)
        if refusal is not None:
            say(out, f"dev sync is off: {refusal}", style="yellow")
            return None
        app = locate_app(db)
        if app is None:
            say(out, _NO_APP_OFF, style="yellow")
            return None
        config = dev_engine_config(db, app, watch=watch, debounce=debounce)
        return cls(replace(config, running=running_tables(db)), out=out)

    def stop(self) -> None:
        """Ask the file watcher to end now (call before cancelling the engine's task)."""
        self._stopping = True
        if self._stop is not None:
            self._stop.set()

    async def run(self) -> None:
        """Take the lock (or stay quiet until it is free), then watch and sync."""
        self._stop = anyio.Event()
        if self._stopping:
            return
        lock: DevEngineLock | None = None
        try:
            root = self.config.project_root
            if root is None:
                root = await anyio.to_thread.run_sync(project_root, self.config.watch)
            lock = DevEngineLock(root / ".deesse", self.config.lock_key)
            if not await anyio.to_thread.run_sync(lock.try_acquire):
                await self._wait_for_lock(lock)
            self.leading = True
            await self._lead()
        except Exception as exc:  # the app must survive its development engine
            failure = escape(repr(exc))
            say(self.out, f"[bold red]dev sync stopped after an error:[/bold red] {failure}")
        finally:
            if lock is not None:
                lock.release()

    async def _wait_for_lock(self, lock: DevEngineLock) -> None:
        holder = await anyio.to_thread.run_sync(lock.holder)
        who = f"another engine (pid {holder})" if holder else "another engine"
        database = escape(self.config.database)
        say(self.out, f"{who} keeps {database} in sync; this one stays quiet", style="dim")
        # flock has no "tell me when it is free" that a thread could wait on cancellably.
        while True:
            await anyio.sleep(self.config.lock_retry)
            if await anyio.to_thread.run_sync(lock.try_acquire):
                break
        say(self.out, "the other engine stopped; this one takes over", style="dim")

    async def _lead(self) -> None:
        assert self._stop is not None
        paths = escape(", ".join(_short(p) for p in self.config.watch))
        debounce, database = self.config.debounce, escape(self.config.database)
        say(self.out, f"watching {paths} (debounce {debounce:g}s) · {database}")
        self._debouncer = debouncer = Debouncer(self.config.debounce)
        self._reloader = self._new_reloader()
        try:
            async with anyio.create_task_group() as tg:
                # Watch first, then check: an edit made during the first check is not missed.
                tg.start_soon(self._pump, debouncer, self._stop)
                await self._round("startup check")
                while True:
                    batch = await debouncer.next_batch()
                    await self._round(_describe(batch))
        finally:
            reloader, self._reloader = self._reloader, None
            await reloader.aclose()  # kills the spare interpreter (shielded)

    async def _pump(self, debouncer: Debouncer, stop: anyio.Event) -> None:
        while not stop.is_set():
            try:
                async with aclosing(self._changes(stop)) as stream:
                    async for paths in stream:
                        debouncer.add(paths)
                return
            except Exception as exc:
                failure = escape(repr(exc))
                say(self.out, f"[yellow]watching failed:[/yellow] {failure}; retrying soon")
                await anyio.sleep(_WATCH_RETRY)

    async def _round(self, trigger: str) -> None:
        try:
            await self.sync(trigger)
        except Exception as exc:
            failure = escape(repr(exc))
            say(self.out, f"[bold red]sync failed:[/bold red] {failure}; still watching")
        finally:
            self.syncs += 1

    async def sync(self, trigger: str) -> ReloadResult:
        """One round: re-load in a fresh interpreter, plan, apply or hold back, report."""
        say(self.out, f"{escape(trigger)} → re-loading the collections…", style="dim")
        result = await self._reload()
        if result.error:
            report_error(self.out, result)
        elif result.applied:
            self._report_applied(result)
        elif result.is_empty:
            say(self.out, f"database in sync ({result.seconds:.1f}s)", style="dim")
        elif result.has_data_loss:
            await self._hold_back(result)
        else:
            say(self.out, "plan not applied:", style="yellow")
            for row in change_rows(result.plan):
                self.out.print(change_line(row))
        return result

    async def _reload(self, accept: str | None = None) -> ReloadResult:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._progress, anyio.current_time())
            if self._reloader is None:  # sync() called outside run(): a one-off interpreter
                async with self._new_reloader() as reloader:
                    result = await reloader.run(accept=accept)
            else:
                result = await self._reloader.run(accept=accept)
            tg.cancel_scope.cancel()
        return result

    async def _progress(self, started: float) -> None:
        # A large database can take a while to compare: show that the engine is alive.
        while True:
            await anyio.sleep(_PROGRESS_EVERY)
            elapsed = anyio.current_time() - started
            say(self.out, f"… still planning ({elapsed:.0f}s)", style="dim")

    def _new_reloader(self) -> Reloader:
        c = self.config
        return Reloader(c.app_path, import_root=c.import_root, database=c.database, url=c.url)

    async def _hold_back(self, result: ReloadResult) -> None:
        interactive = self.config.interactive
        if interactive is None:
            interactive = stdin_is_tty()
        command = f"deesse push --accept-data-loss --app {self.config.app_path}"
        if self.config.url is not None:
            command += f" --url {_shown_url(self.config.url)}"
        panel = held_back_panel(
            result, database=self.config.database, command=command, interactive=interactive
        )
        self.out.print(panel)
        if not interactive:
            return
        debouncer = self._debouncer
        if debouncer is not None and debouncer.pending:
            # Saved again while planning: that plan is already stale, do not ask about it.
            say(self.out, "the files changed meanwhile: re-checking soon", style="dim")
            return
        answer = await ask_yes_no(
            self.out,
            "Apply these statements and lose that data?",
            until=debouncer.changed if debouncer is not None else None,
        )
        if answer is None:
            say(self.out, "the files changed again: question withdrawn", style="dim")
        elif not answer:
            say(self.out, "nothing applied; the database keeps its data", style="yellow")
        else:
            await self._apply_accepted(result)

    async def _apply_accepted(self, result: ReloadResult) -> None:
        accepted = await self._reload(accept=result.fingerprint)
        if accepted.error:
            report_error(self.out, accepted)
        elif accepted.changed:
            say(self.out, "the plan changed since the question: nothing applied", style="yellow")
            await self.sync("re-check")
        else:
            self._report_applied(accepted)

    def _report_applied(self, result: ReloadResult) -> None:
        report_applied(self.out, result)
        running, now = self.config.running, result.tables
        if running is None or now is None or self._told_to_reload:
            return
        stale = stale_code(running, now)
        if stale:
            # Once: every later request fails the same way until the process restarts.
            self._told_to_reload = True
            shown = ", ".join(stale[:3]) + (", …" if len(stale) > 3 else "")
            say(
                self.out,
                f"the running app must reload: its code still uses the old collections "
                f"({escape(shown)}), so requests touching them fail until it restarts "
                "(`uvicorn --reload` restarts on every save)",
                style="yellow",
            )


def stale_code(running: Mapping[str, frozenset[str]], now: Mapping[str, TableShape]) -> list[str]:
    """What the running code expects that the database no longer has, one phrase each.

    >>> now = {"notes": TableShape(frozenset({"id", "heading"}), frozenset({"heading"}))}
    >>> stale_code({"notes": frozenset({"id", "title"}), "tags": frozenset({"id"})}, now)
    ['notes.title is gone', 'notes.heading is new and required', 'table tags is gone']
    """
    found: list[str] = []
    for table, columns in sorted(running.items()):
        shape = now.get(table)
        if shape is None:
            found.append(f"table {table} is gone")
            continue
        found += [f"{table}.{c} is gone" for c in sorted(columns - shape.columns)]
        new_required = shape.required - columns
        found += [f"{table}.{c} is new and required" for c in sorted(new_required)]
    return sorted(found, key=lambda phrase: phrase.startswith("table "))


def running_tables(db: Database) -> dict[str, frozenset[str]]:
    """The tables and columns ``db``'s compiled collections use."""
    return {name: shape.columns for name, shape in table_shapes(db.metadata).items()}


def memory_refusal(db: Database) -> str | None:
    """Why the engine cannot serve ``db`` (an in-memory database), or None when it can.

    >>> # memory_refusal(define_config(provider="sqlite://:memory:", collections=[]))
    """
    if db.url.memory_name is None:
        return None
    return (
        f"an in-memory {db.dialect.display_name} database ({db.url.display}) lives inside "
        "this process only, the engine's fresh interpreters cannot see it; use a database "
        "file or a server"
    )


def dev_engine_config(
    db: Database, app: AppLocation, *, watch: WatchPaths | None, debounce: float
) -> DevEngineConfig:
    """The configuration for ``db`` found at ``app`` (see ``DevEngine.for_database``)."""
    if watch is None:
        folders = collection_folders(db) or _module_folder(app.path)
        recursive = False  # exactly those folders: a project root would drag in .venv
    else:
        folders = [Path(p).resolve() for p in watch]
        recursive = True
    return DevEngineConfig(
        app_path=app.path,
        database=db.url.identity,
        lock_key=lock_key(db.url),
        watch=tuple(folders),
        recursive=recursive,
        debounce=debounce,
        import_root=app.import_root,
    )


def _module_folder(app_path: str) -> list[Path]:
    spec = importlib.util.find_spec(app_path.partition(":")[0])
    if spec is None or not spec.origin:
        return [Path.cwd()]
    return [Path(spec.origin).resolve().parent]


def _shown_url(url: str) -> str:
    # The URL as typed, unless it holds a password: then with *** (never echo secrets).
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # the engine would not have started with it
        return url
    return url if parsed.password is None else parsed.render_as_string(hide_password=True)


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


def _describe(batch: frozenset[str]) -> str:
    names = sorted(_short(Path(p)) for p in batch)
    if len(names) == 1:
        return f"{names[0]} changed"
    shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
    return f"{len(names)} files changed ({shown})"
