"""Type aliases shared across the package."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

__all__ = ["Backend", "DriverRow", "Row"]

Backend: TypeAlias = Literal["postgresql", "sqlite", "mysql"]
"""A database family; MariaDB is "mysql"."""

Row: TypeAlias = dict[str, Any]
"""A row as the public API returns it: field name -> Python value."""

DriverRow: TypeAlias = Sequence[Any]
"""A row as a driver returns it: values by position."""
