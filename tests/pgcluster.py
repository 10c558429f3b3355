"""PostgreSQL servers of the tests' own: clusters, TLS clusters, hot standbys.

The one place that starts PostgreSQL for the tests (the fault tests' cluster, the TLS
cluster, the replication pair). Each server runs from a temp dir on a free loopback
port, never touching the shared server:

- ``initdb`` and the postmaster run as the ``postgres`` user (initdb refuses root);
- it is stopped by its PID (never by name) when its fixture ends and, should pytest
  itself be killed, by the kernel: the postmaster gets ``SIGQUIT`` when its parent dies
  (``PR_SET_PDEATHSIG``, when started from the main thread);
- temp dirs record the pytest PID that made them: the next run stops any postmaster
  left in a dir whose owner is gone and removes the dir.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.conftest import IN_CI

PG_BIN = Path(os.environ.get("DEESSE_PG_BIN", "/usr/lib/postgresql/15/bin"))
PREFIX = "deesse-test-server-"


def free_port() -> int:
    """A loopback TCP port nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing(what: str) -> None:
    """Skip locally, fail under CI=true: CI must not pass by skipping."""
    if IN_CI:
        pytest.fail(f"CI=true: {what}", pytrace=False)
    pytest.skip(f"!!! {what}")


def unavailable(*tools: str) -> str | None:
    """Why no private PostgreSQL can be started here (None: it can)."""
    for tool in ("initdb", "postgres", *tools):
        if not (PG_BIN / tool).exists():
            return f"no {tool} in {PG_BIN} (install postgresql-15 or set DEESSE_PG_BIN)"
    if os.geteuid() != 0:
        return "a private cluster runs initdb as the postgres user: needs root"
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres OS user"
    return None


def die_with_parent(sig: int) -> Callable[[], None]:
    """A ``preexec_fn``: the kernel sends ``sig`` to the child when pytest dies."""

    def setup() -> None:
        # PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)

    return setup


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return False


def _postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def sweep_stale_dirs() -> None:
    """Stop the postmasters and remove the temp dirs of runs whose pytest is gone."""
    for path in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            owner = int((path / "owner.pid").read_text())
        except (OSError, ValueError):
            owner = None
        if owner is not None and (owner == os.getpid() or alive(owner)):
            continue
        for pidfile in path.glob("*/postmaster.pid"):
            pid = _postmaster_pid(pidfile.parent)
            if pid is not None and alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGQUIT)  # immediate shutdown: it is garbage now
                wait_gone(pid, 10)
        shutil.rmtree(path, ignore_errors=True)


def make_temp_dir() -> Path:
    """A new temp dir readable by the server users, owned by this pytest process."""
    sweep_stale_dirs()
    path = Path(tempfile.mkdtemp(prefix=PREFIX))
    path.chmod(0o755)
    (path / "owner.pid").write_text(str(os.getpid()))
    return path


@contextlib.contextmanager
def temp_dir() -> Iterator[Path]:
    """``make_temp_dir()``, removed afterwards."""
    path = make_temp_dir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run(*cmd: str | Path, user: str | None = None, cwd: Path | None = None) -> None:
    """Run a command (as ``user``), raising with its output if it fails."""
    result = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, user=user, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {result.stdout}\n{result.stderr}")


# Fast and throw-away: nothing here must survive a crash of the machine.
FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PostgresServer:
    """One private postmaster on a data dir: ``start()``, ``stop()``, ``kill()``.

    Build it with ``PostgresServer.initdb(root)`` (a new cluster) or
    ``primary.standby(root)`` (a hot standby of a running primary).
    """

    def __init__(self, data: Path, settings: Mapping[str, str] | None = None) -> None:
        self.data = data
        self.root = data.parent
        self.port = free_port()
        self.log = self.root / f"{data.name}.log"
        self.settings = dict(settings or {})
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def initdb(
        cls,
        root: Path,
        name: str = "data",
        settings: Mapping[str, str] | None = None,
        hba: str | None = None,
    ) -> PostgresServer:
        """A new cluster in ``root/name`` (``hba``: a pg_hba.conf to use instead)."""
        data = root / name
        data.mkdir()
        shutil.chown(data, "postgres", "postgres")
        run(PG_BIN / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync",
            "-E", "UTF8", user="postgres")  # fmt: skip
        if hba is not None:
            (data / "pg_hba.conf").write_text(hba)
        return cls(data, settings)

    def standby(self, root: Path, name: str = "standby", slot: str = "standby") -> PostgresServer:
        """A hot standby of this (running) server: ``pg_basebackup -R -X stream`` with
        a replication slot, so the primary keeps the WAL it has not received yet."""
        data = root / name
        data.mkdir(mode=0o700)
        shutil.chown(data, "postgres", "postgres")
        run(PG_BIN / "pg_basebackup", "-D", data, "-h", "127.0.0.1", "-p", str(self.port),
            "-U", "postgres", "-R", "-X", "stream", "-C", "-S", slot, "--no-sync",
            user="postgres")  # fmt: skip
        return type(self)(data, {**self.settings, "hot_standby": "on"})

    @property
    def url(self) -> str:
        """The ``postgres`` database's URL."""
        return self.database_url("postgres")

    def database_url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self, timeout: float = 60) -> None:
        settings = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.data),
            **self.settings,
        }
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(PG_BIN / "postgres"), "-D", str(self.data),
                 *(f"-c{k}={v}" for k, v in settings.items())],
                user="postgres", group="postgres", stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=self._death_signal(),
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"private PostgreSQL exited with {self.proc.returncode}: "
                    f"{self.log.read_text()[-3000:]}"
                )
            # postmaster.pid's 8th line: "ready" (a primary) or "standby" (a hot standby
            # accepting connections) once it accepts connections.
            if _postmaster_pid(self.data) == self.proc.pid and self._status() in (
                "ready",
                "standby",
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"private PostgreSQL was not ready within {timeout} s")

    @staticmethod
    def _death_signal() -> Callable[[], None] | None:
        # PR_SET_PDEATHSIG fires when the *thread* that started the child exits, not
        # the process: from a worker thread (anyio.to_thread, which retires idle
        # threads) it would kill the server mid-test. Started there, a server left
        # behind by a killed pytest is stopped by the next run's sweep instead.
        if threading.current_thread() is not threading.main_thread():
            return None
        return die_with_parent(signal.SIGQUIT)

    def _status(self) -> str:
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return ""
        return lines[7].strip() if len(lines) > 7 else ""

    def stop(self, sig: signal.Signals = signal.SIGINT) -> None:
        """Stop by PID (SIGINT: fast shutdown, clients are disconnected; SIGQUIT:
        immediate, like a crash: the next start runs crash recovery)."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def kill(self) -> None:
        """Crash it: immediate shutdown by PID, no checkpoint."""
        self.stop(signal.SIGQUIT)
