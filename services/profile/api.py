"""HTTP routes of the profile service: parse, authorise, call a use case, shape the answer."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.profile import repository as repo
from services.profile import segments as seg
from services.profile import service
from services.profile.models import Booking, CareTask, Customer, CustomerValue, Product, Segment
from services.profile.schemas import (
    ConsentChanges, CustomerCreate, CustomerPatch, CustomerResolve, MergeIn, SegmentIn, ValueConfig,
)
from shared import events as ev
from shared import outbox
from shared.app import ReadSessionDep, RuntimeDep, SessionDep
from shared.auth import Scope
from shared.db import utcnow
from shared.errors import Conflict, NotFound, Unprocessable

router = APIRouter(prefix="/v1", tags=["profile"])

Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=500)]


def _with_etag(body: dict[str, Any], status: int = 200, **extra: Any) -> JSONResponse:
    return JSONResponse({**body, **extra}, status_code=status, headers={"ETag": body["etag"]})


async def _customer_answer(session, customer: Customer, status: int = 200, **extra: Any) -> JSONResponse:  # noqa: ANN001
    return _with_etag(await service.public(session, customer), status, **extra)


def _conflict_from(exc: IntegrityError) -> Conflict:
    return Conflict("a concurrent change touched the same customer data; retry")


# --- customer files ------------------------------------------------------------------------------------


@router.post("/customers", status_code=201)
async def create_customer(body: CustomerCreate, session: SessionDep, client: Scope("profile:write")) -> JSONResponse:
    try:
        async with session.begin():
            customer = await service.create_customer(session, body)
            duplicates = await service.possible_duplicates(session, customer)
            answer = await _customer_answer(session, customer, 201, possible_duplicates=duplicates)
    except IntegrityError as exc:
        raise _conflict_from(exc) from None
    answer.headers["Location"] = f"/v1/customers/{customer.id}"
    return answer


@router.post("/customers/resolve")
async def resolve_customer(body: CustomerResolve, session: SessionDep, client: Scope("profile:write")) -> JSONResponse:
    """Find by external id, normalised phone or email — or create. 200 found, 201 created, 404 when `create` is false."""
    if not (body.external_ids or body.phones or body.emails):
        raise Unprocessable("give at least one external id, phone or email to resolve on", field="phones")
    try:
        async with session.begin():
            customer, matched_by, others = await service.resolve(session, body)
            if customer is None:
                raise NotFound("customer", "matching these identifiers")
            duplicates = others if matched_by else await service.possible_duplicates(session, customer)
            return await _customer_answer(session, customer, 200 if matched_by else 201,
                                          matched_by=matched_by, created=matched_by is None,
                                          possible_duplicates=duplicates)
    except IntegrityError as exc:
        raise _conflict_from(exc) from None


@router.get("/customers")
async def list_customers(session: ReadSessionDep, client: Scope("profile:read"), cursor: Cursor = None,
                         limit: Limit = 50, status: Annotated[str | None, Query(pattern="^(active|merged|erased)$")] = None
                         ) -> dict[str, Any]:
    query = select(Customer).order_by(Customer.id).limit(limit + 1)
    if status:
        query = query.where(Customer.status == status)
    if (after := repo.decode_cursor(cursor, 1)) is not None:
        query = query.where(Customer.id > after[0])
    rows = list((await session.execute(query)).scalars())
    items = [await service.public(session, c) for c in rows[:limit]]
    return {"items": items, "next_cursor": repo.encode_cursor(rows[limit - 1].id) if len(rows) > limit else None}


@router.get("/customers/duplicates")
async def list_duplicates(session: ReadSessionDep, client: Scope("profile:read")) -> dict[str, Any]:
    return {"items": await service.duplicates(session)}


@router.get("/customers/{customer_id}")
async def get_customer(customer_id: str, session: ReadSessionDep, client: Scope("profile:read")) -> JSONResponse:
    return await _customer_answer(session, await repo.get_customer(session, customer_id))


@router.patch("/customers/{customer_id}")
async def update_customer(customer_id: str, body: CustomerPatch, session: SessionDep, client: Scope("profile:write"),
                          if_match: Annotated[str | None, Header()] = None) -> JSONResponse:
    """Needs `If-Match` with the ETag last read: 428 without it, 412 when the file changed since."""
    try:
        async with session.begin():
            customer = await service.update_customer(session, customer_id, body, if_match)
            return await _customer_answer(session, customer)
    except IntegrityError as exc:
        raise _conflict_from(exc) from None


@router.get("/customers/{customer_id}/consents")
async def get_consents(customer_id: str, session: ReadSessionDep, client: Scope("profile:read")) -> dict[str, Any]:
    await repo.get_customer(session, customer_id)
    return {"customer_id": customer_id,
            "items": [service._consent_public(c) for c in await repo.consents(session, customer_id)]}  # noqa: SLF001


@router.post("/customers/{customer_id}/consents")
async def change_consents(customer_id: str, body: ConsentChanges, session: SessionDep,
                          client: Scope("profile:write")) -> dict[str, Any]:
    async with session.begin():
        rows = await service.change_consents(session, customer_id, body.changes)
        return {"customer_id": customer_id, "items": [service._consent_public(c) for c in rows]}  # noqa: SLF001


@router.post("/customers/{customer_id}/merge")
async def merge_customers(customer_id: str, body: MergeIn, session: SessionDep, client: Scope("profile:write")) -> JSONResponse:
    """Fold `merged_ids` into this file: contacts, ids, bookings, consents follow; customers-merged goes out."""
    async with session.begin():
        record = await service.merge(session, customer_id, body.merged_ids, reason=body.reason, merged_by=client.name)
        customer = await repo.get_customer(session, customer_id)
        return await _customer_answer(session, customer, merge={
            "id": record.id, "merged_ids": record.merged_ids, "reason": record.reason, "merged_by": record.merged_by,
            "merged_at": record.merged_at.isoformat()})


@router.get("/customers/{customer_id}/bookings")
async def customer_bookings(customer_id: str, session: ReadSessionDep, client: Scope("profile:read"),
                            cursor: Cursor = None, limit: Limit = 50) -> dict[str, Any]:
    await repo.get_customer(session, customer_id)
    query = (select(Booking).where(Booking.customer_id == customer_id)
             .order_by(Booking.completed_at.desc(), Booking.booking_id).limit(limit + 1))
    if (after := repo.decode_cursor(cursor, 2)) is not None:
        from datetime import datetime

        at = datetime.fromisoformat(after[0])
        query = query.where((Booking.completed_at < at) | ((Booking.completed_at == at) & (Booking.booking_id > after[1])))
    rows = list((await session.execute(query)).scalars())
    catalog = await repo.products_by_id(session, {b.product_id for b in rows})
    page = rows[:limit]
    nxt = repo.encode_cursor(repo.aware(page[-1].completed_at).isoformat(), page[-1].booking_id) if len(rows) > limit else None
    return {"items": [service.booking_public(b, catalog.get(b.product_id)) for b in page], "next_cursor": nxt}


@router.get("/customers/{customer_id}/value")
async def customer_value(customer_id: str, session: ReadSessionDep, client: Scope("profile:read")) -> dict[str, Any]:
    await repo.get_customer(session, customer_id)
    return service.value_public(await repo.value_of(session, customer_id), customer_id)


@router.get("/customers/{customer_id}/overview")
async def customer_overview(customer_id: str, session: ReadSessionDep, client: Scope("profile:read")) -> dict[str, Any]:
    """The 360 view, from this service's own tables and the events it consumed (no calls to other services)."""
    return await service.overview(session, customer_id)


