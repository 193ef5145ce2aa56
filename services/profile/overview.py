"""Read models of one customer: the 360 view, the value answer, the booking history, and the lists around them
(catalog, at-risk) — from profile's own tables and the events it consumed, no calls to other services."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import repository as repo
from services.profile.models import Product
from services.profile.contact_public import ContactsSummary
from services.profile.public import (
    BookingPublic, BookingsSummary, ComplaintsSummary, ConsentPublic, CustomerPublic, LoyaltySummary, Overview,
    ProductPublic, Satisfaction,
    ValuePublic, booking_public, complaint_public, product_public, value_public,
)
from shared.db import settings_of
from shared.errors import NotFound
from shared.pages import Page, decode_cursor, page_of

RECENT = 10


async def value(session: AsyncSession, customer_id: str) -> ValuePublic:
    """RFM, value class, quadrant, churn of an existing file (money in the business currency)."""
    await repo.get_customer(session, customer_id)
    return value_public(await repo.value_of(session, customer_id), customer_id, settings_of(session).currency)


def summarise(*, customer: CustomerPublic, consents: list[ConsentPublic], bookings: int, recent: list[BookingPublic],
              member: Any, complaints: Sequence[Any], feedback: Sequence[Any], value: ValuePublic,
              contacts: ContactsSummary) -> Overview:
    """The 360 view — the file, consents, recent bookings, loyalty, complaints, satisfaction, value, contacts — from
    its parts, read by `reads.overview` (rows of the views: `shared.lane.Row`s, read like ORM objects)."""
    last_nps = next((f for f in reversed(feedback) if f.nps is not None), None)
    last_csat = next((f for f in reversed(feedback) if f.csat is not None), None)
    return Overview(
        customer=customer, consents=consents, bookings=BookingsSummary(count=bookings, recent=recent),
        loyalty=LoyaltySummary(tier=member.tier, points_balance=member.points_balance,
                               expiring_points=member.expiring_points, expiring_on=member.expiring_on) if member else None,
        complaints=ComplaintsSummary(open=[complaint_public(c) for c in complaints if c.status == "open"],
                                     total=len(complaints)),
        satisfaction=Satisfaction(
            last_nps=last_nps.nps if last_nps else None, last_csat=last_csat.csat if last_csat else None,
            detractor=bool(last_nps and last_nps.nps is not None and last_nps.nps <= 6), responses=len(feedback)),
        value=value, contacts=contacts,
    )


async def bookings_page(session: AsyncSession, customer_id: str, cursor: str | None, limit: int) -> Page[BookingPublic]:
    """A customer's bookings, newest first."""
    await repo.get_customer(session, customer_id)
    rows = await repo.bookings_page(session, customer_id, decode_cursor(cursor, datetime, str), limit)
    catalog = await repo.products_by_id(session, {b.product_id for b in rows})
    return page_of(rows, limit, lambda b: (b.completed_at, b.booking_id), lambda b: booking_public(b, catalog.get(b.product_id)))


async def products_page(session: AsyncSession, cursor: str | None, limit: int) -> Page[ProductPublic]:
    """The catalog, by id."""
    return page_of(await repo.page_by_id(session, Product, decode_cursor(cursor, str), limit), limit, lambda p: (p.id,),
                   product_public)


async def product(session: AsyncSession, product_id: str) -> ProductPublic:
    found = await repo.products_by_id(session, [product_id])
    if product_id not in found:
        raise NotFound("product", product_id)
    return product_public(found[product_id])


async def at_risk_page(session: AsyncSession, cursor: str | None, limit: int) -> Page[ValuePublic]:
    """Customers whose churn score crossed the threshold, highest risk first."""
    currency = settings_of(session).currency
    return page_of(await repo.at_risk_page(session, decode_cursor(cursor, float, str), limit), limit,
                   lambda v: (v.churn_score, v.customer_id), lambda v: value_public(v, v.customer_id, currency))
