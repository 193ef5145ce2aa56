"""The customer file: create, resolve (find by external id, phone or email, or create), update under an ETag,
consents. Each use case changes rows and adds its events to the caller's session; the caller commits once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import repository as repo
from services.profile.models import Consent, ConsentHistory, ContactPoint, Customer, ExternalId
from services.profile.duplicates import possible_duplicates
from services.profile.public import CustomerCreated, CustomerPublic, CustomerResolved, customer_public, etag
from services.profile.schemas import ConsentIn, CustomerCreate, CustomerPatch, CustomerResolve, ExternalRef
from shared import events as ev
from shared import outbox
from shared.db import new_id, utcnow
from shared.errors import Conflict, NotFound, Problem, Unprocessable
from shared.pages import Page, decode_cursor, page_of

PLAIN_FIELDS = ("name", "gender", "birth_date", "occupation", "kind", "preferred_channel", "preferred_language", "notes",
                "acquisition_source", "acquisition_detail")


async def answer(session: AsyncSession, customer: Customer) -> CustomerPublic:
    """The file as the API shows it."""
    return customer_public(customer, await repo.contacts(session, customer.id),
                           await repo.external_ids(session, customer.id))


def set_contacts(session: AsyncSession, customer_id: str, kind: str, values: list[str], start: int = 0) -> None:
    for position, value in enumerate(dict.fromkeys(values), start=start):
        session.add(ContactPoint(customer_id=customer_id, kind=kind, value=value, position=position))


async def _attach_external(session: AsyncSession, customer_id: str, refs: list[ExternalRef]) -> None:
    for ref in refs:
        owner = await repo.find_by_external(session, ref.source, ref.id)
        if owner is None:
            session.add(ExternalId(source=ref.source, external_id=ref.id, customer_id=customer_id))
            await session.flush()
        elif owner != customer_id and (await repo.survivor_of(session, owner))[0] != customer_id:
            raise Conflict(f"external id {ref.source}:{ref.id} belongs to customer {owner}",
                           errors=[{"field": "external_ids", "message": "already belongs to another customer"}])


def updated_event(customer: Customer, changed: list[str]) -> ev.CustomerUpdated:
    """Which fields changed, never their values: personal data stays off the bus (docs/events.md)."""
    return ev.CustomerUpdated(customer_id=customer.id, changed=changed, preferred_language=customer.preferred_language)


async def create_customer(session: AsyncSession, data: CustomerCreate, *, origin: str = "api",
                          customer_id: str | None = None, now: datetime | None = None) -> Customer:
    """A new file with its contacts, external ids and consents; customer-registered goes out."""
    now = now or utcnow()
    customer = Customer(
        id=customer_id or new_id(), origin=origin, name=data.name, gender=data.gender,
        birth_date=data.birth_date, occupation=data.occupation, kind=data.kind,
        address=data.address.model_dump(exclude_none=True) if data.address else None,
        preferred_channel=data.preferred_channel, preferred_language=data.preferred_language,
        preferences=data.preferences.model_dump(exclude_defaults=True), tags=list(dict.fromkeys(data.tags)),
        notes=data.notes, acquisition_source=data.acquisition_source, acquisition_detail=data.acquisition_detail,
        created_at=now, updated_at=now,
    )
    session.add(customer)
    await session.flush()
    set_contacts(session, customer.id, "phone", data.phones)
    set_contacts(session, customer.id, "email", data.emails)
    await _attach_external(session, customer.id, data.external_ids)
    outbox.emit(session, ev.CustomerRegistered(
        customer_id=customer.id, kind=customer.kind, preferred_language=customer.preferred_language), customer.id)
    if data.consents:
        await change_consents(session, customer.id, data.consents, now=now)
    return customer


async def resolve(session: AsyncSession, data: CustomerResolve, *,
                  origin: str = "api") -> tuple[Customer | None, str | None, list[str]]:
    """(customer, matched_by, other candidates); matched_by None means created (or not found when create is false)."""
    candidates: list[tuple[str, str]] = []
    for ref in data.external_ids:
        if (owner := await repo.find_by_external(session, ref.source, ref.id)) is not None:
            candidates.append(((await repo.survivor_of(session, owner))[0], "external_id"))
    for kind, values in (("phone", data.phones), ("email", data.emails)):
        for value in values:
            candidates += [(c, kind) for c in await repo.find_by_contact(session, kind, value)]
    for customer_id, matched_by in candidates:
        customer = await session.get(Customer, customer_id)
        if customer is None or customer.status != "active":
            continue
        others = list(dict.fromkeys(c for c, _ in candidates if c != customer_id))
        await _attach_external(session, customer.id, data.external_ids)
        return customer, matched_by, others
    if not data.create:
        return None, None, []
    return await create_customer(session, data, origin=origin), None, []


def _check_etag(customer: Customer, if_match: str | None) -> None:
    if if_match is None:
        raise Problem(428, "updating a customer file needs If-Match with the ETag you read", title="Precondition Required",
                      errors=[{"field": "If-Match", "location": "header", "message": "required"}])
    tags = [t.strip().removeprefix("W/") for t in if_match.split(",")]
    if "*" not in tags and etag(customer) not in tags:
        raise Problem(412, f"the customer file changed since you read it (now {etag(customer)}); read it again",
                      title="Precondition Failed", current_etag=etag(customer))


def _patch_fields(customer: Customer, patch: CustomerPatch) -> list[str]:
    """Apply the patch's plain and structured fields; the names of those that changed."""
    fields = patch.model_fields_set
    wanted: dict[str, Any] = {n: getattr(patch, n) for n in PLAIN_FIELDS if n in fields}
    if wanted.get("kind", "") is None:
        del wanted["kind"]
    if "address" in fields:
        wanted["address"] = patch.address.model_dump(exclude_none=True) if patch.address else None
    if "preferences" in fields:
        wanted["preferences"] = patch.preferences.model_dump(exclude_defaults=True) if patch.preferences else {}
    if "tags" in fields:
        wanted["tags"] = list(dict.fromkeys(patch.tags or []))
    changed = [name for name, value in wanted.items() if value != getattr(customer, name)]
    for name in changed:
        setattr(customer, name, wanted[name])
    return changed


