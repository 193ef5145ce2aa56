"""Helpers for the complaints tests: file complaints, walk them along the flow, put events on the bus."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, select

from shared.bus import Record
from shared.events import BookingCompleted, EventData, Product, new_event
from shared.inbox import InboxRecord
from shared.outbox import OutboxRecord
from tests.conftest import Backend, RunningService, eventually

# the path from received to each state (each item: a transition body, or "solution": propose one first)
PATH: list[Any] = [
    {"to": "classified"}, {"to": "investigating"}, "solution", {"to": "solution_proposed"},
    {"to": "customer_agreed"}, {"to": "executing"}, {"to": "resolved", "root_cause": "supplier"},
    {"to": "follow_up"}, {"to": "closed"},
]
NEXT = {"received": 0, "classified": 1, "investigating": 2, "solution_proposed": 4, "customer_agreed": 5,
        "executing": 6, "resolved": 7, "follow_up": 8, "closed": 9}


def intake(customer: str = "c-1", **changes: Any) -> dict[str, Any]:
    body = {"customer_id": customer, "channel": "phone", "trip_phase": "after", "booking_id": "b-1",
            "product_id": "P-guilin", "destination": "桂林", "summary": "导游强制购物",
            "description": "The guide took us to three shops and would not leave.",
            "occurred_at": "2026-11-20T03:00:00Z", "attachments": [{"url": "s3://evidence/receipt.jpg"}]}
    return body | changes


async def file(client: httpx.AsyncClient, customer: str = "c-1", **changes: Any) -> dict[str, Any]:
    r = await client.post("/v1/complaints", json=intake(customer, **changes))
    assert r.status_code == 201, r.text
    return r.json()


async def propose(client: httpx.AsyncClient, complaint_id: str, body: dict[str, Any] | None = None,
                  key: str | None = None) -> httpx.Response:
    return await client.post(f"/v1/complaints/{complaint_id}/solutions",
                             json=body or {"kind": "apology", "description": "written apology"},
                             headers={"Idempotency-Key": key or uuid.uuid4().hex})


async def walk(client: httpx.AsyncClient, complaint_id: str, to: str, *, solution: dict | None = None) -> dict:
    """Move a complaint from received along the main path until it is in state `to`."""
    r = await client.get(f"/v1/complaints/{complaint_id}")
    view = r.json()
    for step in PATH[NEXT[view["state"]]:]:
        if view["state"] == to:
            return view
        if step == "solution":
            r = await propose(client, complaint_id, solution)
            assert r.status_code == 201, r.text
            continue
        r = await client.post(f"/v1/complaints/{complaint_id}/transitions", json=step)
        assert r.status_code == 200, r.text
        view = r.json()
    assert view["state"] == to
    return view


def completed(customer: str, booking: str, *, product: str = "P-guilin", destination: str = "桂林",
              start: date | None = None, end: date | None = None) -> BookingCompleted:
    return BookingCompleted(
        booking_id=booking, customer_id=customer,
        product=Product(id=product, name="桂林山水五日游", kind="tour", destination=destination),
        amount=Decimal("3000.00"), travel_start=start, travel_end=end, completed_at=datetime.now(timezone.utc))


async def publish(backend: Backend, *events: EventData, source: str = "test") -> None:
    records = []
    for data in events:
        subject = getattr(data, "customer_id", None)
        records.append(Record(data.topic, subject, new_event(data, source=source, subject=subject).to_bytes()))
    await backend.bus().publish(records)


async def applied(service: RunningService, count: int) -> None:
    """Wait until the service's consumer has applied (or parked) `count` events in all."""
    async def check() -> bool:
        async with service.runtime.read_sessions() as s:
            done = (await s.execute(select(func.count()).select_from(InboxRecord))).scalar_one()
        return done + len(await service.runtime.consumer.dead_letters()) >= count
    await eventually(check)


async def emitted(service: RunningService, event_type: str) -> list[dict[str, Any]]:
    """The data of the events of `event_type` in the service's outbox, in order."""
    return await emitted_in(service.runtime, event_type)


async def emitted_in(runtime: Any, event_type: str) -> list[dict[str, Any]]:
    """The data of the events of `event_type` in a runtime's outbox, in order."""
    import json
    async with runtime.read_sessions() as s:
        rows = (await s.execute(select(OutboxRecord.payload).where(OutboxRecord.type == event_type)
                                .order_by(OutboxRecord.id))).scalars().all()
    return [json.loads(p)["data"] for p in rows]
