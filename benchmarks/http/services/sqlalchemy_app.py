"""SQLAlchemy 2 async ORM (asyncpg driver): mapped classes and relationships, an
``AsyncSession`` per request, ``joinedload`` for the one relations and ``selectinload``
for an order's details (the documented choices), a pool of 8 (no overflow). p11/p12 are
the same LEFT JOIN ... GROUP BY select as Drizzle's, through the session."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import REAL, Date, ForeignKey, Integer, Text, cast, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
)
from starlette.applications import Starlette
from workload import COLUMNS

from services.common import build_app


class Base(DeclarativeBase):
    type_annotation_map = {str: Text, dt.date: Date}  # noqa: RUF012


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    company_name: Mapped[str]
    contact_name: Mapped[str]
    contact_title: Mapped[str]
    address: Mapped[str]
    city: Mapped[str]
    postal_code: Mapped[str | None]
    region: Mapped[str | None]
    country: Mapped[str]
    phone: Mapped[str]
    fax: Mapped[str | None]


class Employee(Base):
    __tablename__ = "employees"
    id: Mapped[int] = mapped_column(primary_key=True)
    last_name: Mapped[str]
    first_name: Mapped[str | None]
    title: Mapped[str]
    title_of_courtesy: Mapped[str]
    birth_date: Mapped[dt.date]
    hire_date: Mapped[dt.date]
    address: Mapped[str]
    city: Mapped[str]
    postal_code: Mapped[str]
    country: Mapped[str]
    home_phone: Mapped[str]
    extension: Mapped[int]
    notes: Mapped[str]
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id"))
    recipient: Mapped[Employee | None] = relationship(remote_side=[id])


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_date: Mapped[dt.date]
    required_date: Mapped[dt.date]
    shipped_date: Mapped[dt.date | None]
    ship_via: Mapped[int]
    freight: Mapped[float]
    ship_name: Mapped[str]
    ship_city: Mapped[str]
    ship_region: Mapped[str | None]
    ship_postal_code: Mapped[str | None]
    ship_country: Mapped[str]
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id"))
    details: Mapped[list[Detail]] = relationship(order_by="Detail.id")


class Supplier(Base):
    __tablename__ = "suppliers"
    id: Mapped[int] = mapped_column(primary_key=True)
    company_name: Mapped[str]
    contact_name: Mapped[str]
    contact_title: Mapped[str]
    address: Mapped[str]
    city: Mapped[str]
    region: Mapped[str | None]
    postal_code: Mapped[str]
    country: Mapped[str]
    phone: Mapped[str]


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    qt_per_unit: Mapped[str]
    unit_price: Mapped[float]
    units_in_stock: Mapped[int]
    units_on_order: Mapped[int]
    reorder_level: Mapped[int]
    discontinued: Mapped[int]
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    supplier: Mapped[Supplier] = relationship()


class Detail(Base):
    __tablename__ = "order_details"
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_price: Mapped[float]
    quantity: Mapped[int]
    discount: Mapped[float]
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    product: Mapped[Product] = relationship()


def row(obj: Any) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {c: getattr(obj, c) for c in COLUMNS[obj.__tablename__]}


def totals() -> Any:
    return (
        select(
            Order.id, Order.shipped_date, Order.ship_name, Order.ship_city, Order.ship_country,
            cast(func.count(Detail.product_id), Integer).label("products_count"),
            cast(func.sum(Detail.quantity), Integer).label("quantity_sum"),
            cast(func.sum(Detail.quantity * Detail.unit_price), REAL).label("total_price"),
        )
        .outerjoin(Detail, Detail.order_id == Order.id)
        .group_by(Order.id)
        .order_by(Order.id)
    )  # fmt: skip


def make_app(url: str, schema: str) -> Starlette:
    engine = create_async_engine(
        url.replace("postgresql://", "postgresql+asyncpg://", 1),
        pool_size=8,
        max_overflow=0,
        connect_args={"server_settings": {"search_path": schema}},
    )
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await engine.dispose()

    def paged(model: Any):  # type: ignore[no-untyped-def]
        async def run(limit: int, offset: int) -> list[Any]:
            async with sessions() as s:
                q = select(model).order_by(model.id).limit(limit).offset(offset)
                return [row(o) for o in await s.scalars(q)]

        return run

    def by_id(model: Any):  # type: ignore[no-untyped-def]
        async def run(id: int) -> Any:
            async with sessions() as s:
                return row(await s.get(model, id))

        return run

    def search(model: Any, column: Any):  # type: ignore[no-untyped-def]
        async def run(term: str) -> list[Any]:
            match = func.to_tsvector("english", column).op("@@")(func.to_tsquery("english", term))
            async with sessions() as s:
                return [row(o) for o in await s.scalars(select(model).where(match))]

        return run

    async def p5(id: int) -> list[Any]:
        q = select(Employee).where(Employee.id == id).options(joinedload(Employee.recipient))
        async with sessions() as s:
            return [{**row(e), "recipient": row(e.recipient)} for e in await s.scalars(q)]  # type: ignore[dict-item]

    async def p9(id: int) -> list[Any]:
        q = select(Product).where(Product.id == id).options(joinedload(Product.supplier))
        async with sessions() as s:
            return [{**row(p), "supplier": row(p.supplier)} for p in await s.scalars(q)]  # type: ignore[dict-item]

    async def p11(limit: int, offset: int) -> list[Any]:
        async with sessions() as s:
            found = await s.execute(totals().limit(limit).offset(offset))
            return [dict(r) for r in found.mappings()]

    async def p12(id: int) -> list[Any]:
        async with sessions() as s:
            return [dict(r) for r in (await s.execute(totals().where(Order.id == id))).mappings()]

    async def p13(id: int) -> list[Any]:
        q = (
            select(Order)
            .where(Order.id == id)
            .options(selectinload(Order.details).joinedload(Detail.product))
        )
        async with sessions() as s:
            return [
                {**row(o), "details": [{**row(d), "product": row(d.product)} for d in o.details]}  # type: ignore[dict-item]
                for o in await s.scalars(q)
            ]

    queries = {
        "p1": paged(Customer), "p2": by_id(Customer),
        "p3": search(Customer, Customer.company_name), "p4": paged(Employee), "p5": p5,
        "p6": paged(Supplier), "p7": by_id(Supplier), "p8": paged(Product), "p9": p9,
        "p10": search(Product, Product.name), "p11": p11, "p12": p12, "p13": p13,
    }  # fmt: skip
    return build_app(queries, lifespan)
