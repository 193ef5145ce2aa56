"""Queries of the profile service; never commits. Lists cut with a cursor fetch `limit + 1` rows after the key
they are given (`shared.pages.page_of` keeps `limit` of them)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile.models import (
    Booking, CareTask, ComplaintView, Consent, ContactPoint, Customer, CustomerValue, ErasureConfirmation,
    ErasureRequest, ExternalId, FeedbackView, MembershipView, Product, Segment, ValueDirty,
)
from services.profile.schemas import CHANNELS
from shared.db import among, dialect_of, utcnow
from shared.rows import rows_insert, upsert_rows
from shared.errors import NotFound

M = TypeVar("M")


def chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    """Id lists cut to a size every backend takes in one IN (...)."""
    return [ids[i:i + size] for i in range(0, len(ids), size)]


async def get_customer(session: AsyncSession, customer_id: str, *, for_update: bool = False) -> Customer:
    customer = await session.get(Customer, customer_id, with_for_update=for_update or None)
    if customer is None:
        raise NotFound("customer", customer_id)
    return customer


async def page_by_id(session: AsyncSession, model: type[M], after: tuple[str] | None, limit: int,
                     **equal: Any) -> list[M]:
    """`limit + 1` rows of `model` by id after the cursor key; `equal`: column == value, for the values not None."""
    key = model.id  # type: ignore[attr-defined]
    query = select(model).order_by(key).limit(limit + 1)
    for column, value in equal.items():
        if value is not None:
            query = query.where(getattr(model, column) == value)
    if after is not None:
        query = query.where(key > after[0])
    return list((await session.execute(query)).scalars())


async def get_row(session: AsyncSession, model: type[M], key: Any, what: str) -> M:
    """A row by primary key, or a 404 naming `what`."""
    row = await session.get(model, key)
    if row is None:
        raise NotFound(what, key)
    return row


# --- merge chains: the one walker --------------------------------------------------------------------


async def survivors(session: AsyncSession, customer_ids: Iterable[str]) -> dict[str, tuple[str, bool]]:
    """Each id → (the surviving file it was merged into, whether that file exists); ids of unknown customers come
    back unchanged with False. One query per level of merges (usually one) per 500 ids."""
    wanted = set(customer_ids)
    merged_into: dict[str, str | None] = {}
    looked: set[str] = set()
    todo = set(wanted)
    while todo:
        looked |= todo
        for chunk in chunks(sorted(todo)):
            merged_into.update((await session.execute(select(Customer.id, Customer.merged_into)
                                                      .where(among(session, Customer.id, chunk)))).all())
        todo = {m for m in merged_into.values() if m is not None and m not in looked}

    def follow(current: str) -> tuple[str, bool]:
        seen: set[str] = set()
        while current in merged_into and merged_into[current] is not None and current not in seen:
            seen.add(current)
            current = merged_into[current]  # type: ignore[assignment]
        return current, current in merged_into
    return {cid: follow(cid) for cid in wanted}


async def survivor_of(session: AsyncSession, customer_id: str) -> tuple[str, bool]:
    """(surviving id, whether that file exists) of one id."""
    return (await survivors(session, [customer_id]))[customer_id]


# --- the customer file ---------------------------------------------------------------------------------


async def customers_by_id(session: AsyncSession, customer_ids: Iterable[str]) -> dict[str, Customer]:
    found: dict[str, Customer] = {}
    for chunk in chunks(sorted(set(customer_ids))):
        found.update((c.id, c) for c in (await session.execute(select(Customer).where(Customer.id.in_(chunk)))).scalars())
    return found


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


async def shared_contacts(session: AsyncSession, limit: int) -> list[tuple[str, str]]:
    """(kind, value) of contacts that more than one active file has."""
    files = func.count(func.distinct(ContactPoint.customer_id))
    return [(k, v) for k, v in (await session.execute(
        select(ContactPoint.kind, ContactPoint.value).join(Customer, Customer.id == ContactPoint.customer_id)
        .where(Customer.status == "active").group_by(ContactPoint.kind, ContactPoint.value).having(files > 1).limit(limit)
    )).all()]


async def named_and_born(session: AsyncSession, born: Any = None) -> list[tuple[str, str, Any]]:
    """(id, name, birth date) of active files with both (born on `born` when given)."""
    query = (select(Customer.id, Customer.name, Customer.birth_date)
             .where(Customer.status == "active", Customer.birth_date.is_not(None), Customer.name.is_not(None))
             .order_by(Customer.birth_date, Customer.id))
    if born is not None:
        query = query.where(Customer.birth_date == born)
    return [(cid, name, day) for cid, name, day in (await session.execute(query)).all()]


async def merged_into(session: AsyncSession, customer_id: str) -> list[str]:
    """The files merged into this one."""
    return list((await session.execute(select(Customer.id).where(Customer.merged_into == customer_id))).scalars())


async def valued_customer_ids(session: AsyncSession) -> list[str]:
    """Every customer with a value to compute: active and erased files, and whoever has a completed booking."""
    files = (await session.execute(select(Customer.id).where(Customer.status.in_(("active", "erased"))))).scalars()
    buyers = (await session.execute(select(Booking.customer_id).where(Booking.status == "completed").distinct())).scalars()
    return sorted({*files, *buyers})


# --- rows about customers, many at a time --------------------------------------------------------------


async def rows_of(session: AsyncSession, model: type[M], customer_ids: Iterable[str], *order: Any) -> dict[str, list[M]]:
    """customer id → the rows of `model` about that customer (in `order`), one query per 500 ids."""
    found: dict[str, list[M]] = defaultdict(list)
    for chunk in chunks(sorted(set(customer_ids))):
        query = select(model).where(among(session, model.customer_id, chunk)).order_by(*order)  # type: ignore[attr-defined]
        for row in (await session.execute(query)).scalars():
            found[row.customer_id].append(row)  # type: ignore[attr-defined]
    return found


async def trips_of(session: AsyncSession, customer_ids: Iterable[str]) -> dict[str, list[tuple[datetime, Any, str]]]:
    """customer id → (completed_at, amount, currency) of each completed booking."""
    found: dict[str, list[tuple[datetime, Any, str]]] = defaultdict(list)
    for chunk in chunks(sorted(set(customer_ids))):
        for cid, at, amount, currency in (await session.execute(
                select(Booking.customer_id, Booking.completed_at, Booking.amount, Booking.currency)
                .where(among(session, Booking.customer_id, chunk), Booking.status == "completed"))).all():
            found[cid].append((at, amount, currency))
    return found


async def columns_of(session: AsyncSession, model: type[M], customer_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """customer id -> the columns of its one row of `model` (keyed by customer id; plain values, no ORM objects),
    one query per 500 ids."""
    table = model.__table__  # type: ignore[attr-defined]
    found: dict[str, dict[str, Any]] = {}
    for chunk in chunks(sorted(set(customer_ids))):
        for row in (await session.execute(select(*table.columns).where(among(session, table.c.customer_id, chunk)))).all():
            found[row.customer_id] = row._asdict()
    return found


async def value_rows(session: AsyncSession, customer_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """customer id -> the columns of its stored value row (plain values, no ORM objects), one query per 500 ids."""
    return await columns_of(session, CustomerValue, customer_ids)


async def write_values(session: AsyncSession, rows: list[dict[str, Any]], *, dirty: bool = False) -> None:
    """Customers' value rows, new or changed, by one upsert (`shared.rows.upsert_rows`); `dirty`: and the customers
    marked dirty (`mark_dirty`) in the same statement."""
    also = [_dirty(session, [row["customer_id"] for row in rows])] if dirty and rows else []
    await upsert_rows(session, CustomerValue, rows, also=also)


async def delete_values(session: AsyncSession, customer_ids: list[str]) -> None:
    await session.execute(delete(CustomerValue).where(CustomerValue.customer_id.in_(customer_ids)))


async def mark_dirty(session: AsyncSession, customer_ids: Iterable[str]) -> None:
    """Note, in the caller's transaction, customers whose value inputs changed: the next nightly run recomputes them."""
    if ids := set(customer_ids):
        await session.execute(*_dirty(session, ids))


