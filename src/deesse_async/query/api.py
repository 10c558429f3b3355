"""``db.query.<slug>``: ``find_many`` and ``find_first`` (Drizzle's relational queries)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import QueryError, did_you_mean
from .aggregates import Aggregate
from .options import Placeholder, check_count, suggest
from .pages import Page, check_first, run_page
from .planner import Executor, Query, QueryPlanner, Strategy, build_query
from .stream import RowStream, StreamMode, check_chunk_size

__all__ = ["CollectionQuery", "QueryNamespace"]

_ALIASES = {"with_": "with"}
_SPELLED = {"with": "with_"}


class CollectionQuery:
    """Relational queries on one collection."""

    __slots__ = ("_executor", "_planner", "slug")

    def __init__(self, planner: QueryPlanner, executor: Executor, slug: str) -> None:
        self._planner = planner
        self._executor = executor
        self.slug = slug

    def _options(self, given: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
        options = {}
        for key, value in given.items():
            name = _ALIASES.get(key, key)
            if name not in names:
                # As the caller spells them: keyword arguments (with_, strategy).
                known = [_SPELLED.get(n, n) for n in names] + ["strategy"]
                raise QueryError(
                    f"unknown option {key!r}" + suggest(key, known, "options"),
                    path=key,
                )
            if value is not None:
                options[name] = value
        return options

    def find_many(
        self,
        *,
        columns: Mapping[str, bool] | None = None,
        with_: Mapping[str, Any] | None = None,
        where: Mapping[str, Any] | None = None,
        order_by: Mapping[str, str] | Callable[[Any], Any] | None = None,
        limit: int | Placeholder | None = None,
        offset: int | Placeholder | None = None,
        extras: Mapping[str, Callable[[Any], Any]] | None = None,
        aggregates: Mapping[str, Aggregate] | None = None,
        strategy: Strategy = "auto",
        **kwargs: Any,
    ) -> Query:
        """Rows matching the options; ``await`` the result (a ``list[dict]``).

        >>> # await db.query.users.find_many(with_={"posts": {"limit": 3}}, limit=20)
        """
        given = dict(columns=columns, with_=with_, where=where, order_by=order_by,
                     limit=limit, offset=offset, extras=extras, aggregates=aggregates,
                     **kwargs)  # fmt: skip
        options = self._options(given, _MANY)
        return build_query(
            self._planner, self._executor, self.slug, options, single=False, strategy=strategy
        )

    def find_first(
        self,
        *,
        columns: Mapping[str, bool] | None = None,
        with_: Mapping[str, Any] | None = None,
        where: Mapping[str, Any] | None = None,
        order_by: Mapping[str, str] | Callable[[Any], Any] | None = None,
        offset: int | Placeholder | None = None,
        extras: Mapping[str, Callable[[Any], Any]] | None = None,
        aggregates: Mapping[str, Aggregate] | None = None,
        strategy: Strategy = "auto",
        **kwargs: Any,
    ) -> Query:
        """The first matching row or ``None``; ``await`` the result.

        >>> # await db.query.users.find_first(where={"id": 1}, with_={"posts": True})
        """
        given = dict(columns=columns, with_=with_, where=where, order_by=order_by,
                     offset=offset, extras=extras, aggregates=aggregates, **kwargs)  # fmt: skip
        options = self._options(given, _MANY)
        return build_query(
            self._planner, self._executor, self.slug, options, single=True, strategy=strategy
        )

    def stream(
        self,
        *,
        columns: Mapping[str, bool] | None = None,
        with_: Mapping[str, Any] | None = None,
        where: Mapping[str, Any] | None = None,
        order_by: Mapping[str, str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        extras: Mapping[str, Callable[[Any], Any]] | None = None,
        aggregates: Mapping[str, Aggregate] | None = None,
        strategy: Strategy = "auto",
        chunk_size: int = 1000,
        mode: StreamMode = "auto",
        **kwargs: Any,
    ) -> RowStream:
        """The rows ``find_many`` would return, read ``chunk_size`` at a time: memory
        stays flat. ``mode="cursor"``: one statement through a server-side cursor, one
        snapshot, the connection held until the loop ends (PostgreSQL); ``"keyset"``:
        each chunk a short query after the previous chunk's last row, no connection held
        between chunks (every backend, poolers); ``"auto"``: a cursor on PostgreSQL except
        behind a pooler or on a replica, else keyset (query/stream.py).

        >>> # async for user in db.query.users.stream(with_={"posts": True}):
        >>> #     ...
        """
        size = check_chunk_size(chunk_size)
        cap = None if limit is None else check_count(limit, "limit")
        given = dict(columns=columns, with_=with_, where=where, order_by=order_by,
                     offset=offset, extras=extras, aggregates=aggregates, **kwargs)  # fmt: skip
        options = self._options(given, _MANY)
        query = build_query(
            self._planner, self._executor, self.slug, options, single=False, strategy=strategy
        )
        return RowStream(query, size, cap, mode)

    async def find_page(
        self,
        *,
        columns: Mapping[str, bool] | None = None,
        with_: Mapping[str, Any] | None = None,
        where: Mapping[str, Any] | None = None,
        order_by: Mapping[str, str] | None = None,
        extras: Mapping[str, Callable[[Any], Any]] | None = None,
        aggregates: Mapping[str, Aggregate] | None = None,
        strategy: Strategy = "auto",
        first: int = 20,
        after: str | None = None,
        **kwargs: Any,
    ) -> Page:
        """One page of rows in keyset order: ``{"items": [...], "next": token | None,
        "has_more": bool}``; pass ``next`` as ``after`` for the following page.

        >>> # page = await db.query.users.find_page(order_by={"created_at": "desc"}, first=20)
        >>> # page2 = await db.query.users.find_page(order_by=..., first=20, after=page["next"])
        """
        size = check_first(first)
        given = dict(columns=columns, with_=with_, where=where, order_by=order_by,
                     extras=extras, aggregates=aggregates, **kwargs)  # fmt: skip
        for key in ("limit", "offset"):
            if key in given:
                raise QueryError(
                    f"find_page takes no {key}: pages are sized by first and start after the "
                    "token of the previous page",
                    path=key,
                )
        options = self._options(given, _MANY)
        query = build_query(
            self._planner, self._executor, self.slug, options, single=False, strategy=strategy
        )
        if query.values.placeholders:
            raise QueryError("find_page() takes values, not placeholders")
        return await run_page(query, size, after)


_MANY = ("columns", "with", "where", "order_by", "limit", "offset", "extras", "aggregates")


class QueryNamespace:
    """``db.query``: one ``CollectionQuery`` per collection slug."""

    def __init__(self, planner: QueryPlanner, executor: Executor) -> None:
        # Mangled (_QueryNamespace__...): no collection slug can take these names.
        self.__planner = planner
        self.__executor = executor

    def __getattr__(self, name: str) -> CollectionQuery:
        planner: QueryPlanner | None = self.__dict__.get("_QueryNamespace__planner")
        slugs = planner.schema.collections if planner is not None else {}
        if planner is not None and name in slugs:
            query = CollectionQuery(planner, self.__executor, name)
            self.__dict__[name] = query  # built on first use, then a plain attribute
            return query
        hint = did_you_mean(name, list(slugs))
        raise AttributeError(f"db.query has no collection {name!r}{hint}")
