"""The user's project: where its ``Database`` is, how to import it, what to watch.

The ``deesse`` commands find the app as uvicorn does: a ``module:attribute`` path from
``--app``, else the ``DEESSE_APP`` environment variable, else ``[tool.deesse] app = "..."``
in the current folder's ``pyproject.toml`` (``app_path``, ``find_database``); the current
folder is put first on ``sys.path`` so that ``myapp.db:db`` imports the project's own
package.

The development engine goes the other way: a running app never tells it that path, so
``locate_app`` reads it back from ``sys.modules`` (the module global that *is* this
``Database``), for the fresh interpreters that re-load the collections. It also finds the
folders to watch, the project root (``.deesse/`` lives there) and the lock key.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import sysconfig
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from ..drivers.url import parse_url
from ..errors import ConfigError, did_you_mean
from ..runtime.database import BaseDatabase as Database
from ..runtime.settings import connection_settings

if TYPE_CHECKING:
    from ..drivers.url import DatabaseURL

__all__ = [
    "APP_ENV",
    "AppLocation",
    "app_path",
    "collection_folders",
    "find_database",
    "import_root",
    "installed_prefixes",
    "locate_app",
    "lock_key",
    "project_root",
    "project_settings",
    "with_url",
]

APP_ENV = "DEESSE_APP"
D = TypeVar("D", bound=Database)

_HOW = (
    "pass --app module:attribute (e.g. --app myapp.db:db), set DEESSE_APP, or add\n"
    '  [tool.deesse]\n  app = "myapp.db:db"\nto pyproject.toml'
)


def with_url(db: D, url: str) -> D:
    """The same collections (and ``manage=`` rule, pool options) on another database.

    >>> # staging = with_url(db, "postgresql://deploy@staging/shop")
    """
    # The URL's own TLS options, and the same connect_timeout as the app's database.
    target = connection_settings(parse_url(url), None, db._options)
    other = type(db)(db.schema, target, db._options)
    other.manage = db.manage
    return other


def project_settings(cwd: Path | None = None) -> Mapping[str, Any]:
    """The ``[tool.deesse]`` table of ``pyproject.toml`` in ``cwd`` (empty when absent)."""
    path = (cwd or Path.cwd()) / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    settings = data.get("tool", {}).get("deesse", {})
    if not isinstance(settings, dict):
        raise ConfigError(f"{path}: [tool.deesse] must be a table")
    return settings


def app_path(given: str | None = None, cwd: Path | None = None) -> str:
    """The ``module:attribute`` to load: ``given``, else ``$DEESSE_APP``, else pyproject."""
    path = given or os.environ.get(APP_ENV) or project_settings(cwd).get("app")
    if not path:
        raise ConfigError(f"deesse does not know where your Database is: {_HOW}")
    if not isinstance(path, str) or path.count(":") != 1 or not all(path.split(":")):
        raise ConfigError(f"app path {path!r} must look like 'module:attribute'; {_HOW}")
    return path


def _import(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigError(
                f"cannot import module {module_name!r} from {Path.cwd()}: run deesse from "
                "your project folder or fix the app path"
            ) from None
        raise ConfigError(f"importing {module_name!r} failed: {exc}") from exc
    except Exception as exc:  # the user's module raised while importing
        raise ConfigError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc


def find_database(
    given: str | None = None, cwd: Path | None = None, *, url: str | None = None
) -> Database:
    """Import and return the ``Database`` named by ``module:attribute``.

    ``url`` (``--url``) points the app's collections at another database.

    >>> # db = find_database("myapp.db:db")
    """
    folder = str((cwd or Path.cwd()).resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    path = app_path(given, cwd)
    module_name, attribute = path.split(":")
    obj: Any = _import(module_name)
    for part in attribute.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise ConfigError(
                f"{module_name!r} has no attribute {attribute!r}" + did_you_mean(part, names)
            )
        obj = getattr(obj, part)
    if not isinstance(obj, Database):
        raise ConfigError(
            f"{path} is a {type(obj).__name__}, not a Database: point it at the object "
            "define_config(...) returns"
        )
    return obj if url is None else with_url(obj, url)


# --------------------------------------------------------------------------- the running app

_PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")
_MAIN_NAMES = ("__main__", "__mp_main__")  # a script; multiprocessing's alias of it


@dataclass(frozen=True, slots=True)
class AppLocation:
    """The ``module:attribute`` path of a ``Database`` and the folder that imports it."""

    path: str
    import_root: Path | None  # put on the child's PYTHONPATH; None: already importable


def lock_key(url: DatabaseURL) -> str:
    """A short file-name-safe key for the database (the password is part of no key)."""
    return hashlib.sha256(url.identity.encode()).hexdigest()[:16]


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
