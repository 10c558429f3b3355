"""What every service shares: the 13 routes, their parameter parsing and the JSON encoder.

A service module defines ``make_app(url: str, schema: str) -> Starlette`` by giving
``build_app`` one coroutine per query (``p1`` ... ``p13``, Drizzle's names) and its
lifespan. Everything around the data layer (routing, parsing, encoding) is this one code,
so the services differ only in how they reach the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

try:
    import orjson

    def dumps(value: Any) -> bytes:
        return orjson.dumps(value)

except ImportError:  # pragma: no cover - orjson is in the bench extra
    import json

    def _default(value: Any) -> Any:
        if isinstance(value, dt.date):
            return value.isoformat()
        raise TypeError(type(value).__name__)

    def dumps(value: Any) -> bytes:
        return json.dumps(value, default=_default, separators=(",", ":")).encode()


Query = Callable[..., Awaitable[Any]]

# path -> (query name, parameter kind): "page" = limit & offset, "id", "term" (prefix search)
ROUTES: dict[str, tuple[str, str]] = {
    "/customers": ("p1", "page"),
    "/customer-by-id": ("p2", "id"),
    "/search-customer": ("p3", "term"),
    "/employees": ("p4", "page"),
    "/employee-with-recipient": ("p5", "id"),
    "/suppliers": ("p6", "page"),
    "/supplier-by-id": ("p7", "id"),
    "/products": ("p8", "page"),
    "/product-with-supplier": ("p9", "id"),
    "/search-product": ("p10", "term"),
    "/orders-with-details": ("p11", "page"),
    "/order-with-details": ("p12", "id"),
    "/order-with-details-and-products": ("p13", "id"),
}


def _endpoint(query: Query, kind: str) -> Callable[[Request], Awaitable[Response]]:
    if kind == "page":

        async def page(request: Request) -> Response:
            q = request.query_params
            body = dumps(await query(int(q["limit"]), int(q["offset"])))
            return Response(body, media_type="application/json")

        return page
    if kind == "id":

        async def by_id(request: Request) -> Response:
            body = dumps(await query(int(request.query_params["id"])))
            return Response(body, media_type="application/json")

        return by_id

    async def search(request: Request) -> Response:
        # Drizzle's prefix search: to_tsquery('english', '<term>:*')
        body = dumps(await query(f"{request.query_params['term']}:*"))
        return Response(body, media_type="application/json")

    return search


def build_app(queries: dict[str, Query], lifespan: Any) -> Starlette:
    missing = {name for name, _ in ROUTES.values()} - set(queries)
    if missing:
        raise RuntimeError(f"queries missing: {sorted(missing)}")
    routes = [Route(path, _endpoint(queries[name], kind)) for path, (name, kind) in ROUTES.items()]
    return Starlette(routes=routes, lifespan=lifespan)
