"""``define_config``: collections + provider URL -> ``Database``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ..compile.schema import Schema, compile_schema
from ..drivers.base import PoolOptions
from ..errors import ConfigError, QueryError
from ..query.filters import did_you_mean
from ..query.options import parse_where
from ..schema.collection import Collection
from ..schema.relations import Relations
from ..sync.registry import NEVER_MANAGED, Manage, manage_rule
from .database import Database
from .url import parse_url

__all__ = ["DEFAULT_PROVIDER", "define_config"]

DEFAULT_PROVIDER = "sqlite:///deesse.db"
_POOL_OPTIONS = [f.name for f in dataclasses.fields(PoolOptions)]


def define_config(
    provider: str = DEFAULT_PROVIDER,
    collections: Sequence[Collection] = (),
    relations: Relations | None = None,
    *,
    manage: Manage = None,
    **pool_options: Any,
) -> Database:
    """Compile ``collections`` and bind them to the database at ``provider``.

    Pool options: ``pool_size`` (default 10), ``pool_min_size`` (1), ``pool_timeout``
    (seconds to wait for a free connection, 30), ``connect_timeout`` (10),
    ``statement_cache_size`` (asyncpg prepared statements per connection, 1024).

    ``manage``: which tables no collection declares are the schema sync's to drop (default:
    only those it created). Glob patterns (``["legacy_*", "!legacy_audit"]``) or a callable
    ``name -> True | False | None``; see docs/sync.md.

    >>> from deesse_async import collection, field, text
    >>> Tags = collection(slug="tags", fields={"name": field(type=text())})
    >>> db = define_config(provider="sqlite://:memory:", collections=[Tags])
    >>> db.dialect.name
    'sqlite'
    """
    if relations is not None and not isinstance(relations, Relations):
        raise ConfigError("define_config(relations=...) takes the result of define_relations(...)")
    url = parse_url(provider)
    options = _pool_options(pool_options)
    if isinstance(collections, Collection) or not isinstance(collections, Sequence | set):
        raise ConfigError("collections must be a list of collection(...) definitions")
    schema = compile_schema(list(collections), relations)
    _check_predefined_filters(schema)
    reserved = sorted(NEVER_MANAGED & set(schema.metadata.tables))
    if reserved:
        raise ConfigError(
            f"table name {reserved[0]!r} is reserved for schema bookkeeping: choose another slug"
        )
    db = Database(schema, url, options)
    db.manage = manage_rule(manage)
    return db


def _check_predefined_filters(schema: Schema) -> None:
    """A relation's ``where=`` is checked now, so a typo fails at startup, not per query."""
    for cc in schema.collections.values():
        for rel in cc.relations.values():
            if rel.where is None:
                continue
            try:
                parse_where(schema, rel.target, rel.where, f"{cc.slug}.{rel.name}.where")
            except QueryError as exc:
                raise ConfigError(f"define_relations: {exc}") from None


def _pool_options(given: dict[str, Any]) -> PoolOptions:
    for name, value in given.items():
        if name not in _POOL_OPTIONS:
            raise ConfigError(
                f"unknown define_config option {name!r}" + did_you_mean(name, _POOL_OPTIONS)
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"define_config option {name}={value!r} must be a number >= 0")
    options = PoolOptions(**given)
    if options.pool_size < 1:
        raise ConfigError("define_config option pool_size must be at least 1")
    return options