@router.get("/customers/{customer_id}/recommendations")
async def customer_recommendations(customer_id: str, session: ReadSessionDep, client: Scope("profile:read"),
                                   limit: Annotated[int, Query(ge=1, le=50)] = 5) -> dict[str, Any]:
    return await service.recommendations(session, customer_id, now=utcnow(), limit=limit)


@router.get("/customers/{customer_id}/care-tasks")
async def customer_care_tasks(customer_id: str, session: ReadSessionDep, client: Scope("profile:read")) -> dict[str, Any]:
    await repo.get_customer(session, customer_id)
    rows = (await session.execute(select(CareTask).where(CareTask.customer_id == customer_id)
                                  .order_by(CareTask.due_at, CareTask.id))).scalars()
    return {"items": [service.care_public(t) for t in rows]}


# --- data rights ---------------------------------------------------------------------------------------


@router.get("/privacy/customers/{customer_id}")
async def privacy_customer(customer_id: str, session: ReadSessionDep, client: Scope("privacy:admin")) -> dict[str, Any]:
    """Profile's own answer in the export protocol: everything it holds about the customer."""
    return await service.privacy_answer(session, customer_id)


@router.get("/customers/{customer_id}/export")
async def export_customer(customer_id: str, request: Request, session: ReadSessionDep, runtime: RuntimeDep,
                          client: Scope("privacy:admin")) -> dict[str, Any]:
    """Everything the CRM holds: profile's part, and each privacy service's answer to
    GET /v1/privacy/customers/{id}, called with the caller's own key (no service reads another's tables)."""
    await repo.get_customer(session, customer_id)
    parts: dict[str, Any] = {service.SERVICE: await service.privacy_answer(session, customer_id)}
    errors: dict[str, str] = {}
    headers = {"Authorization": request.headers["authorization"]}
    others = [s for s in runtime.settings.privacy_services if s != service.SERVICE]
    async with httpx.AsyncClient(timeout=15, headers=headers) as http:
        for name in others:
            url = f"{runtime.settings.url_of(name).rstrip('/')}/v1/privacy/customers/{customer_id}"
            try:
                answer = await http.get(url)
                if answer.status_code == 200:
                    parts[name] = answer.json()
                else:
                    errors[name] = f"answered {answer.status_code}"
            except httpx.HTTPError as exc:
                errors[name] = f"unreachable ({type(exc).__name__})"
    return {"customer_id": customer_id, "generated_at": utcnow().isoformat(), "services": parts,
            "complete": not errors, "errors": errors}


