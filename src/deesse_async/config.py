"""``define_config``: collections + provider URL -> ``Database``."""

from __future__ import annotations

import dataclasses
import math
import ssl as ssl_module
from collections.abc import Sequence
from typing import Any

from .compile.compiler import compile_schema
from .compile.schema import Schema
from .database import Database
from .dialects import DIALECTS
from .drivers.base import PoolOptions
from .drivers.url import DatabaseURL, Pooler, file_url, parse_url, with_pooler
from .errors import ConfigError, QueryError, did_you_mean
from .query.options import parse_where
from .runtime.database import DatabaseView, Transaction
from .runtime.settings import connection_settings
from .schema.collection import Collection, publish_artifacts
from .schema.relations import Relations
from .sync.registry import NEVER_MANAGED, Manage, manage_rule

__all__ = ["DEFAULT_PROVIDER", "api_names", "define_config"]

DEFAULT_PROVIDER = file_url("deesse.db")
_POOL_OPTIONS = [f.name for f in dataclasses.fields(PoolOptions)]


def define_config(
    provider: str = DEFAULT_PROVIDER,
    collections: Sequence[Collection] = (),
    relations: Relations | None = None,
    *,
    ssl: ssl_module.SSLContext | None = None,
    manage: Manage = None,
    replicas: Sequence[str] = (),
    max_replica_lag: float = 5.0,
    pooler: Pooler | None = None,
    **pool_options: Any,
) -> Database:
    """Compile ``collections`` and bind them to the database at ``provider``.

    Pool options: ``pool_size`` (default 10), ``pool_min_size`` (1), ``pool_timeout``
    (seconds to wait for a free connection, 30), ``connect_timeout`` (10),
    ``statement_cache_size`` (asyncpg prepared statements per connection, 1024).
    ``ssl``: an ``ssl.SSLContext`` for PostgreSQL/MySQL; TLS is then required and the
    context decides what is verified (URL options: docs/runtime.md).

    ``manage``: which tables no collection declares are the schema sync's to drop (default:
    only those it created). Glob patterns (``["legacy_*", "!legacy_audit"]``) or a callable
    ``name -> True | False | None``; see docs/sync.md.

    ``replicas``: URLs of hot standbys of ``provider`` (PostgreSQL). Reads go to them
    when that cannot show the caller stale data of its own; a replica lagging more than
    ``max_replica_lag`` seconds (default 5), or down, is skipped. See docs/production.md.
    ``pooler="transaction"`` (or ``?pooler=transaction`` in a PostgreSQL URL): a
    transaction-mode pooler such as PgBouncer is in front of the server; no prepared
    statement or setting outlives a transaction. ``pooler="session"``: a session-mode
    pooler (or none) is: connections keep their statement cache and settings, and no
    detection runs. Without either, a pooler is found when the first connection is
    opened, and treated as a transaction-mode one (docs/production.md).

    >>> from deesse_async import collection, field, text
    >>> Tags = collection(slug="tags", fields={"name": field(type=text())})
    >>> db = define_config(provider="sqlite://:memory:", collections=[Tags])
    >>> db.dialect.name
    'sqlite'
    """
    if relations is not None and not isinstance(relations, Relations):
        raise ConfigError("define_config(relations=...) takes the result of define_relations(...)")
    options = _pool_options(pool_options)
    url = connection_settings(parse_url(provider), ssl, options)
    url = _pooled(url, pooler, pool_options)
    if isinstance(collections, Collection) or not isinstance(collections, Sequence | set):
        raise ConfigError("collections must be a list of collection(...) definitions")
    schema = compile_schema(list(collections), relations)
    _check_predefined_filters(schema)
    reserved = sorted(NEVER_MANAGED & set(schema.metadata.tables))
    if reserved:
        raise ConfigError(
            f"table name {reserved[0]!r} is reserved for schema bookkeeping: choose another slug"
        )
    replica_urls = _replicas(url, replicas, max_replica_lag, ssl, options, pooler)
    db = Database(schema, url, options, replica_urls, float(max_replica_lag))
    _check_slugs_shadow_nothing(db)
    db.manage = manage_rule(manage)
    _publish(schema)
    return db