def _dirty(session: AsyncSession, ids: Iterable[str]) -> tuple[Any, Any]:
    now = utcnow()
    rows = [{"customer_id": cid, "marked_at": now} for cid in sorted(set(ids))]
    return rows_insert(dialect_of(session), ValueDirty.__table__, rows, on_conflict=("customer_id",),
                       update_columns=("marked_at",))


async def stored_buyers(session: AsyncSession) -> list[tuple[str, datetime, int, Any]]:
    """(customer, last booking, frequency, monetary) of every stored value of a buyer."""
    v = CustomerValue
    return [tuple(r) for r in (await session.execute(  # type: ignore[misc]
        select(v.customer_id, v.last_booking_at, v.frequency, v.monetary).where(v.frequency > 0))).all()]


async def consents(session: AsyncSession, customer_id: str) -> list[Consent]:
    return (await rows_of(session, Consent, [customer_id], Consent.channel, Consent.purpose))[customer_id]


async def granted_channels_of(session: AsyncSession, customer_ids: Iterable[str], purpose: str) -> dict[str, list[str]]:
    """The channels each customer granted for `purpose`, in CHANNELS order."""
    granted: dict[str, set[str]] = {cid: set() for cid in customer_ids}
    for chunk in chunks(sorted(granted)):
        for cid, channel in await session.execute(select(Consent.customer_id, Consent.channel).where(
                Consent.customer_id.in_(chunk), Consent.purpose == purpose, Consent.status == "granted")):
            granted[cid].add(channel)
    return {cid: [c for c in CHANNELS if c in channels] for cid, channels in granted.items()}