@router.delete("/customers/{customer_id}", status_code=202)
async def erase_customer(customer_id: str, session: SessionDep, runtime: RuntimeDep,
                         client: Scope("privacy:admin")) -> dict[str, Any]:
    """Anonymise the file and send customer-erased; every privacy service confirms with customer-data-erased."""
    async with session.begin():
        request = await service.erase(session, customer_id, requested_by=client.name,
                                      services=list(runtime.settings.privacy_services))
        return {"customer_id": customer_id, "request_id": request.request_id,
                "report": f"/v1/customers/{customer_id}/erasure"}


@router.get("/customers/{customer_id}/erasure")
async def erasure_report(customer_id: str, session: ReadSessionDep, client: Scope("privacy:admin")) -> dict[str, Any]:
    return await service.erasure_report(session, customer_id)


# --- booking ingest ------------------------------------------------------------------------------------


async def _ingest(session, data: ev.EventData, customer_id: str) -> JSONResponse:  # noqa: ANN001
    envelope = ev.new_event(data, source="tourcrm/profile-ingest", subject=customer_id)
    async with session.begin():
        outbox.add(session, envelope)
    return JSONResponse({"event_id": envelope.id, "type": envelope.type}, status_code=202)


@router.post("/bookings/completed", status_code=202)
async def ingest_booking_completed(body: ev.BookingCompleted, session: SessionDep,
                                   client: Scope("events:publish")) -> JSONResponse:
    """Validate a booking-completed and put it on tourcrm.bookings (for producers without a Kafka client)."""
    if body.travel_start and body.travel_end and body.travel_end < body.travel_start:
        raise Unprocessable("travel_end is before travel_start", field="travel_end")
    if body.completed_at.tzinfo is None:
        raise Unprocessable("completed_at needs a time zone (UTC on the wire)", field="completed_at")
    return await _ingest(session, body, body.customer_id)