def api_names(db: Database) -> frozenset[str]:
    """The public attribute names of ``db`` and of its transactions: ``db.<slug>`` and
    ``tx.<slug>`` may use none of them (read from the classes, so new methods count).

    >>> sorted(api_names(define_config("sqlite://:memory:")) & {"atomic", "push", "users"})
    ['atomic', 'push']
    """
    # The instance (its attributes set in __init__: query, schema, url...) and the
    # Transaction class (a transaction's own attributes mirror the database's).
    names = set(dir(db)) | set(dir(Transaction)) | set(dir(DatabaseView))
    names |= {
        n
        for cls in (*type(db).__mro__, Transaction, DatabaseView)
        for n in vars(cls).get("__annotations__", {})
    }
    # Private names count too (db._pool, tx._state): a slug may start with one "_".
    return frozenset(n for n in names if not n.startswith("__"))


def _check_slugs_shadow_nothing(db: Database) -> None:
    taken = sorted(api_names(db) & set(db.schema.collections))
    if taken:
        slug = taken[0]
        raise ConfigError(
            f"collection slug {slug!r} is reserved: db.{slug} (or tx.{slug} in a transaction) "
            "is part of the Database API; choose another slug"
        )


def _publish(schema: Schema) -> None:
    """``Users.table``, ``Users.create_model``...: those of this configuration from now on."""
    for cc in schema.collections.values():
        publish_artifacts(
            cc.collection,
            {
                "table": cc.table,
                "create_model": cc.create_model,
                "update_model": cc.update_model,
                "read_model": cc.read_model,
            },
        )


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


def _replicas(
    primary: DatabaseURL,
    given: Sequence[str],
    max_lag: float,
    ssl: ssl_module.SSLContext | None,
    options: PoolOptions,
    pooler: Pooler | None,
) -> list[DatabaseURL]:
    """``replicas=`` checked: URLs of the primary's backend, when its dialect has replicas
    (``ssl=`` and ``pooler=`` apply to them as to the provider)."""
    if isinstance(given, str) or not isinstance(given, Sequence):
        raise ConfigError("define_config(replicas=...) takes a list of URLs: replicas=[url, ...]")
    if isinstance(max_lag, bool) or not isinstance(max_lag, int | float) or not max_lag > 0:
        raise ConfigError(
            f"define_config(max_replica_lag={max_lag!r}) must be a number of seconds > 0"
        )
    if not given:
        return []
    dialect = DIALECTS[primary.backend]
    if not dialect.supports_replicas:
        raise ConfigError(
            f"define_config(replicas=...): {dialect.display_name} has no read replicas "
            "deesse_async can route to; remove replicas="
        )
    urls = []
    for replica in given:
        if not isinstance(replica, str):
            raise ConfigError(f"define_config(replicas=...): {replica!r} is not a URL string")
        url = connection_settings(parse_url(replica), ssl, options)
        if url.backend != primary.backend:
            raise ConfigError(
                f"define_config(replicas=...): {url.display} is not a "
                f"{dialect.display_name} URL like the provider {primary.display}"
            )
        urls.append(with_pooler(url, pooler))
    return urls


# Waits: a bound that is zero, negative, NaN or infinite is no bound. A year is the most
# asyncmy accepts for connect_timeout.
_SECONDS = ("pool_timeout", "connect_timeout")
_MAX_SECONDS = 365 * 24 * 3600


def _pooled(url: DatabaseURL, pooler: str | None, given: dict[str, Any]) -> DatabaseURL:
    """``url`` with ``pooler=`` applied; a statement cache cannot be had behind one."""
    url = with_pooler(url, pooler)
    if url.pooler == "transaction" and given.get("statement_cache_size"):
        raise ConfigError(
            "define_config: statement_cache_size keeps prepared statements on the server "
            "connection, which a transaction-mode pooler hands to other clients; drop "
            "statement_cache_size (pooler='transaction' prepares each statement per use)"
        )
    return url


def _pool_options(given: dict[str, Any]) -> PoolOptions:
    for name, value in given.items():
        if name not in _POOL_OPTIONS:
            raise ConfigError(
                f"unknown define_config option {name!r}" + did_you_mean(name, _POOL_OPTIONS)
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"define_config option {name}={value!r} must be a number")
        if name in _SECONDS and not (math.isfinite(value) and 0 < value <= _MAX_SECONDS):
            raise ConfigError(
                f"define_config option {name}={value!r} must be a finite number of seconds "
                f"> 0 and <= {_MAX_SECONDS} (every wait is bounded)"
            )
        if name not in _SECONDS and (not isinstance(value, int) or value < 0):
            raise ConfigError(f"define_config option {name}={value!r} must be an integer >= 0")
    options = PoolOptions(**given)
    if options.pool_size < 1:
        raise ConfigError("define_config option pool_size must be at least 1")
    return options
