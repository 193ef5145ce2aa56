"""Booking history and the product catalog, from booking events; the HTTP ingest for producers without Kafka.

The consumer path records facts per event and recomputes values once per batch: handlers add rows (booking,
catalog, stub files) without flushing and note the customers they touched (`scoring.touch`); the after_batch
hooks `write_deferred` and then `scoring.recompute_touched` write the batch's deferred bookings set-based and
score every touched customer once. Within one consumer transaction the lookups below are remembered in
session.info, so a batch flushes its new rows together instead of once per event. In a savepoint (the
consumer's careful, one-event-at-a-time mode, and dead-letter replay) nothing is remembered across events: a
rolled-back event must not leave a remembered row behind.
"""

from __future__ import annotations

from datetime import datetime
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import repository as repo
from services.profile.models import Booking, Customer, Product
from services.profile.schemas import BatchAccepted
from services.profile.scoring import touch
from shared import events as ev
from shared import outbox
from shared.db import aware, utcnow
from shared.rows import insert_rows
from shared.errors import Unprocessable

INGEST_SOURCE = "tourcrm/profile-ingest"
_SURVIVORS = "profile.survivors"  # customer id -> surviving id, this transaction
_BOOKINGS = "profile.bookings"  # booking id -> Booking seen or added this transaction
_PRODUCTS = "profile.products"  # product id -> Product seen or added this transaction
_DEFERRED = "profile.deferred_bookings"  # booking id -> row values, written by write_deferred
_DEFERRED_PRODUCTS = "profile.deferred_products"  # product id -> (latest Product seen, when)


def ingest(session: AsyncSession, data: ev.BookingCompleted | ev.BookingCancelled) -> ev.Envelope:
    """Put a validated booking event on tourcrm.bookings, as its producer would have; what the model's
    own rules cannot say without a clock (a booking completed next year) is refused here, as the consumers
    park it (EventData.implausible)."""
    for name in ("completed_at", "cancelled_at"):
        moment = getattr(data, name, None)
        if moment is not None and moment.tzinfo is None:
            raise Unprocessable(f"{name} needs a time zone (UTC on the wire)", field=name)
    if (wrong := data.implausible(utcnow())) is not None:
        raise Unprocessable(f"{wrong[0]} {wrong[1]}", field=wrong[0])
    return outbox.emit(session, data, data.customer_id, source=INGEST_SOURCE)


BATCH_TYPES: dict[str, type[ev.BookingCompleted] | type[ev.BookingCancelled]] = {
    ev.BookingCompleted.type: ev.BookingCompleted, ev.BookingCancelled.type: ev.BookingCancelled}


def ingest_batch(session: AsyncSession, items: list[dict[str, Any]]) -> BatchAccepted:
    """Each item ({"type", "data"}) checked alone by the single ingest's rules: the valid ones go on
    tourcrm.bookings in the caller's one transaction, the others are answered with their errors (fields named
    from the item: `items.3.data.currency`). Consumers apply a booking id once, so resending a batch is safe."""
    results = []
    for index, item in enumerate(items):
        model = BATCH_TYPES.get(item.get("type"))  # type: ignore[arg-type]
        if model is None:
            results.append(_rejected(index, [(f"items.{index}.type", f"must be one of {', '.join(BATCH_TYPES)}")]))
            continue
        try:
            data = model.model_validate(item.get("data"))
            envelope = ingest(session, data)
        except ValidationError as exc:
            results.append(_rejected(index, [(".".join([f"items.{index}.data", *map(str, e["loc"])]), e["msg"])
                                             for e in exc.errors()]))
        except Unprocessable as exc:
            named = exc.extra.get("errors") or [{"field": "", "message": exc.detail}]
            results.append(_rejected(index, [(f"items.{index}.data.{e['field']}".rstrip("."), e["message"])
                                             for e in named]))
        else:
            results.append({"index": index, "status": "accepted", "event_id": envelope.id, "errors": []})
    accepted = sum(r["status"] == "accepted" for r in results)
    return BatchAccepted.model_validate({"accepted": accepted, "rejected": len(results) - accepted, "items": results})