@router.post("/bookings/cancelled", status_code=202)
async def ingest_booking_cancelled(body: ev.BookingCancelled, session: SessionDep,
                                   client: Scope("events:publish")) -> JSONResponse:
    if body.cancelled_at is not None and body.cancelled_at.tzinfo is None:
        raise Unprocessable("cancelled_at needs a time zone (UTC on the wire)", field="cancelled_at")
    return await _ingest(session, body, body.customer_id)


# --- catalog, at-risk, care ----------------------------------------------------------------------------


@router.get("/products")
async def list_products(session: ReadSessionDep, client: Scope("profile:read"), cursor: Cursor = None,
                        limit: Limit = 50) -> dict[str, Any]:
    query = select(Product).order_by(Product.id).limit(limit + 1)
    if (after := repo.decode_cursor(cursor, 1)) is not None:
        query = query.where(Product.id > after[0])
    rows = list((await session.execute(query)).scalars())
    return {"items": [service._product_public(p) for p in rows[:limit]],  # noqa: SLF001
            "next_cursor": repo.encode_cursor(rows[limit - 1].id) if len(rows) > limit else None}


@router.get("/products/{product_id}")
async def get_product(product_id: str, session: ReadSessionDep, client: Scope("profile:read")) -> dict[str, Any]:
    product = await session.get(Product, product_id)
    if product is None:
        raise NotFound("product", product_id)
    return service._product_public(product)  # noqa: SLF001


@router.get("/at-risk")
async def at_risk(session: ReadSessionDep, client: Scope("profile:read"), cursor: Cursor = None,
                  limit: Limit = 50) -> dict[str, Any]:
    """Customers whose churn score crossed the threshold, highest risk first."""
    query = (select(CustomerValue).where(CustomerValue.at_risk.is_(True))
             .order_by(CustomerValue.churn_score.desc(), CustomerValue.customer_id).limit(limit + 1))
    if (after := repo.decode_cursor(cursor, 2)) is not None:
        score, cid = float(after[0]), str(after[1])
        query = query.where((CustomerValue.churn_score < score)
                            | ((CustomerValue.churn_score == score) & (CustomerValue.customer_id > cid)))
    rows = list((await session.execute(query)).scalars())
    page = rows[:limit]
    nxt = repo.encode_cursor(page[-1].churn_score, page[-1].customer_id) if len(rows) > limit else None
    return {"items": [service.value_public(r, r.customer_id) for r in page], "next_cursor": nxt}


@router.get("/care-tasks")
async def list_care_tasks(session: ReadSessionDep, client: Scope("profile:read"), cursor: Cursor = None,
                          limit: Limit = 50,
                          status: Annotated[str | None, Query(pattern="^(scheduled|emitted|skipped)$")] = None
                          ) -> dict[str, Any]:
    query = select(CareTask).order_by(CareTask.id).limit(limit + 1)
    if status:
        query = query.where(CareTask.status == status)
    if (after := repo.decode_cursor(cursor, 1)) is not None:
        query = query.where(CareTask.id > after[0])
    rows = list((await session.execute(query)).scalars())
    return {"items": [service.care_public(t) for t in rows[:limit]],
            "next_cursor": repo.encode_cursor(rows[limit - 1].id) if len(rows) > limit else None}


# --- segments ------------------------------------------------------------------------------------------

NUMERIC_OPS = {"gt", "gte", "lt", "lte"}