async def _patch_contacts(session: AsyncSession, customer: Customer, patch: CustomerPatch) -> list[str]:
    phones, emails = await repo.contacts(session, customer.id)
    changed = []
    for kind, new, old in (("phone", patch.phones, phones), ("email", patch.emails, emails)):
        if new is not None and list(dict.fromkeys(new)) != old:
            await session.execute(delete(ContactPoint).where(ContactPoint.customer_id == customer.id,
                                                             ContactPoint.kind == kind))
            set_contacts(session, customer.id, kind, new)
            changed.append(kind + "s")
    if patch.external_ids:
        before = await repo.external_ids(session, customer.id)
        await _attach_external(session, customer.id, patch.external_ids)
        if await repo.external_ids(session, customer.id) != before:
            changed.append("external_ids")
    return changed


async def update_customer(session: AsyncSession, customer_id: str, patch: CustomerPatch, if_match: str | None,
                          *, now: datetime | None = None) -> Customer:
    """Apply a patch under If-Match; customer-updated names the fields that changed."""
    customer = await repo.get_customer(session, customer_id, for_update=True)
    _check_etag(customer, if_match)
    if customer.status != "active":
        raise Conflict(f"customer {customer_id} is {customer.status}; it cannot be changed")
    changed = _patch_fields(customer, patch) + await _patch_contacts(session, customer, patch)
    if changed:
        customer.version += 1
        customer.updated_at = now or utcnow()
        outbox.emit(session, updated_event(customer, changed), customer.id)
    return customer


async def change_consents(session: AsyncSession, customer_id: str, changes: list[ConsentIn], *,
                          now: datetime | None = None) -> list[Consent]:
    """Current consent per (channel, purpose) plus its history; an event only when the status changes."""
    now = now or utcnow()
    customer = await repo.get_customer(session, customer_id)
    if customer.status != "active":
        raise Conflict(f"customer {customer_id} is {customer.status}")
    for change in changes:
        row = await session.get(Consent, (customer_id, change.channel, change.purpose))
        if row is not None and row.status == change.status:
            continue
        if row is None:
            session.add(Consent(customer_id=customer_id, channel=change.channel, purpose=change.purpose,
                                status=change.status, source=change.source, changed_at=now))
        else:
            row.status, row.source, row.changed_at = change.status, change.source, now
        session.add(ConsentHistory(customer_id=customer_id, channel=change.channel, purpose=change.purpose,
                                   status=change.status, source=change.source, changed_at=now))
        outbox.emit(session, ev.ConsentChanged(customer_id=customer_id, channel=change.channel, purpose=change.purpose,
                                               status=change.status, source=change.source, changed_at=now), customer_id)
        await session.flush()
    return await repo.consents(session, customer_id)


async def consents_of(session: AsyncSession, customer_id: str) -> list[Consent]:
    """The current consents of an existing file."""
    await repo.get_customer(session, customer_id)
    return await repo.consents(session, customer_id)


# --- the use cases as the API answers them ----------------------------------------------------------------


async def register(session: AsyncSession, data: CustomerCreate) -> CustomerCreated:
    """`create_customer`, answered with the files that may be the same customer."""
    customer = await create_customer(session, data)
    file = await answer(session, customer)
    return CustomerCreated(**file.model_dump(), possible_duplicates=await possible_duplicates(session, customer))


async def find_or_create(session: AsyncSession, data: CustomerResolve) -> CustomerResolved:
    """`resolve`, answered: the file found (`matched_by`) or created; 404 when not found and not to be created."""
    if not (data.external_ids or data.phones or data.emails):
        raise Unprocessable("give at least one external id, phone or email to resolve on", field="phones")
    customer, matched_by, others = await resolve(session, data)
    if customer is None:
        raise NotFound("customer", "matching these identifiers")
    file = await answer(session, customer)
    duplicates = others if matched_by else await possible_duplicates(session, customer)
    return CustomerResolved(**file.model_dump(), matched_by=matched_by, created=matched_by is None,
                            possible_duplicates=duplicates)


async def patch(session: AsyncSession, customer_id: str, data: CustomerPatch, if_match: str | None) -> CustomerPublic:
    """`update_customer`, answered with the file as it is now."""
    return await answer(session, await update_customer(session, customer_id, data, if_match))


async def customers_page(session: AsyncSession, cursor: str | None, limit: int, status: str | None) -> Page[CustomerPublic]:
    """The files by id, of one status when given."""
    rows = await repo.page_by_id(session, Customer, decode_cursor(cursor, str), limit, status=status)
    page = page_of(rows, limit, lambda c: (c.id,))
    return Page(items=[await answer(session, c) for c in page.items], next_cursor=page.next_cursor)
