"""A throw-away PostgreSQL cluster for fault tests (never the shared server).

``initdb`` runs as the ``postgres`` user into a temp dir; the postmaster listens on a
free loopback port and is stopped by its PID. Each dir is named after the pytest
process that made it, so a later run removes what a killed run left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN = Path(os.environ.get("DEESSE_PG_BIN", "/usr/lib/postgresql/15/bin"))
PREFIX = "deesse-faultpg-"


def available() -> str | None:
    """Why no private cluster can be started here (None: it can)."""
    if not (BIN / "initdb").exists():
        return f"no PostgreSQL binaries in {BIN} (set DEESSE_PG_BIN)"
    if os.geteuid() != 0:
        return "the private cluster runs initdb as the postgres user: needs root"
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def remove_stale() -> None:
    """Stop and delete clusters left by test runs that were killed."""
    for path in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            owner = int(path.name[len(PREFIX) :].split("-")[0])
        except ValueError:
            continue
        if owner == os.getpid() or _alive(owner):
            continue
        pid = _postmaster_pid(path / "data")
        if pid is not None and _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)  # immediate shutdown: it is garbage now
            _wait_gone(pid, 10)
        shutil.rmtree(path, ignore_errors=True)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One private postmaster: ``start()``, ``stop()``, ``restart()``, ``close()``."""

    def __init__(self) -> None:
        remove_stale()
        self.root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        shutil.chown(self.root, "postgres", "postgres")
        subprocess.run(
            [str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
             "--no-sync", "-E", "UTF8"],
            user="postgres", check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(BIN / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=60"],
            user="postgres", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"private PostgreSQL exited with {self.proc.returncode}")
            if _postmaster_pid(self.data) == self.proc.pid and self._status() == "ready":
                return
            time.sleep(0.05)
        raise RuntimeError("private PostgreSQL was not ready within 60 s")

    def _status(self) -> str:
        # postmaster.pid's 8th line: "starting", "ready" (accepting connections), ...
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return ""
        return lines[7].strip() if len(lines) > 7 else ""

    def stop(self, sig: signal.Signals = signal.SIGINT) -> None:
        """Stop by PID (SIGINT: fast shutdown, clients are disconnected)."""
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

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