def _rejected(index: int, errors: list[tuple[str, str]]) -> dict[str, Any]:
    return {"index": index, "status": "rejected", "event_id": None,
            "errors": [{"field": field, "message": message} for field, message in errors]}


def _memo(session: AsyncSession, name: str) -> dict[str, Any]:
    if session.in_nested_transaction():
        return {}
    return session.info.setdefault(name, {})


async def ensure_customer(session: AsyncSession, customer_id: str) -> str:
    """The surviving id for this customer id; a stub file when the id is new to us."""
    known = _memo(session, _SURVIVORS)
    if customer_id not in known:
        with session.no_autoflush:
            survivor, exists = await repo.survivor_of(session, customer_id)
        if not exists:
            await add_stubs(session, [survivor])
        known[customer_id] = known[survivor] = survivor
    return known[customer_id]


async def ensure_customers(session: AsyncSession, customer_ids: set[str]) -> dict[str, str]:
    """`ensure_customer` for many ids: the unknown ones looked up by one query."""
    known = _memo(session, _SURVIVORS)
    if missing := [cid for cid in customer_ids if cid not in known]:
        with session.no_autoflush:
            found = await repo.survivors(session, missing)
        await add_stubs(session, {survivor for survivor, exists in found.values() if not exists and survivor not in known})
        for cid, (survivor, _) in found.items():
            known[cid] = known[survivor] = survivor
    return {cid: known[cid] for cid in customer_ids}


async def add_stubs(session: AsyncSession, customer_ids: Iterable[str]) -> None:
    """Stub files (origin booking) for customer ids new to us, by one Core INSERT (`shared.rows.insert_rows`): no ORM
    object per new customer (a SQLModel row costs more to build and flush than the statement); an id filed meanwhile
    is left as it is."""
    if not (ids := sorted(set(customer_ids))):
        return
    now = utcnow()
    await insert_rows(session, Customer.__table__, [
        {"id": cid, "status": "active", "origin": "booking", "kind": "individual", "preferences": {}, "tags": [],
         "version": 1, "created_at": now, "updated_at": now} for cid in ids], skip_conflicts=True)


def _catalog(session: AsyncSession, row: Product | None, product: ev.Product, now: datetime) -> Product:
    """The catalog row of `product`: added when new, brought up to date when it changed."""
    if row is None:
        row = Product(id=product.id, name=product.name, kind=product.kind, destination=product.destination,
                      tags=list(product.tags), updated_at=now)
        session.add(row)
    elif (row.name, row.kind, row.destination, row.tags) != (product.name, product.kind, product.destination,
                                                              list(product.tags)):
        row.name, row.kind, row.destination, row.tags, row.updated_at = (
            product.name, product.kind, product.destination, list(product.tags), now)
    return row


async def upsert_product(session: AsyncSession, product: ev.Product, now: datetime) -> None:
    seen = _memo(session, _PRODUCTS)
    row = seen.get(product.id)
    if row is None:
        with session.no_autoflush:
            row = await session.get(Product, product.id)
    seen[product.id] = _catalog(session, row, product, now)


async def _booking(session: AsyncSession, booking_id: str) -> Booking | None:
    seen = _memo(session, _BOOKINGS)
    if booking_id not in seen:
        with session.no_autoflush:
            seen[booking_id] = await session.get(Booking, booking_id)
    return seen[booking_id]


def _booking_values(data: ev.BookingCompleted, customer_id: str) -> dict[str, Any]:
    return {"booking_id": data.booking_id, "customer_id": customer_id, "channel": data.channel,
            "product_id": data.product.id, "amount": data.amount, "currency": data.currency,
            "party_size": data.party_size, "travel_start": data.travel_start, "travel_end": data.travel_end,
            "completed_at": aware(data.completed_at), "status": "completed", "cancelled_at": None,
            "cancel_reason": None, "refunded_amount": None, "refund_currency": None}


