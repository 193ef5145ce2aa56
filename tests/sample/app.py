"""The sample service: placing an order emits booking-completed; consuming it records an effect.

Effects have no unique key on purpose: a doubled delivery would show as two rows.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Column, Integer, String, func, select
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import outbox
from shared.app import ServiceSpec
from shared.events import BookingCompleted, Event, Product, new_event


class SampleOrder(SQLModel, table=True):
    __tablename__ = "sample_order"
    id: str = Field(sa_column=Column(String(100), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False))
    seq: int


class SampleEffect(SQLModel, table=True):
    __tablename__ = "sample_effect"
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    booking_id: str = Field(sa_column=Column(String(100), nullable=False))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False))
    event_id: str = Field(sa_column=Column(String(200), nullable=False))


class SampleGate(SQLModel, table=True):
    __tablename__ = "sample_gate"
    product_id: str = Field(sa_column=Column(String(100), primary_key=True))


def booking_id(customer_id: str, seq: int) -> str:
    return f"{customer_id}-{seq:06d}"


def order_event(customer_id: str, seq: int, kind: str = "tour", completed_at: datetime | None = None):  # noqa: ANN201
    data = BookingCompleted(
        booking_id=booking_id(customer_id, seq),
        customer_id=customer_id,
        product=Product(id=f"P-{kind}", name="桂林山水五日游", kind=kind, destination="桂林", tags=["nature"]),
        amount="1999.00",
        completed_at=completed_at or datetime.now(timezone.utc),
    )
    return new_event(data, source="tourcrm/sample", subject=customer_id)


async def place_order(session: AsyncSession, *, customer_id: str, seq: int, kind: str = "tour") -> None:
    """The use case: an order and its event in the caller's transaction (no commit here)."""
    session.add(SampleOrder(id=booking_id(customer_id, seq), customer_id=customer_id, seq=seq))
    outbox.add(session, order_event(customer_id, seq, kind))


SLOW = {"seconds": 0.0}


async def on_booking_completed(event: Event[BookingCompleted], session: AsyncSession) -> None:
    kind = event.data.product.kind
    if kind == "poison":
        raise ValueError(f"poison product for customer phone 13800138000 ({event.data.customer_id})")
    if kind == "gated" and await session.get(SampleGate, event.data.product.id) is None:
        raise LookupError(f"product {event.data.product.id} is not open yet")
    if SLOW["seconds"]:
        await asyncio.sleep(SLOW["seconds"])
    session.add(SampleEffect(booking_id=event.data.booking_id, customer_id=event.data.customer_id, event_id=event.id))


SPEC = ServiceSpec(
    name="sample",
    port=8009,
    title="sample",
    subscriptions={BookingCompleted: [on_booking_completed]},
    migrations=Path(__file__).parent / "migrations",
)


async def effects(session: AsyncSession) -> list[SampleEffect]:
    return list((await session.execute(select(SampleEffect).order_by(SampleEffect.id))).scalars())


async def count(session: AsyncSession, model: type[SQLModel]) -> int:
    return (await session.execute(select(func.count()).select_from(model))).scalar_one()
