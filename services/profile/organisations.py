"""Key accounts (大客户, 企业客户): the organisation record, its billing contacts, the customers who book for it and
their role, an account owner on staff. Registering one emits organisation-registered (the company record only).
The people are personal data: they are exported and erased, the company record stays."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import repository as repo
from services.profile.account_models import BillingContact, Organisation, OrganisationMember
from services.profile.models import Customer
from services.profile.account_schemas import (
    BillingContactIn, BillingContactPublic, LinkIn, MemberPublic, OrganisationIn, OrganisationLink, OrganisationPatch,
    OrganisationPeople, OrganisationPublic, OrganisationSummary, PeopleErased,
)
from shared import events as ev
from shared import outbox
from shared.db import new_id, utcnow
from shared.errors import Conflict, NotFound
from shared.pages import Page, decode_cursor, page_of

PLAIN = ("name", "industry", "size", "account_owner")


async def get(session: AsyncSession, organisation_id: str, *, for_update: bool = False) -> Organisation:
    """The organisation, or a 404 naming it."""
    if for_update:
        found = await session.get(Organisation, organisation_id, with_for_update=True)
        if found is not None:
            return found
    return await repo.get_row(session, Organisation, organisation_id, "organisation")


def contact_public(c: BillingContact) -> BillingContactPublic:
    return BillingContactPublic(name=c.name, phone=c.phone, email=c.email, role=c.role, customer_id=c.customer_id)


def member_public(m: OrganisationMember) -> MemberPublic:
    return MemberPublic(customer_id=m.customer_id, role=m.role, linked_at=m.linked_at)


async def _people(session: AsyncSession, organisation_id: str) -> tuple[list[BillingContact], list[OrganisationMember]]:
    contacts = await repo.rows(session, BillingContact, where=(BillingContact.organisation_id == organisation_id,),
                               order=(BillingContact.id,))
    members = await repo.rows(session, OrganisationMember, where=(OrganisationMember.organisation_id == organisation_id,),
                              order=(OrganisationMember.customer_id,))
    return contacts, members


async def answer(session: AsyncSession, org: Organisation) -> OrganisationPublic:
    """The organisation as the API shows it, with its people."""
    contacts, members = await _people(session, org.id)
    return OrganisationPublic(
        id=org.id, name=org.name, registration_number=org.registration_number, industry=org.industry, size=org.size,
        address=org.address, account_owner=org.account_owner,
        billing_contacts=[contact_public(c) for c in contacts], people=[member_public(m) for m in members],
        credit_limit=org.credit_limit, credit_currency=org.credit_currency, payment_terms_days=org.payment_terms_days,
        credit_rating=org.credit_rating, over_limit=org.over_limit, over_limit_since=org.over_limit_since,
        created_at=org.created_at, updated_at=org.updated_at)


async def _set_contacts(session: AsyncSession, organisation_id: str, contacts: list[BillingContactIn]) -> None:
    for i, c in enumerate(contacts):
        if c.customer_id is not None:
            await _existing_customer(session, c.customer_id, field=f"billing_contacts.{i}.customer_id")
        session.add(BillingContact(organisation_id=organisation_id, name=c.name, phone=c.phone, email=c.email,
                                   role=c.role, customer_id=c.customer_id))


async def _existing_customer(session: AsyncSession, customer_id: str, *, field: str) -> None:
    customer = await session.get(Customer, customer_id)
    if customer is None or customer.status != "active":
        raise Conflict(f"customer {customer_id} is not an active customer file",
                       errors=[{"field": field, "message": "no active customer file with this id"}])


async def register(session: AsyncSession, body: OrganisationIn, *, now: datetime | None = None) -> OrganisationPublic:
    """A new organisation with its billing contacts; organisation-registered goes out."""
    now = now or utcnow()
    if await repo.rows(session, Organisation, where=(Organisation.registration_number == body.registration_number,)):
        raise Conflict(f"an organisation with registration number {body.registration_number} exists",
                       errors=[{"field": "registration_number", "message": "taken"}])
    org = Organisation(id=new_id(), name=body.name, registration_number=body.registration_number,
                       industry=body.industry, size=body.size,
                       address=body.address.model_dump(exclude_none=True) if body.address else None,
                       account_owner=body.account_owner, created_at=now, updated_at=now)
    session.add(org)
    await session.flush()
    await _set_contacts(session, org.id, body.billing_contacts)
    await session.flush()
    outbox.emit(session, ev.OrganisationRegistered(organisation_id=org.id, name=org.name, industry=org.industry,
                                                   registered_at=now), org.id)
    return await answer(session, org)


async def read(session: AsyncSession, organisation_id: str) -> OrganisationPublic:
    return await answer(session, await get(session, organisation_id))


async def update(session: AsyncSession, organisation_id: str, patch: OrganisationPatch) -> OrganisationPublic:
    """Replace the fields present (the billing contacts as a whole list)."""
    org = await get(session, organisation_id, for_update=True)
    fields = patch.model_fields_set
    for name in PLAIN:
        if name in fields and (name != "name" or patch.name is not None):
            setattr(org, name, getattr(patch, name))
    if "address" in fields:
        org.address = patch.address.model_dump(exclude_none=True) if patch.address else None
    if "billing_contacts" in fields:
        await session.execute(delete(BillingContact).where(BillingContact.organisation_id == org.id))
        await _set_contacts(session, org.id, patch.billing_contacts or [])
    org.updated_at = utcnow()
    await session.flush()
    return await answer(session, org)


async def page(session: AsyncSession, cursor: str | None, limit: int, **filters: object) -> Page[OrganisationSummary]:
    """Organisations by id; `filters` (industry, size, account_owner, credit_rating, over_limit) when given."""
    rows = await repo.page_by_id(session, Organisation, decode_cursor(cursor, str), limit, **filters)
    return page_of(rows, limit, lambda o: (o.id,), lambda o: OrganisationSummary(
        id=o.id, name=o.name, registration_number=o.registration_number, industry=o.industry, size=o.size,
        account_owner=o.account_owner, credit_rating=o.credit_rating, over_limit=o.over_limit))


async def link(session: AsyncSession, organisation_id: str, customer_id: str, body: LinkIn) -> OrganisationPublic:
    """The customer books for the organisation in `role` (linking again changes the role)."""
    org = await get(session, organisation_id)
    await _existing_customer(session, customer_id, field="customer_id")
    member = await session.get(OrganisationMember, (organisation_id, customer_id))
    if member is None:
        session.add(OrganisationMember(organisation_id=organisation_id, customer_id=customer_id, role=body.role))
    else:
        member.role = body.role
    await session.flush()
    return await answer(session, org)


async def unlink(session: AsyncSession, organisation_id: str, customer_id: str) -> OrganisationPublic:
    """The customer no longer books for the organisation (404 when they did not)."""
    org = await get(session, organisation_id)
    member = await session.get(OrganisationMember, (organisation_id, customer_id))
    if member is None:
        raise NotFound(f"person of organisation {organisation_id}: customer", customer_id)
    await session.delete(member)
    await session.flush()
    return await answer(session, org)


# --- the people as personal data ------------------------------------------------------------------------------


async def people(session: AsyncSession, organisation_id: str) -> OrganisationPeople:
    """The personal data the organisation record holds: billing contacts and the customers who book for it."""
    await get(session, organisation_id)
    contacts, members = await _people(session, organisation_id)
    return OrganisationPeople(organisation_id=organisation_id, billing_contacts=[contact_public(c) for c in contacts],
                              people=[member_public(m) for m in members])


async def erase_people(session: AsyncSession, organisation_id: str) -> PeopleErased:
    """Remove the billing contacts and unlink the people; the company record, its credit and history stay."""
    org = await get(session, organisation_id, for_update=True)
    contacts, members = await _people(session, organisation_id)
    await session.execute(delete(BillingContact).where(BillingContact.organisation_id == organisation_id))
    await session.execute(delete(OrganisationMember).where(OrganisationMember.organisation_id == organisation_id))
    org.updated_at = utcnow()
    return PeopleErased(organisation_id=organisation_id, billing_contacts_removed=len(contacts),
                        people_unlinked=len(members))


async def fold_people(session: AsyncSession, from_id: str, to_id: str) -> None:
    """A merge: the merged file's places in organisations pass to the survivor (its own role wins where both were)."""
    for member in await repo.rows(session, OrganisationMember, where=(OrganisationMember.customer_id == from_id,)):
        if await session.get(OrganisationMember, (member.organisation_id, to_id)) is None:
            session.add(OrganisationMember(organisation_id=member.organisation_id, customer_id=to_id, role=member.role,
                                           linked_at=member.linked_at))
        await session.delete(member)
    await session.flush()


async def links_of(session: AsyncSession, customer_id: str) -> list[OrganisationLink]:
    """A customer's places in organisations: as a person who books, and as a billing contact (for the export)."""
    members = await repo.rows(session, OrganisationMember, where=(OrganisationMember.customer_id == customer_id,))
    contacts = await repo.rows(session, BillingContact, where=(BillingContact.customer_id == customer_id,))
    orgs = {o.id: o for o in await repo.rows(session, Organisation, where=(
        Organisation.id.in_({m.organisation_id for m in members} | {c.organisation_id for c in contacts}),))}
    return ([OrganisationLink(organisation_id=m.organisation_id, organisation=orgs[m.organisation_id].name, role=m.role)
             for m in members if m.organisation_id in orgs]
            + [OrganisationLink(organisation_id=c.organisation_id, organisation=orgs[c.organisation_id].name,
                                billing_contact=contact_public(c)) for c in contacts if c.organisation_id in orgs])
