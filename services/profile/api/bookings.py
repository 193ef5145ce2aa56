"""Routes of the booking ingest (for producers without a Kafka client), the booking history and the catalog."""

from __future__ import annotations

from fastapi import APIRouter

from services.profile import bookings, overview
from services.profile.public import Accepted, BookingPublic, ProductPublic
from services.profile.schemas import BatchAccepted, BookingBatch
from shared import events as ev
from shared.app import ReadSessionDep, UnitOfWork
from shared.auth import Scope
from shared.pages import Cursor, Limit, Page

router = APIRouter(prefix="/v1", tags=["bookings"])


@router.post("/bookings/completed", status_code=202, response_model=Accepted)
async def ingest_booking_completed(body: ev.BookingCompleted, session: UnitOfWork,
                                   client: Scope("events:publish")) -> Accepted:
    """Validate a booking-completed and put it on tourcrm.bookings (for producers without a Kafka client)."""
    envelope = bookings.ingest(session, body)
    return Accepted(event_id=envelope.id, type=envelope.type)


@router.post("/bookings/cancelled", status_code=202, response_model=Accepted)
async def ingest_booking_cancelled(body: ev.BookingCancelled, session: UnitOfWork,
                                   client: Scope("events:publish")) -> Accepted:
    """Validate a booking-cancelled and put it on tourcrm.bookings."""
    envelope = bookings.ingest(session, body)
    return Accepted(event_id=envelope.id, type=envelope.type)


@router.post("/bookings/batch", response_model=BatchAccepted)
async def ingest_bookings(body: BookingBatch, session: UnitOfWork, client: Scope("events:publish")) -> BatchAccepted:
    """Up to 1,000 booking-completed / booking-cancelled events, each checked alone: the valid ones are put on
    tourcrm.bookings in one transaction and the answer says, item by item, what was accepted and why the rest was
    not. A booking id is applied once, so a batch may be sent again after a failure."""
    return bookings.ingest_batch(session, [item.model_dump() for item in body.items])


@router.get("/customers/{customer_id}/bookings", response_model=Page[BookingPublic])
async def customer_bookings(customer_id: str, session: ReadSessionDep, client: Scope("profile:read", customers=True),
                            cursor: Cursor = None, limit: Limit = 50) -> Page[BookingPublic]:
    return await overview.bookings_page(session, customer_id, cursor, limit)


@router.get("/products", response_model=Page[ProductPublic])
async def list_products(session: ReadSessionDep, client: Scope("profile:read", customers=True), cursor: Cursor = None,
                        limit: Limit = 50) -> Page[ProductPublic]:
    return await overview.products_page(session, cursor, limit)


@router.get("/products/{product_id}", response_model=ProductPublic)
async def get_product(product_id: str, session: ReadSessionDep, client: Scope("profile:read", customers=True)) -> ProductPublic:
    return await overview.product(session, product_id)
