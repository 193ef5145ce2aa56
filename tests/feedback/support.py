"""Helpers for the feedback tests: put events on the bus, wait for their effect, drive the job's clock,
read what the service emitted."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func, select

from services.feedback import jobs
from services.feedback.models import Invitation
from shared.bus import Record
from shared.events import (
    BookingCancelled, BookingCompleted, ComplaintClosed, ComplaintFiled, ComplaintResolved, ConsentChanged,
    EventData, Product, new_event,
)
from shared.inbox import InboxRecord
from shared.outbox import OutboxRecord
from tests.conftest import Backend, RunningService, eventually

# The tests' clock: noon in Shanghai, ten days ahead of the real one (the handlers stamp events with the real
# time; the job runs at the times the tests say).
NOW = datetime.combine(datetime.now(timezone.utc).date() + timedelta(days=10), time(4, 0), tzinfo=timezone.utc)


def completed(customer: str, booking: str, *, kind: str = "tour", tags: list[str] | None = None, destination: str = "桂林",
              product: str = "P-GUILIN-5D", travel_end: date | None = None, channel: str = "app",
              at: datetime | None = None) -> BookingCompleted:
    return BookingCompleted(
        booking_id=booking, customer_id=customer, channel=channel,
        product=Product(id=product, name="桂林山水五日游", kind=kind, destination=destination, tags=tags or []),
        amount=Decimal("3980.00"), travel_start=(travel_end or NOW.date()) - timedelta(days=4),
        travel_end=travel_end or NOW.date() - timedelta(days=3), completed_at=at or NOW - timedelta(days=30),
    )


def cancelled(customer: str, booking: str) -> BookingCancelled:
    return BookingCancelled(booking_id=booking, customer_id=customer, reason="changed plans")


def filed(customer: str, complaint: str, booking: str | None = None) -> ComplaintFiled:
    return ComplaintFiled(complaint_id=complaint, customer_id=customer, category="guide", severity="medium",
                          booking_id=booking, filed_at=NOW)


def resolved(customer: str, complaint: str) -> ComplaintResolved:
    return ComplaintResolved(complaint_id=complaint, customer_id=customer, category="guide", severity="medium",
                             sla_met=True, compensation_points=200, resolved_at=NOW)


def closed(customer: str, complaint: str) -> ComplaintClosed:
    return ComplaintClosed(complaint_id=complaint, customer_id=customer, satisfied=True, closed_at=NOW)


def consent(customer: str, status: str, channel: str = "sms") -> ConsentChanged:
    return ConsentChanged(customer_id=customer, channel=channel, purpose="surveys", status=status, changed_at=NOW)


async def publish(backend: Backend, *events: EventData, source: str = "booking-web") -> list[str]:
    """Each event in a fresh envelope (a new event id), in order, as producers would send them."""
    records, ids = [], []
    for data in events:
        subject = getattr(data, "customer_id", None)
        envelope = new_event(data, source=source, subject=subject)
        ids.append(envelope.id)
        records.append(Record(data.topic, subject, envelope.to_bytes()))
    await backend.bus().publish(records)
    return ids


async def publish_raw(backend: Backend, topic: str, key: str, value: bytes) -> None:
    await backend.bus().publish([Record(topic, key, value)])


async def consumed(service: RunningService, count: int) -> None:
    """Wait until the service has applied (or parked) `count` events in all."""
    async def check() -> bool:
        async with service.runtime.read_sessions() as s:
            done = (await s.execute(select(func.count()).select_from(InboxRecord))).scalar_one()
        return done + len(await service.runtime.consumer.dead_letters()) >= count
    await eventually(check)


async def send(backend: Backend, service: RunningService, *events: EventData) -> None:
    """Publish events and wait until the service has taken them all."""
    async with service.runtime.read_sessions() as s:
        before = (await s.execute(select(func.count()).select_from(InboxRecord))).scalar_one()
    before += len(await service.runtime.consumer.dead_letters())
    await publish(backend, *events)
    await consumed(service, before + len(events))


async def tick(service: RunningService, now: datetime) -> dict[str, int]:
    """One round of the periodic job at `now`."""
    return await jobs.run_due_work(service.runtime, now)


async def invitations(service: RunningService, **where: str) -> list[Invitation]:
    async with service.runtime.read_sessions() as s:
        query = select(Invitation).order_by(Invitation.created_at, Invitation.id)
        for column, value in where.items():
            query = query.where(getattr(Invitation, column) == value)
        return list((await s.execute(query)).scalars())


async def emitted(service: RunningService, event_type: str) -> list[dict]:
    """The data of the events of a type the service wrote to its outbox, oldest first."""
    async with service.runtime.read_sessions() as s:
        rows = (await s.execute(select(OutboxRecord.payload).where(OutboxRecord.type == event_type)
                                .order_by(OutboxRecord.id))).scalars()
        return [json.loads(p)["data"] for p in rows]


async def invited(backend: Backend, service: RunningService, customer: str, booking: str, **kw: object) -> Invitation:
    """A booking whose post-trip invitation has been sent; its invitation."""
    await send(backend, service, completed(customer, booking, **kw))
    await tick(service, NOW)
    [invitation] = await invitations(service, booking_id=booking)
    assert invitation.status == "sent", invitation
    return invitation
