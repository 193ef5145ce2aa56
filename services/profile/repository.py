"""Queries of the profile service; never commits."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile.models import (
    Booking, ComplaintView, Consent, ContactPoint, Customer, CustomerValue, ExternalId, FeedbackView, MembershipView,
    Product,
)
from shared.errors import NotFound, Unprocessable


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored one is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def encode_cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, size: int) -> list[Any] | None:
    if not cursor:
        return None
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(parts, list) or len(parts) != size:
            raise ValueError
        return parts
    except ValueError:
        raise Unprocessable("the cursor is not one this API gave out", field="cursor") from None


async def get_customer(session: AsyncSession, customer_id: str, *, for_update: bool = False) -> Customer:
    customer = await session.get(Customer, customer_id, with_for_update=for_update or None)
    if customer is None:
        raise NotFound("customer", customer_id)
    return customer


async def survivor_id(session: AsyncSession, customer_id: str) -> str:
    """Follow merges to the surviving file (ids of unknown customers come back unchanged)."""
    seen = set()
    current = customer_id
    while current not in seen:
        seen.add(current)
        row = (await session.execute(select(Customer.merged_into).where(Customer.id == current))).first()
        if row is None or row[0] is None:
            return current
        current = row[0]
    return current


async def resolve_survivor(session: AsyncSession, customer_id: str) -> tuple[str, bool]:
    """(surviving id, whether that file exists): one query unless the id was merged."""
    seen = set()
    current = customer_id
    while current not in seen:
        seen.add(current)
        row = (await session.execute(select(Customer.merged_into).where(Customer.id == current))).first()
        if row is None:
            return current, False
        if row[0] is None:
            return current, True
        current = row[0]
    return current, True


async def survivors(session: AsyncSession, customer_ids: set[str]) -> dict[str, tuple[str, bool]]:
    """resolve_survivor for many ids: one query per level of merges (usually one)."""
    rows: dict[str, str | None] = {}
    looked: set[str] = set()
    todo = set(customer_ids)
    while todo:
        looked |= todo
        for chunk in chunks(sorted(todo)):
            rows.update((await session.execute(select(Customer.id, Customer.merged_into)
                                               .where(Customer.id.in_(chunk)))).all())
        todo = {m for m in rows.values() if m is not None and m not in looked}

    def follow(current: str) -> tuple[str, bool]:
        seen = set()
        while current not in seen:
            seen.add(current)
            if current not in rows:
                return current, False
            if rows[current] is None:
                return current, True
            current = rows[current]
        return current, True
    return {cid: follow(cid) for cid in customer_ids}


def chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    """Id lists cut to a size every backend takes in one IN (...)."""
    return [ids[i:i + size] for i in range(0, len(ids), size)]


async def contacts(session: AsyncSession, customer_id: str) -> tuple[list[str], list[str]]:
    """(phones, emails) of one customer, in their order."""
    return (await contacts_of(session, [customer_id]))[customer_id]


async def contacts_of(session: AsyncSession, customer_ids: list[str]) -> dict[str, tuple[list[str], list[str]]]:
    """(phones, emails) of each customer, one query per 500 ids."""
    found: dict[str, tuple[list[str], list[str]]] = {cid: ([], []) for cid in customer_ids}
    for chunk in chunks(sorted(found)):
        rows = (await session.execute(
            select(ContactPoint.customer_id, ContactPoint.kind, ContactPoint.value)
            .where(ContactPoint.customer_id.in_(chunk))
            .order_by(ContactPoint.customer_id, ContactPoint.kind, ContactPoint.position, ContactPoint.id)
        )).all()
        for cid, kind, value in rows:
            if kind in ("phone", "email"):
                found[cid][0 if kind == "phone" else 1].append(value)
    return found


async def external_ids(session: AsyncSession, customer_id: str) -> list[dict[str, str]]:
    rows = (await session.execute(
        select(ExternalId).where(ExternalId.customer_id == customer_id).order_by(ExternalId.source, ExternalId.external_id)
    )).scalars()
    return [{"source": r.source, "id": r.external_id} for r in rows]


async def consents(session: AsyncSession, customer_id: str) -> list[Consent]:
    return list((await session.execute(
        select(Consent).where(Consent.customer_id == customer_id).order_by(Consent.channel, Consent.purpose)
    )).scalars())


async def find_by_contact(session: AsyncSession, kind: str, value: str) -> list[str]:
    rows = (await session.execute(
        select(ContactPoint.customer_id).join(Customer, Customer.id == ContactPoint.customer_id)
        .where(ContactPoint.kind == kind, ContactPoint.value == value, Customer.status == "active")
        .order_by(Customer.created_at, Customer.id)
    )).scalars()
    return list(dict.fromkeys(rows))


async def find_by_external(session: AsyncSession, source: str, external_id: str) -> str | None:
    row = await session.get(ExternalId, (source, external_id))
    return row.customer_id if row else None


async def bookings_of(session: AsyncSession, customer_id: str) -> list[Booking]:
    return list((await session.execute(
        select(Booking).where(Booking.customer_id == customer_id).order_by(Booking.completed_at.desc(), Booking.booking_id)
    )).scalars())


async def products_by_id(session: AsyncSession, ids: set[str] | None = None) -> dict[str, Product]:
    query = select(Product)
    if ids is not None:
        if not ids:
            return {}
        query = query.where(Product.id.in_(ids))
    return {p.id: p for p in (await session.execute(query)).scalars()}


async def membership(session: AsyncSession, customer_id: str) -> MembershipView | None:
    return await session.get(MembershipView, customer_id)


async def complaints_of(session: AsyncSession, customer_id: str) -> list[ComplaintView]:
    return list((await session.execute(
        select(ComplaintView).where(ComplaintView.customer_id == customer_id).order_by(ComplaintView.filed_at)
    )).scalars())


async def feedback_of(session: AsyncSession, customer_id: str) -> list[FeedbackView]:
    return list((await session.execute(
        select(FeedbackView).where(FeedbackView.customer_id == customer_id)
        .order_by(FeedbackView.submitted_at, FeedbackView.response_id)
    )).scalars())


async def value_of(session: AsyncSession, customer_id: str) -> CustomerValue | None:
    return await session.get(CustomerValue, customer_id)


async def count(session: AsyncSession, query) -> int:  # noqa: ANN001
    return int((await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one())
