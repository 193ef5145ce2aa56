"""Helpers for the loyalty tests: put events on the bus, wait for their effect, read the ledger."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import func, select

from services.loyalty.models import KnownCustomer, LedgerEntry, Lot, Member, Redemption
from shared.bus import Record
from shared.events import BookingCancelled, BookingCompleted, CustomerRegistered, EventData, Product, new_event
from shared.inbox import InboxRecord
from shared.outbox import OutboxRecord
from tests.conftest import Backend, RunningService, eventually


def completed(customer: str, booking: str, amount: str = "1000.00", *, kind: str = "tour", tags: list[str] | None = None,
              destination: str = "桂林", currency: str = "CNY", at: datetime | None = None) -> BookingCompleted:
    return BookingCompleted(
        booking_id=booking, customer_id=customer,
        product=Product(id=f"P-{kind}", name="桂林山水五日游", kind=kind, destination=destination, tags=tags or []),
        amount=Decimal(amount), currency=currency, completed_at=at or datetime.now(timezone.utc),
    )


def cancelled(customer: str, booking: str) -> BookingCancelled:
    return BookingCancelled(booking_id=booking, customer_id=customer, reason="customer cancelled")


async def publish(backend: Backend, *events: EventData, source: str = "booking-web") -> list[str]:
    """Each event in a fresh envelope (a new event id), as a producer retrying would send it."""
    records, ids = [], []
    for data in events:
        subject = getattr(data, "customer_id", None)
        envelope = new_event(data, source=source, subject=subject)
        ids.append(envelope.id)
        records.append(Record(data.topic, subject, envelope.to_bytes()))
    await backend.bus().publish(records)
    return ids


async def registered(backend: Backend, loyalty: RunningService, *customer_ids: str) -> None:
    """Profile registers the customers (customer-registered on the bus); wait until loyalty knows them all:
    loyalty enrols only customers it knows."""
    await publish(backend, *[CustomerRegistered(customer_id=c) for c in customer_ids], source="tourcrm/profile")

    async def known() -> bool:
        async with loyalty.runtime.read_sessions() as s:
            found = (await s.execute(select(func.count()).where(KnownCustomer.customer_id.in_(customer_ids))))
            return found.scalar_one() == len(set(customer_ids))
    await eventually(known)


async def applied(loyalty: RunningService, count: int) -> None:
    """Wait until the service's consumer has applied (or parked) `count` events in all."""
    async def check() -> bool:
        async with loyalty.runtime.read_sessions() as s:
            done = (await s.execute(select(func.count()).select_from(InboxRecord))).scalar_one()
        parked = len(await loyalty.runtime.consumer.dead_letters())
        return done + parked >= count
    await eventually(check)


async def member(loyalty: RunningService, customer: str) -> dict:
    r = await loyalty.client.get(f"/v1/members/{customer}")
    assert r.status_code == 200, r.text
    return r.json()


async def balance(loyalty: RunningService, customer: str) -> int:
    return (await member(loyalty, customer))["points_balance"]


async def assert_ledger_consistent(loyalty: RunningService) -> None:
    """For every member: balance = sum of entries ≥ 0, debt ≥ 0, the lots hold exactly the balance, and `held`
    is what its holds in status "held" reserve."""
    async with loyalty.runtime.read_sessions() as s:
        members = list((await s.execute(select(Member))).scalars())
        sums = dict((await s.execute(select(LedgerEntry.customer_id, func.sum(LedgerEntry.points))
                                     .group_by(LedgerEntry.customer_id))).all())
        lots = dict((await s.execute(select(Lot.customer_id, func.sum(Lot.remaining)).group_by(Lot.customer_id))).all())
        negative_lots = (await s.execute(select(func.count()).where(Lot.remaining < 0))).scalar_one()
        held = dict((await s.execute(select(Redemption.customer_id, func.sum(Redemption.points))
                                     .where(Redemption.status == "held").group_by(Redemption.customer_id))).all())
    assert negative_lots == 0
    for m in members:
        assert m.balance >= 0 and m.debt >= 0, m
        assert m.balance == int(sums.get(m.customer_id, 0) or 0), (m.customer_id, m.balance, sums.get(m.customer_id))
        assert m.balance == int(lots.get(m.customer_id, 0) or 0), (m.customer_id, m.balance, lots.get(m.customer_id))
        assert m.held == int(held.get(m.customer_id, 0) or 0), (m.customer_id, m.held, held.get(m.customer_id))


async def emitted(loyalty: RunningService, event_type: str) -> list[dict]:
    import json
    async with loyalty.runtime.read_sessions() as s:
        rows = (await s.execute(select(OutboxRecord).where(OutboxRecord.type == event_type)
                                .order_by(OutboxRecord.id))).scalars()
        return [json.loads(r.payload) for r in rows]


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}
