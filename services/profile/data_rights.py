"""Data rights, with profile as the coordinator: its own part of an export, the export gathered from every
privacy service over HTTP, the erasure (anonymise the file, scrub our outbox and dead letters, tell every
service), and the erasure report assembled from the services' confirmations."""

from __future__ import annotations

from datetime import datetime

import httpx
from sqlalchemy import delete
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import contact_rights, organisations, repository as repo
from services.profile.account_models import BillingContact, CreditCharge, OrganisationMember
from services.profile.contact_public import work_item
from services.profile.customers import answer
from services.profile.merging import blank_file
from services.profile.models import (
    CareTask, Consent, ConsentHistory, ContactPoint, Customer, ErasureConfirmation, ErasureRequest, ExternalId,
    MergeRecord,
)
from services.profile.public import (
    CustomerExport, ErasureConfirmed, ErasureReport, FeedbackPublic, LoyaltySummary, ProfileExport, booking_public,
    complaint_public, consent_public, merge_public, value_public,
)
from shared import events as ev
from shared import outbox
from shared.db import aware, new_id, settings_of, utcnow
from shared.errors import Conflict, NotFound
from shared.inbox import DeadLetter

SERVICE = "profile"
# rows deleted on erasure (an organisation's company record and charges stay; its people go)
ERASED_TABLES = (ContactPoint, ExternalId, Consent, ConsentHistory, CareTask, OrganisationMember, BillingContact)


async def profile_export(session: AsyncSession, customer_id: str) -> ProfileExport:
    """All that profile holds about one customer (its part of a data-rights export)."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        return ProfileExport(service=SERVICE, customer_id=customer_id, found=False)
    bookings = await repo.bookings_of(session, customer_id)
    catalog = await repo.products_by_id(session, {b.product_id for b in bookings})
    member = await repo.membership(session, customer_id)
    return ProfileExport(
        service=SERVICE, customer_id=customer_id, found=True, customer=await answer(session, customer),
        consents=[consent_public(c) for c in await repo.consents(session, customer_id)],
        consent_history=[consent_public(h) for h in (await repo.rows_of(
            session, ConsentHistory, [customer_id], ConsentHistory.changed_at, ConsentHistory.id))[customer_id]],
        bookings=[booking_public(b, catalog.get(b.product_id)) for b in bookings],
        value=value_public(await repo.value_of(session, customer_id), customer_id, settings_of(session).currency),
        care_tasks=[work_item(t) for t in await repo.care_tasks_of(session, customer_id)],
        merges=[merge_public(m) for m in await repo.rows(session, MergeRecord,
                                                         where=(MergeRecord.surviving_id == customer_id,))],
        loyalty_view=LoyaltySummary(tier=member.tier, points_balance=member.points_balance) if member else None,
        complaints_view=[complaint_public(c) for c in await repo.complaints_of(session, customer_id)],
        feedback_view=[FeedbackPublic(response_id=f.response_id, nps=f.nps, csat=f.csat, submitted_at=f.submitted_at)
                       for f in await repo.feedback_of(session, customer_id)],
        organisations=await organisations.links_of(session, customer_id),
        **await contact_rights.export(session, customer_id),
    )


async def export(session: AsyncSession, customer_id: str, *, authorization: str) -> CustomerExport:
    """Everything the CRM holds: profile's part, and each privacy service's answer to
    GET /v1/privacy/customers/{id}, called with the caller's own key (no service reads another's tables)."""
    await repo.get_customer(session, customer_id)
    settings = settings_of(session)
    parts = {SERVICE: (await profile_export(session, customer_id)).model_dump(mode="json")}
    errors: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=15, headers={"Authorization": authorization}) as http:
        for name in [s for s in settings.privacy_services if s != SERVICE]:
            url = f"{settings.url_of(name).rstrip('/')}/v1/privacy/customers/{customer_id}"
            try:
                reply = await http.get(url)
            except httpx.HTTPError as exc:
                errors[name] = f"unreachable ({type(exc).__name__})"
                continue
            if reply.status_code == 200:
                parts[name] = reply.json()
            else:
                errors[name] = f"answered {reply.status_code}"
    return CustomerExport(customer_id=customer_id, generated_at=utcnow(), services=parts, complete=not errors,
                          errors=errors)


async def erase(session: AsyncSession, customer_id: str, *, requested_by: str, services: list[str],
                now: datetime | None = None) -> ErasureRequest:
    """Anonymise the file (and the files merged into it), then customer-erased + our own customer-data-erased;
    a second request for an erased file answers the first one."""
    now = now or utcnow()
    customer = await repo.get_customer(session, customer_id, for_update=True)
    if customer.status == "merged":
        raise Conflict(f"customer {customer_id} was merged into {customer.merged_into}; erase that file",
                       merged_into=customer.merged_into)
    if customer.status == "erased" and (existing := await repo.latest_erasure(session, customer_id)) is not None:
        return existing
    keys = [customer_id, *await repo.merged_into(session, customer_id)]
    blank_file(customer, "erased", now)
    for table in ERASED_TABLES:
        await session.execute(delete(table).where(table.customer_id.in_(keys)))
    await contact_rights.erase(session, keys)
    await _scrub_events(session, keys)
    request = ErasureRequest(request_id=new_id(), customer_id=customer_id, requested_by=requested_by,
                             requested_at=now, services=list(dict.fromkeys([SERVICE, *services])))
    session.add(request)
    session.add(ErasureConfirmation(request_id=request.request_id, service=SERVICE, customer_id=customer_id, erased_at=now))
    await session.flush()
    outbox.emit(session, ev.CustomerErased(customer_id=customer_id, request_id=request.request_id), customer_id)
    outbox.emit(session, ev.CustomerDataErased(service=SERVICE, customer_id=customer_id, request_id=request.request_id,
                                               erased_at=now), customer_id)
    return request


async def _scrub_events(session: AsyncSession, keys: list[str]) -> None:
    """Our outbox and dead letters about these customers: published rows go (pending ones carry no personal
    data — profile's events never do — and still have to reach the other services)."""
    record = outbox.OutboxRecord
    await session.execute(delete(record).where(record.key.in_(keys), record.published_at.is_not(None)))
    await session.execute(delete(DeadLetter).where(DeadLetter.key.in_(keys)))


async def erasure_report(session: AsyncSession, customer_id: str) -> ErasureReport:
    """The latest erasure request of the customer and each service's confirmation."""
    request = await repo.latest_erasure(session, customer_id)
    if request is None:
        raise NotFound("erasure request for customer", customer_id)
    confirmations = await repo.confirmations(session, request.request_id)
    services = list(dict.fromkeys([*request.services, *confirmations]))
    return ErasureReport(
        customer_id=customer_id, request_id=request.request_id, requested_at=request.requested_at,
        requested_by=request.requested_by,
        services=[ErasureConfirmed(service=s, confirmed=s in confirmations,
                                   erased_at=confirmations[s].erased_at if s in confirmations else None)
                  for s in services],
        complete=all(s in confirmations for s in request.services),
    )


async def record_erasure_confirmation(session: AsyncSession, data: ev.CustomerDataErased) -> None:
    """A service's customer-data-erased, once per (request, service)."""
    if await session.get(ErasureConfirmation, (data.request_id, data.service)) is None:
        session.add(ErasureConfirmation(request_id=data.request_id, service=data.service, customer_id=data.customer_id,
                                        erased_at=aware(data.erased_at)))
