"""Where the development engine finds things: the app path, the folders to watch, the lock.

The engine re-loads the collections in a fresh interpreter, which imports the
``Database`` by its ``module:attribute`` path. A running app never tells us that path,
so it is read back from ``sys.modules``: the module global that *is* this ``Database``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..drivers.url import DatabaseURL
    from ..runtime.database import BaseDatabase as Database

__all__ = [
    "AppLocation",
    "collection_folders",
    "database_identity",
    "import_root",
    "installed_prefixes",
    "locate_app",
    "lock_key",
    "project_root",
]

APP_ENV = "DEESSE_APP"
_PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")
_MAIN_NAMES = ("__main__", "__mp_main__")  # a script; multiprocessing's alias of it


@dataclass(frozen=True, slots=True)
class AppLocation:
    """The ``module:attribute`` path of a ``Database`` and the folder that imports it."""

    path: str
    import_root: Path | None  # put on the child's PYTHONPATH; None: already importable


def database_identity(url: DatabaseURL) -> str:
    """The database a URL points at, password hidden; equal URLs give equal identities.

    A relative SQLite path is made absolute (against the current folder) so that the app
    and the fresh interpreter it starts compare equal.
    """
    if url.backend == "sqlite" and url.memory_name is None:
        return f"sqlite:///{Path(url.sqlite_path).resolve()}"
    text = url.display
    if url.schema:
        text += f"?schema={url.schema}"
    return text


def lock_key(url: DatabaseURL) -> str:
    """A short file-name-safe key for the database (the password is part of no key)."""
    return hashlib.sha256(database_identity(url).encode()).hexdigest()[:16]


def _modules() -> Iterator[tuple[str, ModuleType]]:
    # A copy: importing (another thread, a lazy attribute) may change sys.modules meanwhile.
    for name, module in list(sys.modules.items()):
        if isinstance(module, ModuleType):
            yield name, module


def _globals(module: ModuleType) -> dict[str, Any]:
    try:
        return dict(vars(module))
    except (TypeError, RuntimeError):  # no __dict__; changed while copied (another thread)
        return {}


def _main_module_name(module: ModuleType) -> str | None:
    """What ``python app.py`` / ``python -m app`` would be called by an ``import``."""
    spec = getattr(module, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return str(spec.name)
    file = getattr(module, "__file__", None)
    return Path(file).stem if file else None


def locate_app(db: Database) -> AppLocation | None:
    """Find ``module:attribute`` for ``db``; ``DEESSE_APP`` (when set) wins.

    Several modules may hold the same object (``from .db import db``). The one whose
    import finished first is taken: ``sys.modules`` keeps completion order, and a module
    finishes importing before the modules that import it, so that is the one defining
    ``db`` and the cheapest to import. ``__main__`` only when nothing else holds ``db``.
    """
    if os.environ.get(APP_ENV):
        return AppLocation(os.environ[APP_ENV], None)
    found: list[tuple[str, str, ModuleType]] = []
    for name, module in _modules():
        for attribute, value in _globals(module).items():
            if value is db and not attribute.startswith("__"):
                found.append((name, attribute, module))
    if not found:
        return None
    imported = [item for item in found if item[0] not in _MAIN_NAMES]
    name, attribute, module = (imported or found)[0]
    if name in _MAIN_NAMES:
        main_name = _main_module_name(module)
        if main_name is None:
            return None
        name = main_name
    return AppLocation(f"{name}:{attribute}", import_root(name, module))


def import_root(name: str, module: ModuleType) -> Path | None:
    """The ``sys.path`` folder from which ``module`` was imported under ``name``."""
    file = getattr(module, "__file__", None)
    if not file:
        return None
    root = Path(file).resolve().parent
    if Path(file).name == "__init__.py":
        root = root.parent
    for _ in range(name.count(".")):
        root = root.parent
    return root


def installed_prefixes() -> tuple[str, ...]:
    """Where the standard library and installed packages live (never the user's code)."""
    paths = sysconfig.get_paths()
    keys = ("stdlib", "platstdlib", "purelib", "platlib")
    return tuple(str(Path(paths[k]).resolve()) for k in keys if k in paths)


def collection_folders(db: Database) -> list[Path]:
    """The folders of the modules whose globals hold ``db``'s collections.

    A module counts when one of its globals is a collection of ``db`` or a list, tuple or
    dict holding one. Installed packages (site-packages, the standard library) are never
    watched: an edit there is not a development change.
    """
    wanted = {id(cc.collection) for cc in db.schema.collections.values()}
    installed = installed_prefixes()
    folders: set[Path] = set()
    for _, module in _modules():
        file = getattr(module, "__file__", None)
        if not file or not any(id(v) in wanted for v in _candidates(_globals(module))):
            continue
        folder = Path(file).resolve().parent
        if not str(folder).startswith(installed):
            folders.add(folder)
    return sorted(folders)


def _candidates(namespace: dict[str, Any]) -> Iterator[Any]:
    for value in namespace.values():
        yield value
        if isinstance(value, list | tuple):
            yield from value
        elif isinstance(value, dict):
            yield from value.values()


def project_root(paths: Sequence[Path], default: Path | None = None) -> Path:
    """The nearest folder above the watched paths with ``pyproject.toml``/``.git``/``setup.py``.

    Falls back to ``default`` (the current folder when not given): ``.deesse/`` lives there.
    """
    for path in paths:
        for folder in _ancestors(path.resolve()):
            if any((folder / marker).exists() for marker in _PROJECT_MARKERS):
                return folder
    return default if default is not None else Path.cwd()


def _ancestors(path: Path) -> Iterable[Path]:
    start = path if path.is_dir() else path.parent
    return (start, *start.parents)
