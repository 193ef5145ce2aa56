"""Queries of the catalog's popularity, for the recommendations: bounded reads (the most popular products by
index, a customer's latest bookings, a capped sample of peers) and the periodic count they read. Never commits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile.models import Booking, Product


async def buyers_per_product(session: AsyncSession, *, among: Any = None, excluding: set[str] | None = None) -> dict[str, int]:
    """product id → how many customers (of the subquery `among`, when given) completed a booking of it."""
    query = (select(Booking.product_id, func.count(func.distinct(Booking.customer_id)))
             .where(Booking.status == "completed").group_by(Booking.product_id))
    if among is not None:
        query = query.where(Booking.customer_id.in_(among))
    if excluding:
        query = query.where(Booking.product_id.not_in(excluding))
    return dict((await session.execute(query)).all())  # type: ignore[arg-type]


PEERS = 1000  # co-booking looks at this many other customers at most: a read's cost must not grow with the history


def peers_of(customer_id: str, products: set[str]) -> Any:
    """A subquery: other customers (at most PEERS, the latest to book) who completed a booking of one of `products`."""
    latest = func.max(Booking.completed_at)
    return (select(Booking.customer_id).where(Booking.product_id.in_(products), Booking.customer_id != customer_id,
                                              Booking.status == "completed")
            .group_by(Booking.customer_id).order_by(latest.desc()).limit(PEERS))


async def recent_completed(session: AsyncSession, customer_id: str, limit: int) -> list[Booking]:
    """A customer's latest completed bookings, newest first."""
    return list((await session.execute(
        select(Booking).where(Booking.customer_id == customer_id, Booking.status == "completed")
        .order_by(Booking.completed_at.desc(), Booking.booking_id).limit(limit))).scalars())


async def popular_products(session: AsyncSession, limit: int) -> list[Product]:
    """The products most customers booked (as of the last `refresh_popularity`), most popular first."""
    return list((await session.execute(
        select(Product).where(Product.buyers > 0).order_by(Product.buyers.desc(), Product.id).limit(limit))).scalars())


async def products_at(session: AsyncSession, destinations: Iterable[str], limit: int) -> list[Product]:
    """Products at one of `destinations` (case-insensitive), most popular first."""
    wanted = sorted({d.casefold() for d in destinations})
    if not wanted:
        return []
    return list((await session.execute(
        select(Product).where(func.lower(Product.destination).in_(wanted))
        .order_by(Product.buyers.desc(), Product.id).limit(limit))).scalars())


async def refresh_popularity(session: AsyncSession) -> int:
    """product.buyers from the booking history, in one statement; the number of products whose count changed."""
    counted = (select(func.count(func.distinct(Booking.customer_id)))
               .where(Booking.product_id == Product.id, Booking.status == "completed").scalar_subquery())
    result = await session.execute(update(Product).where(Product.buyers != counted).values(buyers=counted)
                                   .execution_options(synchronize_session=False))
    return result.rowcount or 0