async def bookings_of(session: AsyncSession, customer_id: str) -> list[Booking]:
    return list((await session.execute(
        select(Booking).where(Booking.customer_id == customer_id).order_by(Booking.completed_at.desc(), Booking.booking_id)
    )).scalars())


async def bookings_page(session: AsyncSession, customer_id: str, after: tuple[datetime, str] | None,
                        limit: int) -> list[Booking]:
    """A customer's bookings, newest first."""
    query = (select(Booking).where(Booking.customer_id == customer_id)
             .order_by(Booking.completed_at.desc(), Booking.booking_id).limit(limit + 1))
    if after is not None:
        at, booking_id = after
        query = query.where((Booking.completed_at < at) | ((Booking.completed_at == at) & (Booking.booking_id > booking_id)))
    return list((await session.execute(query)).scalars())


async def bookings_by_id(session: AsyncSession, booking_ids: Iterable[str]) -> dict[str, Booking]:
    found: dict[str, Booking] = {}
    for chunk in chunks(sorted(set(booking_ids))):
        found.update((b.booking_id, b) for b in (await session.execute(
            select(Booking).where(among(session, Booking.booking_id, chunk)))).scalars())
    return found


async def products_by_id(session: AsyncSession, ids: Iterable[str] | None = None) -> dict[str, Product]:
    if ids is None:
        return {p.id: p for p in (await session.execute(select(Product))).scalars()}
    found: dict[str, Product] = {}
    for chunk in chunks(sorted(set(ids))):
        found.update((p.id, p) for p in (await session.execute(select(Product).where(among(session, Product.id, chunk)))).scalars())
    return found


async def membership(session: AsyncSession, customer_id: str) -> MembershipView | None:
    return await session.get(MembershipView, customer_id)


