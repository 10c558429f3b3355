"""Type aliases shared across the package."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from os import PathLike
from typing import Any, TypeAlias

__all__ = ["DriverRow", "ManageRule", "Row", "WatchPaths"]

Row: TypeAlias = dict[str, Any]
"""A row as the public API returns it: field name -> Python value."""

DriverRow: TypeAlias = Sequence[Any]
"""A row as a driver returns it: values by position."""

ManageRule: TypeAlias = Callable[[str], bool | None]
"""A table name -> True (the schema sync manages it), False (leave it alone), None (default)."""

WatchPaths: TypeAlias = Sequence[str | PathLike[str]]
"""Folders (or files) the development engine watches: ``db.lifespan(watch=[...])``."""
