"""Find the application's ``Database`` from a ``module:attribute`` path, as uvicorn does.

The path comes from ``--app``, else the ``DEESSE_APP`` environment variable, else
``[tool.deesse] app = "..."`` in the current folder's ``pyproject.toml``. The current
folder is put first on ``sys.path`` so that ``myapp.db:db`` imports the project's own
package.
"""

from __future__ import annotations

import importlib
import os
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from ..drivers.url import parse_url
from ..errors import ConfigError, did_you_mean
from ..runtime.database import BaseDatabase as Database
from ..runtime.settings import connection_settings

__all__ = [
    "ENV_VAR",
    "app_path",
    "find_database",
    "project_settings",
    "with_url",
]

D = TypeVar("D", bound=Database)

ENV_VAR = "DEESSE_APP"
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
    path = given or os.environ.get(ENV_VAR) or project_settings(cwd).get("app")
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