async def record_booking(session: AsyncSession, data: ev.BookingCompleted, *, now: datetime) -> bool:
    """Booking history + catalog, now; False when this booking id is already known (a retry under a new event id).
    The customer's value is recomputed at the end of the batch (`touch`, then `recompute_touched`)."""
    await upsert_product(session, data.product, now)
    if data.booking_id in session.info.get(_DEFERRED, {}) or await _booking(session, data.booking_id) is not None:
        return False
    customer_id = await ensure_customer(session, data.customer_id)
    row = Booking(**_booking_values(data, customer_id))
    session.add(row)
    _memo(session, _BOOKINGS)[data.booking_id] = row
    touch(session, customer_id)
    return True


def defer_booking(session: AsyncSession, data: ev.BookingCompleted, *, now: datetime) -> None:
    """The consumer's fast path: keep the booking (and its product) for `write_deferred` at the end of the batch,
    which writes them all with a few set-based statements. The first copy of a booking id wins, as in
    `record_booking`; the catalog takes the last version of each product."""
    session.info.setdefault(_DEFERRED_PRODUCTS, {})[data.product.id] = (data.product, now)
    session.info.setdefault(_DEFERRED, {}).setdefault(data.booking_id, _booking_values(data, data.customer_id))


def _cancelled(cancelled_at: datetime, reason: str | None, refunded_amount: Any, currency: str | None) -> dict[str, Any]:
    """The cancellation's values; the refund keeps its own currency (it need not be the booking's)."""
    return {"status": "cancelled", "cancelled_at": aware(cancelled_at), "cancel_reason": reason,
            "refunded_amount": refunded_amount, "refund_currency": currency if refunded_amount is not None else None}


def _set(row: Booking, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(row, name, value)


async def write_deferred(session: AsyncSession) -> None:
    """after_batch hook (before `recompute_touched`): the batch's deferred products and bookings, set-based.
    If a statement fails the whole batch fails, and the consumer redoes it one event at a time, in savepoints,
    where handlers record bookings at once (`record_booking`): a bad booking is parked alone."""
    for name in (_SURVIVORS, _BOOKINGS, _PRODUCTS):  # the batch's handlers are done: forget what they looked up
        session.info.pop(name, None)
    products: dict[str, tuple[ev.Product, datetime]] = session.info.pop(_DEFERRED_PRODUCTS, None) or {}
    bookings: dict[str, dict[str, Any]] = session.info.pop(_DEFERRED, None) or {}
    rows = await repo.products_by_id(session, products)
    for pid, (product, now) in products.items():
        _catalog(session, rows.get(pid), product, now)
    if not bookings:
        return
    stored = await repo.bookings_by_id(session, bookings)
    for booking_id, row in stored.items():  # a retry of a stored booking is ignored, a cancellation noted on it is not
        if bookings[booking_id]["status"] == "cancelled" and row.status != "cancelled":
            b = bookings[booking_id]
            _set(row, _cancelled(b["cancelled_at"], b["cancel_reason"], b["refunded_amount"], b["refund_currency"]))
            touch(session, row.customer_id)
    fresh = [b for bid, b in bookings.items() if bid not in stored]
    if fresh:
        await _insert_bookings(session, fresh)


async def _insert_bookings(session: AsyncSession, fresh: list[dict[str, Any]]) -> None:
    """New bookings in one statement, on their customers' surviving files (stub files for unknown ids)."""
    survivors = await repo.survivors(session, {b["customer_id"] for b in fresh})
    await add_stubs(session, {survivor for survivor, exists in survivors.values() if not exists})
    for b in fresh:
        b["customer_id"] = survivors[b["customer_id"]][0]
    await insert_rows(session, Booking.__table__, fresh)
    touch(session, *{b["customer_id"] for b in fresh})


async def record_cancellation(session: AsyncSession, data: ev.BookingCancelled, *, now: datetime) -> bool:
    """Mark the booking cancelled; False when unknown or already cancelled."""
    values = _cancelled(data.cancelled_at or now, data.reason, data.refunded_amount, data.currency)
    deferred = session.info.get(_DEFERRED, {}).get(data.booking_id)
    if deferred is not None:  # completed earlier in this batch, not written yet
        if deferred["status"] == "cancelled":
            return False
        deferred.update(values)
        return True
    booking = await _booking(session, data.booking_id)
    if booking is None or booking.status == "cancelled":
        return False
    _set(booking, values)
    touch(session, booking.customer_id)
    return True
