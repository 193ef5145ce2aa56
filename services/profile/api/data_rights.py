"""Routes of data rights: profile's own part of an export, the export from every privacy service, erasure and
its report."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.profile import data_rights
from services.profile.public import CustomerExport, ErasureReport, ErasureStarted, ProfileExport
from shared.app import ReadSessionDep, RuntimeDep, UnitOfWork
from shared.auth import Scope

router = APIRouter(prefix="/v1", tags=["data rights"])


@router.get("/privacy/customers/{customer_id}", response_model=ProfileExport)
async def privacy_customer(customer_id: str, session: ReadSessionDep, client: Scope("privacy:admin")) -> ProfileExport:
    """Profile's own answer in the export protocol: everything it holds about the customer."""
    return await data_rights.profile_export(session, customer_id)


@router.get("/customers/{customer_id}/export", response_model=CustomerExport)
async def export_customer(customer_id: str, request: Request, session: ReadSessionDep,
                          client: Scope("privacy:admin")) -> CustomerExport:
    """Everything the CRM holds: profile's part and each privacy service's, asked with the caller's own key."""
    return await data_rights.export(session, customer_id, authorization=request.headers["authorization"])


@router.delete("/customers/{customer_id}", status_code=202, response_model=ErasureStarted)
async def erase_customer(customer_id: str, session: UnitOfWork, runtime: RuntimeDep,
                         client: Scope("privacy:admin")) -> ErasureStarted:
    """Anonymise the file and send customer-erased; every privacy service confirms with customer-data-erased."""
    request = await data_rights.erase(session, customer_id, requested_by=client.name,
                                      services=list(runtime.settings.privacy_services))
    return ErasureStarted(customer_id=customer_id, request_id=request.request_id,
                          report=f"/v1/customers/{customer_id}/erasure")


@router.get("/customers/{customer_id}/erasure", response_model=ErasureReport)
async def erasure_report(customer_id: str, session: ReadSessionDep, client: Scope("privacy:admin")) -> ErasureReport:
    return await data_rights.erasure_report(session, customer_id)