@router.post("/segments", status_code=201)
async def create_segment(body: SegmentIn, session: SessionDep, client: Scope("profile:write")) -> dict[str, Any]:
    for i, rule in enumerate(body.rules):
        if rule.op in NUMERIC_OPS and (isinstance(rule.value, bool) or not isinstance(rule.value, (int, float))):
            raise Unprocessable(f"{rule.op} needs a number", field=f"rules.{i}.value")
        if rule.op in ("in", "not_in") and not isinstance(rule.value, list):
            raise Unprocessable(f"{rule.op} needs a list", field=f"rules.{i}.value")
    segment = Segment(id=str(uuid.uuid4()), name=body.name, match=body.match,
                      rules=[r.model_dump(mode="json") for r in body.rules], created_by=client.name, created_at=utcnow())
    try:
        async with session.begin():
            if (await session.execute(select(Segment.id).where(Segment.name == body.name))).first():
                raise Conflict(f"a segment named {body.name!r} exists", errors=[{"field": "name", "message": "taken"}])
            session.add(segment)
    except IntegrityError:
        raise Conflict(f"a segment named {body.name!r} exists") from None
    return seg.segment_public(segment)


@router.get("/segments")
async def list_segments(session: ReadSessionDep, client: Scope("profile:read")) -> dict[str, Any]:
    rows = (await session.execute(select(Segment).order_by(Segment.name))).scalars()
    return {"items": [seg.segment_public(s) for s in rows]}


async def _segment(session, segment_id: str) -> Segment:  # noqa: ANN001
    segment = await session.get(Segment, segment_id)
    if segment is None:
        raise NotFound("segment", segment_id)
    return segment


def _today(runtime) -> Any:  # noqa: ANN001
    return utcnow().astimezone(runtime.settings.tz).date()


@router.get("/segments/{segment_id}")
async def get_segment(segment_id: str, session: ReadSessionDep, runtime: RuntimeDep,
                      client: Scope("profile:read")) -> dict[str, Any]:
    segment = await _segment(session, segment_id)
    return seg.segment_public(segment, len(await seg.members(session, segment, _today(runtime))))


@router.get("/segments/{segment_id}/members")
async def segment_members(segment_id: str, session: ReadSessionDep, runtime: RuntimeDep, client: Scope("profile:read"),
                          cursor: Cursor = None, limit: Limit = 100) -> dict[str, Any]:
    """Live membership: the rules evaluated now."""
    ids = await seg.members(session, await _segment(session, segment_id), _today(runtime))
    if (after := repo.decode_cursor(cursor, 1)) is not None:
        ids = [i for i in ids if i > after[0]]
    page = ids[:limit]
    return {"items": [{"customer_id": i} for i in page],
            "next_cursor": repo.encode_cursor(page[-1]) if len(ids) > limit else None}


@router.get("/segments/{segment_id}/export")
async def export_segment(segment_id: str, session: ReadSessionDep, runtime: RuntimeDep, client: Scope("profile:read"),
                         purpose: Annotated[str, Query(pattern="^(marketing|surveys|service)$")] = "marketing"
                         ) -> dict[str, Any]:
    """Members for a campaign: only those who consented to `purpose`, with the consented channels' contacts."""
    ids = await seg.members(session, await _segment(session, segment_id), _today(runtime))
    consented = await service.granted_channels_of(session, ids, purpose)
    allowed = [cid for cid in ids if consented[cid]]
    customers = await service.customers_by_id(session, allowed)
    contacts = await repo.contacts_of(session, allowed)
    items = []
    for cid in allowed:
        channels, customer, (phones, emails) = consented[cid], customers[cid], contacts[cid]
        items.append({
            "customer_id": cid, "name": customer.name, "preferred_language": customer.preferred_language or "zh-CN",
            "channels": channels,
            "phones": phones if {"phone", "sms"} & set(channels) else [],
            "emails": emails if "email" in channels else [],
        })
    return {"segment_id": segment_id, "purpose": purpose, "items": items,
            "excluded_without_consent": len(ids) - len(allowed)}


# --- configuration -------------------------------------------------------------------------------------


@router.get("/config")
async def get_config(session: ReadSessionDep, client: Scope("profile:read")) -> ValueConfig:
    return await service.get_config(session)


@router.put("/config")
async def put_config(body: ValueConfig, session: SessionDep, client: Scope("profile:write")) -> ValueConfig:
    """Value-class thresholds, churn threshold, quiet hours; applied from the next recompute."""
    async with session.begin():
        return await service.set_config(session, body)

