"""deesse_async: the 13 queries as prepared relational queries (``db.query...prepare()``),
prepared once at import, the pool opened by the app's lifespan (``db.lifespan()``).

Drizzle runs p11/p12 (orders with detail totals) through its SQL builder, a LEFT JOIN
with GROUP BY; deesse_async has no public SQL builder path, so here they are a
``find_many`` with ``extras``: one correlated scalar subquery per total.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from starlette.applications import Starlette

from deesse_async import (
    collection,
    date,
    define_config,
    define_relations,
    field,
    integer,
    many,
    number,
    one,
    optional,
    placeholder,
    required,
    text,
)
from services.common import build_app


def req(kind: Any, **kw: Any) -> Any:
    return required(field(type=kind, **kw))


def opt(kind: Any, **kw: Any) -> Any:
    return optional(field(type=kind, **kw))


def table(slug: str, fields: dict[str, Any]) -> Any:
    return collection(slug=slug, fields=fields, timestamps=False)


Customers = table("customers", {
    "company_name": req(text()), "contact_name": req(text()), "contact_title": req(text()),
    "address": req(text()), "city": req(text()), "postal_code": opt(text()),
    "region": opt(text()), "country": req(text()), "phone": req(text()), "fax": opt(text()),
})  # fmt: skip
Employees = table("employees", {
    "last_name": req(text()), "first_name": opt(text()), "title": req(text()),
    "title_of_courtesy": req(text()), "birth_date": req(date()), "hire_date": req(date()),
    "address": req(text()), "city": req(text()), "postal_code": req(text()),
    "country": req(text()), "home_phone": req(text()), "extension": req(integer()),
    "notes": req(text()), "recipient_id": opt(integer(), references="employees.id"),
})  # fmt: skip
Orders = table("orders", {
    "order_date": req(date()), "required_date": req(date()), "shipped_date": opt(date()),
    "ship_via": req(integer()), "freight": req(number()), "ship_name": req(text()),
    "ship_city": req(text()), "ship_region": opt(text()), "ship_postal_code": opt(text()),
    "ship_country": req(text()),
    "customer_id": req(integer(), references="customers.id"),
    "employee_id": req(integer(), references="employees.id"),
})  # fmt: skip
Suppliers = table("suppliers", {
    "company_name": req(text()), "contact_name": req(text()), "contact_title": req(text()),
    "address": req(text()), "city": req(text()), "region": opt(text()),
    "postal_code": req(text()), "country": req(text()), "phone": req(text()),
})  # fmt: skip
Products = table("products", {
    "name": req(text()), "qt_per_unit": req(text()), "unit_price": req(number()),
    "units_in_stock": req(integer()), "units_on_order": req(integer()),
    "reorder_level": req(integer()), "discontinued": req(integer()),
    "supplier_id": req(integer(), references="suppliers.id"),
})  # fmt: skip
OrderDetails = table("order_details", {
    "unit_price": req(number()), "quantity": req(integer()), "discount": req(number()),
    "order_id": req(integer(), references="orders.id"),
    "product_id": req(integer(), references="products.id"),
})  # fmt: skip

# Drizzle's relations.ts
RELATIONS = define_relations(
    orders={"details": many("order_details", from_="id", to="order_id")},
    order_details={
        "order": one("orders", from_="order_id", to="id", optional=False),
        "product": one("products", from_="product_id", to="id", optional=False),
    },
    employees={"recipient": one("employees", from_="recipient_id", to="id")},
    products={"supplier": one("suppliers", from_="supplier_id", to="id", optional=False)},
)
COLLECTIONS = [Customers, Employees, Orders, Suppliers, Products, OrderDetails]


def _call(name: str, prepared: Any) -> Any:
    """The coroutine function the route calls: its parameters by keyword."""
    if name in ("p1", "p4", "p6", "p8", "p11"):
        return lambda limit, offset: prepared.execute(limit=limit, offset=offset)
    if name in ("p3", "p10"):
        return lambda term: prepared.execute(term=term)
    return lambda id: prepared.execute(id=id)


def make_app(url: str, schema: str) -> Starlette:
    db = define_config(
        provider=f"{url}?schema={schema}",
        collections=COLLECTIONS,
        relations=RELATIONS,
        pool_size=8,
        pool_min_size=8,
    )
    q = db.query
    page = {"limit": placeholder("limit"), "offset": placeholder("offset")}
    by_id = {"where": {"id": placeholder("id")}}

    def search(column: str) -> dict[str, Any]:
        return {"where": {"RAW": lambda t: sa.func.to_tsvector("english", t.c[column]).op("@@")(
            sa.func.to_tsquery("english", placeholder("term")))}}  # fmt: skip

    d = OrderDetails.table

    def total(expr: Any, kind: Any) -> Any:
        def extra(t: Any) -> Any:
            sub = sa.select(expr).where(d.c.order_id == t.c.id).scalar_subquery()
            return sa.cast(sub, kind)

        return extra

    totals = {
        "columns": {c: True for c in
                    ("id", "shipped_date", "ship_name", "ship_city", "ship_country")},
        "extras": {
            "products_count": total(sa.func.count(d.c.product_id), sa.Integer),
            "quantity_sum": total(sa.func.sum(d.c.quantity), sa.Integer),
            "total_price": total(sa.func.sum(d.c.quantity * d.c.unit_price), sa.REAL),
        },
        "order_by": {"id": "asc"},
    }  # fmt: skip
    prepared = {
        "p1": q.customers.find_many(**page, order_by={"id": "asc"}).prepare("p1"),
        "p2": q.customers.find_first(**by_id).prepare("p2"),
        "p3": q.customers.find_many(**search("company_name")).prepare("p3"),
        "p4": q.employees.find_many(**page, order_by={"id": "asc"}).prepare("p4"),
        "p5": q.employees.find_many(**by_id, with_={"recipient": True}).prepare("p5"),
        "p6": q.suppliers.find_many(**page, order_by={"id": "asc"}).prepare("p6"),
        "p7": q.suppliers.find_first(**by_id).prepare("p7"),
        "p8": q.products.find_many(**page, order_by={"id": "asc"}).prepare("p8"),
        "p9": q.products.find_many(**by_id, with_={"supplier": True}).prepare("p9"),
        "p10": q.products.find_many(**search("name")).prepare("p10"),
        "p11": q.orders.find_many(**totals, **page).prepare("p11"),
        "p12": q.orders.find_many(**totals, **by_id).prepare("p12"),
        "p13": q.orders.find_many(**by_id, with_={"details": {"with": {"product": True}}}).prepare(
            "p13"
        ),
    }
    queries = {name: _call(name, p) for name, p in prepared.items()}
    app = build_app(queries, db.lifespan())
    app.state.db = db
    app.state.prepared = prepared
    return app
