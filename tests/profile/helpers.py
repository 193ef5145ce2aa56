"""Helpers of the profile tests: post bookings, read the service's own outbox, wait on conditions."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from services.profile.models import Booking
from shared.outbox import OutboxRecord
from tests.conftest import RunningService, eventually

PRODUCTS = {
    "P-GUILIN": {"id": "P-GUILIN", "name": "桂林山水五日游", "kind": "tour", "destination": "桂林", "tags": ["nature", "scenic"]},
    "P-JIUZHAI": {"id": "P-JIUZHAI", "name": "九寨沟黄龙六日游", "kind": "tour", "destination": "九寨沟", "tags": ["nature", "hiking"]},
    "P-XIAN": {"id": "P-XIAN", "name": "西安古都文化四日游", "kind": "tour", "destination": "西安", "tags": ["history", "culture"]},
    "P-BEIJING": {"id": "P-BEIJING", "name": "北京故宫长城三日游", "kind": "tour", "destination": "北京", "tags": ["history", "culture"]},
    "P-SANYA": {"id": "P-SANYA", "name": "三亚海景度假酒店", "kind": "hotel", "destination": "三亚", "tags": ["beach", "family"]},
    "P-CHENGDU": {"id": "P-CHENGDU", "name": "成都美食之旅", "kind": "tour", "destination": "成都", "tags": ["food", "culture"]},
}


def booking(booking_id: str, customer_id: str, *, amount: str = "1000.00", product: str = "P-GUILIN",
            completed_at: datetime | None = None, travel_end: date | None = None) -> dict[str, Any]:
    at = completed_at or datetime.now(timezone.utc) - timedelta(days=1)
    start = (travel_end - timedelta(days=4)) if travel_end else at.date() + timedelta(days=10)
    return {
        "booking_id": booking_id, "customer_id": customer_id, "channel": "web", "product": PRODUCTS[product],
        "amount": amount, "currency": "CNY", "party_size": 2, "travel_start": start.isoformat(),
        "travel_end": (travel_end or start + timedelta(days=4)).isoformat(), "completed_at": at.isoformat(),
    }


async def post_booking(profile: RunningService, body: dict[str, Any]) -> str:
    r = await profile.client.post("/v1/bookings/completed", json=body)
    assert r.status_code == 202, r.text
    return r.json()["event_id"]


async def booking_rows(profile: RunningService) -> list[Booking]:
    async with profile.runtime.read_sessions() as s:
        return list((await s.execute(select(Booking))).scalars())


async def wait_bookings(profile: RunningService, count: int) -> None:
    async def enough() -> bool:
        return len(await booking_rows(profile)) >= count
    await eventually(enough)


async def outbox_events(profile: RunningService, event_type: str, subject: str | None = None) -> list[dict[str, Any]]:
    async with profile.runtime.read_sessions() as s:
        query = select(OutboxRecord).where(OutboxRecord.type == event_type).order_by(OutboxRecord.id)
        if subject:
            query = query.where(OutboxRecord.key == subject)
        return [json.loads(r.payload) for r in (await s.execute(query)).scalars()]


async def create(profile: RunningService, **fields: Any) -> dict[str, Any]:
    r = await profile.client.post("/v1/customers", json=fields)
    assert r.status_code == 201, r.text
    return r.json()
