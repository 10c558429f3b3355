"""Hand-written asyncpg: a pool of 8 connections, one SQL statement per request (joins for
the relations, rows nested in Python), statements prepared by asyncpg's per-connection
statement cache. The floor the others are measured against."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from starlette.applications import Starlette
from workload import COLUMNS

from services.common import build_app


def cols(table: str, alias: str, prefix: str = "") -> str:
    return ", ".join(f"{alias}.{c} AS {prefix}{c}" if prefix else f"{alias}.{c}"
                     for c in COLUMNS[table])  # fmt: skip


def part(row: Any, table: str, start: int) -> dict[str, Any] | None:
    """The columns of ``table`` from position ``start`` of a joined row (None if all NULL:
    the LEFT JOIN found nothing, as the primary key is never NULL)."""
    if row[start] is None:
        return None
    return dict(zip(COLUMNS[table], row[start : start + len(COLUMNS[table])], strict=True))


ORDER_TOTALS = """
    SELECT o.id, o.shipped_date, o.ship_name, o.ship_city, o.ship_country,
           count(d.product_id)::int AS products_count,
           sum(d.quantity)::int AS quantity_sum,
           sum(d.quantity * d.unit_price)::real AS total_price
    FROM orders o LEFT JOIN order_details d ON d.order_id = o.id
"""

SQL = {
    "p1": f"SELECT {cols('customers', 'c')} FROM customers c ORDER BY c.id LIMIT $1 OFFSET $2",
    "p2": f"SELECT {cols('customers', 'c')} FROM customers c WHERE c.id = $1 LIMIT 1",
    "p3": f"SELECT {cols('customers', 'c')} FROM customers c "
    "WHERE to_tsvector('english', c.company_name) @@ to_tsquery('english', $1)",
    "p4": f"SELECT {cols('employees', 'e')} FROM employees e ORDER BY e.id LIMIT $1 OFFSET $2",
    "p5": f"SELECT {cols('employees', 'e')}, {cols('employees', 'r', 'r_')} FROM employees e "
    "LEFT JOIN employees r ON r.id = e.recipient_id WHERE e.id = $1",
    "p6": f"SELECT {cols('suppliers', 's')} FROM suppliers s ORDER BY s.id LIMIT $1 OFFSET $2",
    "p7": f"SELECT {cols('suppliers', 's')} FROM suppliers s WHERE s.id = $1 LIMIT 1",
    "p8": f"SELECT {cols('products', 'p')} FROM products p ORDER BY p.id LIMIT $1 OFFSET $2",
    "p9": f"SELECT {cols('products', 'p')}, {cols('suppliers', 's', 's_')} FROM products p "
    "LEFT JOIN suppliers s ON s.id = p.supplier_id WHERE p.id = $1",
    "p10": f"SELECT {cols('products', 'p')} FROM products p "
    "WHERE to_tsvector('english', p.name) @@ to_tsquery('english', $1)",
    "p11": ORDER_TOTALS + " GROUP BY o.id ORDER BY o.id LIMIT $1 OFFSET $2",
    "p12": ORDER_TOTALS + " WHERE o.id = $1 GROUP BY o.id ORDER BY o.id",
    "p13": f"SELECT {cols('orders', 'o')}, {cols('order_details', 'd', 'd_')}, "
    f"{cols('products', 'p', 'p_')} FROM orders o "
    "LEFT JOIN order_details d ON d.order_id = o.id "
    "LEFT JOIN products p ON p.id = d.product_id WHERE o.id = $1 ORDER BY d.id",
}

N_EMP, N_PROD, N_ORD, N_DET = (len(COLUMNS[t]) for t in
                               ("employees", "products", "orders", "order_details"))  # fmt: skip


def _bound(run: Any, sql: str) -> Any:
    return lambda *params: run(sql, *params)


def make_app(url: str, schema: str) -> Starlette:
    pool: asyncpg.Pool = None  # type: ignore[assignment]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(
            url, min_size=8, max_size=8, server_settings={"search_path": schema}
        )
        try:
            yield
        finally:
            await pool.close()

    async def rows(sql: str, *args: Any) -> list[dict[str, Any]]:
        async with pool.acquire() as conn:
            return [dict(r) for r in await conn.fetch(sql, *args)]

    async def one(sql: str, *args: Any) -> dict[str, Any] | None:
        async with pool.acquire() as conn:
            row = await conn.fetchrow(sql, *args)
        return None if row is None else dict(row)

    async def p5(id: int) -> list[dict[str, Any]]:
        async with pool.acquire() as conn:
            found = await conn.fetch(SQL["p5"], id)
        out = []
        for r in found:
            employee = part(r, "employees", 0)
            employee["recipient"] = part(r, "employees", N_EMP)  # type: ignore[index]
            out.append(employee)
        return out

    async def p9(id: int) -> list[dict[str, Any]]:
        async with pool.acquire() as conn:
            found = await conn.fetch(SQL["p9"], id)
        out = []
        for r in found:
            product = part(r, "products", 0)
            product["supplier"] = part(r, "suppliers", N_PROD)  # type: ignore[index]
            out.append(product)
        return out

    async def p13(id: int) -> list[dict[str, Any]]:
        async with pool.acquire() as conn:
            found = await conn.fetch(SQL["p13"], id)
        orders: dict[int, dict[str, Any]] = {}
        for r in found:
            order = orders.get(r[0])
            if order is None:
                order = orders[r[0]] = part(r, "orders", 0)  # type: ignore[assignment]
                order["details"] = []
            detail = part(r, "order_details", N_ORD)
            if detail is not None:
                detail["product"] = part(r, "products", N_ORD + N_DET)
                order["details"].append(detail)
        return list(orders.values())

    queries: dict[str, Any] = {"p5": p5, "p9": p9, "p13": p13}
    for name in ("p1", "p4", "p6", "p8", "p11", "p3", "p10", "p12"):  # rows(sql, *params)
        queries[name] = _bound(rows, SQL[name])
    for name in ("p2", "p7"):  # one row or None
        queries[name] = _bound(one, SQL[name])
    return build_app(queries, lifespan)
