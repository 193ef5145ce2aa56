"""Routes of the customer file: create, resolve, read, list, patch under If-Match, consents, duplicates, merge."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from services.profile import customers, duplicates, merging, reads
from services.profile.public import (
    Consents, CustomerCreated, CustomerMerged, CustomerPublic, CustomerResolved, DuplicateGroup, Items, consent_public,
)
from services.profile.schemas import ConsentChanges, CustomerCreate, CustomerPatch, CustomerResolve, MergeIn
from shared.app import ReadSessionDep, RuntimeDep, UnitOfWork
from shared.auth import Scope
from shared.pages import Cursor, Limit, Page

router = APIRouter(prefix="/v1", tags=["customers"])
Status = Annotated[str | None, Query(pattern="^(active|merged|erased)$")]


@router.post("/customers", status_code=201, response_model=CustomerCreated)
async def create_customer(body: CustomerCreate, session: UnitOfWork, response: Response,
                          client: Scope("profile:write")) -> CustomerCreated:
    created = await customers.register(session, body)
    response.headers.update({"ETag": created.etag, "Location": f"/v1/customers/{created.id}"})
    return created


@router.post("/customers/resolve", response_model=CustomerResolved, responses={201: {"model": CustomerResolved}})
async def resolve_customer(body: CustomerResolve, session: UnitOfWork, response: Response,
                           client: Scope("profile:write")) -> CustomerResolved:
    """Find by external id, normalised phone or email — or create. 200 found, 201 created, 404 when `create` is false."""
    resolved = await customers.find_or_create(session, body)
    response.headers["ETag"] = resolved.etag
    response.status_code = 201 if resolved.created else 200
    return resolved


@router.get("/customers", response_model=Page[CustomerPublic])
async def list_customers(session: ReadSessionDep, client: Scope("profile:read"), cursor: Cursor = None,
                         limit: Limit = 50, status: Status = None) -> Page[CustomerPublic]:
    return await customers.customers_page(session, cursor, limit, status)


@router.get("/customers/duplicates", response_model=Items[DuplicateGroup])
async def list_duplicates(session: ReadSessionDep, client: Scope("profile:read")) -> Items[DuplicateGroup]:
    return await duplicates.duplicate_groups(session)


@router.get("/customers/{customer_id}", response_model=CustomerPublic)
async def get_customer(customer_id: str, runtime: RuntimeDep, response: Response,
                       client: Scope("profile:read", customers=True)) -> CustomerPublic:
    file = await reads.file(runtime.engine, customer_id)
    response.headers["ETag"] = file.etag
    return file


@router.patch("/customers/{customer_id}", response_model=CustomerPublic)
async def update_customer(customer_id: str, body: CustomerPatch, session: UnitOfWork, response: Response,
                          client: Scope("profile:write", customers=True), if_match: Annotated[str | None, Header()] = None
                          ) -> CustomerPublic:
    """Needs `If-Match` with the ETag last read: 428 without it, 412 when the file changed since."""
    file = await customers.patch(session, customer_id, body, if_match)
    response.headers["ETag"] = file.etag
    return file


@router.get("/customers/{customer_id}/consents", response_model=Consents)
async def get_consents(customer_id: str, session: ReadSessionDep, client: Scope("profile:read", customers=True)) -> Consents:
    rows = await customers.consents_of(session, customer_id)
    return Consents(customer_id=customer_id, items=[consent_public(c) for c in rows])


@router.post("/customers/{customer_id}/consents", response_model=Consents)
async def change_consents(customer_id: str, body: ConsentChanges, session: UnitOfWork,
                          client: Scope("profile:write", customers=True)) -> Consents:
    rows = await customers.change_consents(session, customer_id, body.changes)
    return Consents(customer_id=customer_id, items=[consent_public(c) for c in rows])


@router.post("/customers/{customer_id}/merge", response_model=CustomerMerged)
async def merge_customers(customer_id: str, body: MergeIn, session: UnitOfWork, response: Response,
                          client: Scope("profile:write")) -> CustomerMerged:
    """Fold `merged_ids` into this file: contacts, ids, bookings, consents follow; customers-merged goes out."""
    merged = await merging.merge_files(session, customer_id, body, merged_by=client.name)
    response.headers["ETag"] = merged.etag
    return merged
