"""Tortoise ORM (asyncpg backend): models, ``select_related`` for the one relations
(a join) and ``prefetch_related`` for an order's details with their products (two more
queries), ``annotate`` + ``group_by`` for p11/p12, a pool of 8.

Where Tortoise cannot write the same query:
- p11/p12: ``total_price`` is ``RawSQL`` (Tortoise refuses ``F(int) * F(float)``: "Cannot
  use arithmetic expression between different field type"), naming the joined table that
  ``Count("details__product_id")`` brings in; the count and the quantity sum are not cast
  to ``int`` (Python gets ints either way).
- p3/p10: ``<column>__search=SearchQuery(term, config="english", search_type="raw")``
  writes ``to_tsvector(<column>) @@ to_tsquery('english', $1)``: the vector takes the
  server's default configuration (english here, so the same rows), and the GIN index on
  ``to_tsvector('english', <column>)`` cannot serve it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from tortoise import Tortoise, fields
from tortoise.contrib.postgres.search import SearchQuery
from tortoise.expressions import RawSQL
from tortoise.functions import Count, Sum
from tortoise.models import Model
from workload import COLUMNS

from services.common import build_app

VARCHAR = 1000


class Customer(Model):
    id = fields.IntField(primary_key=True)
    company_name = fields.TextField()
    contact_name = fields.CharField(VARCHAR)
    contact_title = fields.CharField(VARCHAR)
    address = fields.CharField(VARCHAR)
    city = fields.CharField(VARCHAR)
    postal_code = fields.CharField(VARCHAR, null=True)
    region = fields.CharField(VARCHAR, null=True)
    country = fields.CharField(VARCHAR)
    phone = fields.CharField(VARCHAR)
    fax = fields.CharField(VARCHAR, null=True)

    class Meta:
        table = "customers"


class Employee(Model):
    id = fields.IntField(primary_key=True)
    last_name = fields.CharField(VARCHAR)
    first_name = fields.CharField(VARCHAR, null=True)
    title = fields.CharField(VARCHAR)
    title_of_courtesy = fields.CharField(VARCHAR)
    birth_date = fields.DateField()
    hire_date = fields.DateField()
    address = fields.CharField(VARCHAR)
    city = fields.CharField(VARCHAR)
    postal_code = fields.CharField(VARCHAR)
    country = fields.CharField(VARCHAR)
    home_phone = fields.CharField(VARCHAR)
    extension = fields.IntField()
    notes = fields.TextField()
    recipient: Any = fields.ForeignKeyField(
        "models.Employee", related_name="recipients", null=True, source_field="recipient_id"
    )

    class Meta:
        table = "employees"


class Order(Model):
    id = fields.IntField(primary_key=True)
    order_date = fields.DateField()
    required_date = fields.DateField()
    shipped_date = fields.DateField(null=True)
    ship_via = fields.IntField()
    freight = fields.FloatField()
    ship_name = fields.CharField(VARCHAR)
    ship_city = fields.CharField(VARCHAR)
    ship_region = fields.CharField(VARCHAR, null=True)
    ship_postal_code = fields.CharField(VARCHAR, null=True)
    ship_country = fields.CharField(VARCHAR)
    customer: Any = fields.ForeignKeyField("models.Customer", source_field="customer_id")
    employee: Any = fields.ForeignKeyField("models.Employee", source_field="employee_id")

    class Meta:
        table = "orders"


class Supplier(Model):
    id = fields.IntField(primary_key=True)
    company_name = fields.CharField(VARCHAR)
    contact_name = fields.CharField(VARCHAR)
    contact_title = fields.CharField(VARCHAR)
    address = fields.CharField(VARCHAR)
    city = fields.CharField(VARCHAR)
    region = fields.CharField(VARCHAR, null=True)
    postal_code = fields.CharField(VARCHAR)
    country = fields.CharField(VARCHAR)
    phone = fields.CharField(VARCHAR)

    class Meta:
        table = "suppliers"


class Product(Model):
    id = fields.IntField(primary_key=True)
    name = fields.TextField()
    qt_per_unit = fields.CharField(VARCHAR)
    unit_price = fields.FloatField()
    units_in_stock = fields.IntField()
    units_on_order = fields.IntField()
    reorder_level = fields.IntField()
    discontinued = fields.IntField()
    supplier: Any = fields.ForeignKeyField("models.Supplier", source_field="supplier_id")

    class Meta:
        table = "products"


class Detail(Model):
    id = fields.IntField(primary_key=True)
    unit_price = fields.FloatField()
    quantity = fields.IntField()
    discount = fields.FloatField()
    order: Any = fields.ForeignKeyField(
        "models.Order", related_name="details", source_field="order_id"
    )
    product: Any = fields.ForeignKeyField("models.Product", source_field="product_id")

    class Meta:
        table = "order_details"
        ordering = ("id",)


def row(obj: Any) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {c: getattr(obj, c) for c in COLUMNS[obj._meta.db_table]}


TOTALS = ("id", "shipped_date", "ship_name", "ship_city", "ship_country",
          "products_count", "quantity_sum", "total_price")  # fmt: skip


def totals() -> Any:
    return (
        Order.annotate(
            products_count=Count("details__product_id"),
            quantity_sum=Sum("details__quantity"),
            total_price=RawSQL(
                'SUM("order_details"."quantity" * "order_details"."unit_price")::real'
            ),
        )
        .group_by("id")
        .order_by("id")
    )


def make_app(url: str, schema: str) -> Starlette:
    u = urlsplit(url)
    credentials = {
        "host": u.hostname, "port": u.port or 5432, "user": u.username,
        "password": u.password or "", "database": u.path.lstrip("/"),
        "minsize": 8, "maxsize": 8, "server_settings": {"search_path": schema},
    }  # fmt: skip
    config = {
        "connections": {"default": {"engine": "tortoise.backends.asyncpg",
                                    "credentials": credentials}},
        "apps": {"models": {"models": [__name__], "default_connection": "default"}},
    }  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # as tortoise.contrib.starlette does: requests run outside the lifespan task
        await Tortoise.init(config=config, _enable_global_fallback=True)
        try:
            yield
        finally:
            await Tortoise.close_connections()

    def paged(model: Any):  # type: ignore[no-untyped-def]
        async def run(limit: int, offset: int) -> list[Any]:
            return [row(o) for o in await model.all().order_by("id").limit(limit).offset(offset)]

        return run

    def by_id(model: Any):  # type: ignore[no-untyped-def]
        async def run(id: int) -> Any:
            return row(await model.get_or_none(id=id))

        return run

    def search(model: Any, column: str):  # type: ignore[no-untyped-def]
        async def run(term: str) -> list[Any]:
            match = SearchQuery(term, config="english", search_type="raw")
            return [row(o) for o in await model.filter(**{f"{column}__search": match})]

        return run

    async def p5(id: int) -> list[Any]:
        found = await Employee.filter(id=id).select_related("recipient")
        return [{**row(e), "recipient": row(e.recipient)} for e in found]  # type: ignore[dict-item]

    async def p9(id: int) -> list[Any]:
        found = await Product.filter(id=id).select_related("supplier")
        return [{**row(p), "supplier": row(p.supplier)} for p in found]  # type: ignore[dict-item]

    async def p11(limit: int, offset: int) -> list[Any]:
        return await totals().limit(limit).offset(offset).values(*TOTALS)

    async def p12(id: int) -> list[Any]:
        return await totals().filter(id=id).values(*TOTALS)

    async def p13(id: int) -> list[Any]:
        found = await Order.filter(id=id).prefetch_related("details__product")
        return [
            {**row(o), "details": [{**row(d), "product": row(d.product)} for d in o.details]}  # type: ignore[dict-item]
            for o in found
        ]

    queries = {
        "p1": paged(Customer), "p2": by_id(Customer), "p3": search(Customer, "company_name"),
        "p4": paged(Employee), "p5": p5, "p6": paged(Supplier), "p7": by_id(Supplier),
        "p8": paged(Product), "p9": p9, "p10": search(Product, "name"), "p11": p11,
        "p12": p12, "p13": p13,
    }  # fmt: skip
    return build_app(queries, lifespan)