async def complaints_of(session: AsyncSession, customer_id: str) -> list[ComplaintView]:
    return (await rows_of(session, ComplaintView, [customer_id], ComplaintView.filed_at))[customer_id]


async def feedback_of(session: AsyncSession, customer_id: str) -> list[FeedbackView]:
    return (await rows_of(session, FeedbackView, [customer_id], FeedbackView.submitted_at,
                          FeedbackView.response_id))[customer_id]


async def value_of(session: AsyncSession, customer_id: str) -> CustomerValue | None:
    return await session.get(CustomerValue, customer_id)


async def at_risk_page(session: AsyncSession, after: tuple[float, str] | None, limit: int) -> list[CustomerValue]:
    """Values at risk, highest churn score first."""
    v = CustomerValue
    query = select(v).where(v.at_risk.is_(True)).order_by(v.churn_score.desc(), v.customer_id).limit(limit + 1)
    if after is not None:
        score, cid = after
        query = query.where((v.churn_score < score) | ((v.churn_score == score) & (v.customer_id > cid)))
    return list((await session.execute(query)).scalars())


# --- care, segments, erasure ----------------------------------------------------------------------------


async def care_tasks_of(session: AsyncSession, customer_id: str) -> list[CareTask]:
    return (await rows_of(session, CareTask, [customer_id], CareTask.due_at, CareTask.id))[customer_id]


async def due_care_tasks(session: AsyncSession, now: datetime, limit: int = 5000) -> list[CareTask]:
    return list((await session.execute(select(CareTask).where(CareTask.status == "scheduled", CareTask.due_at <= now)
                                       .order_by(CareTask.due_at, CareTask.id).limit(limit))).scalars())


async def care_keys(session: AsyncSession, customer_ids: set[str]) -> set[tuple[str, str, str]]:
    """(customer, kind, occasion) of the care tasks these customers have."""
    found: set[tuple[str, str, str]] = set()
    for chunk in chunks(sorted(customer_ids)):
        found.update(tuple(r) for r in (await session.execute(  # type: ignore[misc]
            select(CareTask.customer_id, CareTask.kind, CareTask.occasion).where(CareTask.customer_id.in_(chunk)))).all())
    return found


async def select_rows(session: AsyncSession, *columns: Any, where: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of a few columns of one table, for scans (care scheduling, segment attributes)."""
    return [tuple(r) for r in (await session.execute(select(*columns).where(*where))).all()]


async def rows(session: AsyncSession, model: type[M], *, where: Iterable[Any] = (), order: Iterable[Any] = ()) -> list[M]:
    """Rows of one table, whole."""
    return list((await session.execute(select(model).where(*where).order_by(*order))).scalars())


async def booked_products(session: AsyncSession) -> list[tuple[str, str | None, list[str]]]:
    """(customer, destination, tags) of the product of every completed booking."""
    return [tuple(r) for r in (await session.execute(  # type: ignore[misc]
        select(Booking.customer_id, Product.destination, Product.tags)
        .join(Product, Product.id == Booking.product_id).where(Booking.status == "completed"))).all()]


async def segments(session: AsyncSession) -> list[Segment]:
    return list((await session.execute(select(Segment).order_by(Segment.name))).scalars())


async def segment_named(session: AsyncSession, name: str) -> Segment | None:
    return (await session.execute(select(Segment).where(Segment.name == name))).scalars().first()


async def latest_erasure(session: AsyncSession, customer_id: str) -> ErasureRequest | None:
    return (await session.execute(select(ErasureRequest).where(ErasureRequest.customer_id == customer_id)
                                  .order_by(ErasureRequest.requested_at.desc()))).scalars().first()


async def confirmations(session: AsyncSession, request_id: str) -> dict[str, ErasureConfirmation]:
    return {c.service: c for c in (await session.execute(
        select(ErasureConfirmation).where(ErasureConfirmation.request_id == request_id))).scalars()}
