"""Routes of key accounts: organisations, the people who book for them, credit, and the people as personal data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from services.profile import credit, organisations
from services.profile.account_schemas import (
    ChargeIn, ChargeRecorded, CreditPublic, CreditTermsIn, LinkIn, OrganisationIn, OrganisationPatch,
    OrganisationPeople, OrganisationPublic, OrganisationSummary, PaymentIn, PaymentRecorded, PeopleErased, RatingIn,
    Rating, Size,
)
from shared.app import ReadSessionDep, UnitOfWork
from shared.auth import Scope
from shared.pages import Cursor, Limit, Page

router = APIRouter(prefix="/v1", tags=["organisations"])
Text = Annotated[str | None, Query(max_length=100)]


@router.post("/organisations", status_code=201, response_model=OrganisationPublic)
async def create_organisation(body: OrganisationIn, session: UnitOfWork, response: Response,
                              client: Scope("profile:write")) -> OrganisationPublic:
    """A key account; organisation-registered goes out. 409 naming `registration_number` when it is taken."""
    org = await organisations.register(session, body)
    response.headers["Location"] = f"/v1/organisations/{org.id}"
    return org


@router.get("/organisations", response_model=Page[OrganisationSummary])
async def list_organisations(session: ReadSessionDep, client: Scope("profile:read"), cursor: Cursor = None,
                             limit: Limit = 50, industry: Text = None, size: Size | None = None,
                             account_owner: Text = None, credit_rating: Rating | None = None,
                             over_limit: bool | None = None) -> Page[OrganisationSummary]:
    return await organisations.page(session, cursor, limit, industry=industry, size=size, account_owner=account_owner,
                                    credit_rating=credit_rating, over_limit=over_limit)


@router.get("/organisations/{organisation_id}", response_model=OrganisationPublic)
async def get_organisation(organisation_id: str, session: ReadSessionDep,
                           client: Scope("profile:read")) -> OrganisationPublic:
    return await organisations.read(session, organisation_id)


@router.patch("/organisations/{organisation_id}", response_model=OrganisationPublic)
async def update_organisation(organisation_id: str, body: OrganisationPatch, session: UnitOfWork,
                              client: Scope("profile:write")) -> OrganisationPublic:
    return await organisations.update(session, organisation_id, body)


@router.put("/organisations/{organisation_id}/customers/{customer_id}", response_model=OrganisationPublic)
async def link_customer(organisation_id: str, customer_id: str, body: LinkIn, session: UnitOfWork,
                        client: Scope("profile:write")) -> OrganisationPublic:
    """The customer books for the organisation as booker, traveller or approver."""
    return await organisations.link(session, organisation_id, customer_id, body)


@router.delete("/organisations/{organisation_id}/customers/{customer_id}", response_model=OrganisationPublic)
async def unlink_customer(organisation_id: str, customer_id: str, session: UnitOfWork,
                          client: Scope("profile:write")) -> OrganisationPublic:
    return await organisations.unlink(session, organisation_id, customer_id)


@router.get("/organisations/{organisation_id}/credit", response_model=CreditPublic)
async def get_credit(organisation_id: str, session: ReadSessionDep, client: Scope("profile:read")) -> CreditPublic:
    """Outstanding and overdue per currency, exposure against the limit, rating and over-limit history."""
    return await credit.view(session, organisation_id)


@router.put("/organisations/{organisation_id}/credit", response_model=CreditPublic)
async def set_credit_terms(organisation_id: str, body: CreditTermsIn, session: UnitOfWork,
                           client: Scope("profile:write")) -> CreditPublic:
    return await credit.set_terms(session, organisation_id, body)


@router.post("/organisations/{organisation_id}/credit/rating", response_model=CreditPublic)
async def rate_organisation(organisation_id: str, body: RatingIn, session: UnitOfWork,
                            client: Scope("profile:write")) -> CreditPublic:
    """A new credit rating; the history keeps who, when, why, old → new."""
    return await credit.rate(session, organisation_id, body, changed_by=client.name)


@router.post("/organisations/{organisation_id}/charges", status_code=201, response_model=ChargeRecorded)
async def charge_organisation(organisation_id: str, body: ChargeIn, session: UnitOfWork,
                              client: Scope("profile:write")) -> ChargeRecorded:
    """A booking on account. Recorded even past the credit limit (the booking happened), with `over_limit` set on
    the charge and the organisation. 409 naming `booking_id` when the booking is already charged."""
    return await credit.charge(session, organisation_id, body)


@router.post("/organisations/{organisation_id}/payments", status_code=201, response_model=PaymentRecorded)
async def record_payment(organisation_id: str, body: PaymentIn, session: UnitOfWork,
                         client: Scope("profile:write")) -> PaymentRecorded:
    return await credit.pay(session, organisation_id, body)


@router.get("/organisations/{organisation_id}/people", response_model=OrganisationPeople)
async def organisation_people(organisation_id: str, session: ReadSessionDep,
                              client: Scope("privacy:admin")) -> OrganisationPeople:
    """The personal data of the organisation record: billing contacts and the customers who book for it."""
    return await organisations.people(session, organisation_id)


@router.delete("/organisations/{organisation_id}/people", response_model=PeopleErased)
async def erase_organisation_people(organisation_id: str, session: UnitOfWork,
                                    client: Scope("privacy:admin")) -> PeopleErased:
    """Remove the billing contacts and unlink the people; the company record, credit and history stay."""
    return await organisations.erase_people(session, organisation_id)
