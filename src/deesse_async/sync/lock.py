"""One development engine (``DevEngine``) per database: a file lock in ``<project>/.deesse/``.

Several uvicorn workers, or the app started twice, would otherwise each apply the same
plan (and each ask the same question). ``flock`` locks belong to an open file
description, so two engines in one process exclude each other too, and the kernel drops
the lock when its holder dies: a crashed engine never leaves a stale lock behind.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["DevEngineLock"]

_GITIGNORE = "# Written by deesse_async: dev engine locks, never committed.\n*\n"


class DevEngineLock:
    """A non-blocking exclusive lock on ``<folder>/engine-<key>.lock``.

    Blocking file-system calls: run ``try_acquire``/``holder`` through
    ``anyio.to_thread.run_sync`` from async code.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / ".deesse"
    >>> first, second = DevEngineLock(folder, "db1"), DevEngineLock(folder, "db1")
    >>> first.try_acquire(), second.try_acquire()
    (True, False)
    >>> first.release(); second.try_acquire()
    True
    >>> second.release()
    """

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.path = folder / f"engine-{key}.lock"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never waits. Returns whether it is held now."""
        if self._fd is not None:
            return True
        self.folder.mkdir(parents=True, exist_ok=True)
        ignore = self.folder / ".gitignore"
        if not ignore.exists():
            ignore.write_text(_GITIGNORE)
        # O_CLOEXEC: the fresh interpreters the engine starts must not inherit the lock.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        if not _flock(fd):
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> str | None:
        """The pid the current holder wrote, if any (for the "stays quiet" message)."""
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return text or None

    def release(self) -> None:
        """Give the lock up (closing the file releases it); safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


if sys.platform == "win32":  # pragma: no cover - no flock; one engine cannot be enforced

    def _flock(fd: int) -> bool:
        return True

else:
    import fcntl

    def _flock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
