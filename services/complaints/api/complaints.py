"""HTTP routes of the complaints service: parse, authorise, call a use case, shape the answer.

Scopes: complaints:write (the booking website and app, acting for the signed-in customer they name),
complaints:agent (staff), complaints:manage (above the agents' limits, crises). A customer-facing
key reaches only its customer's complaints (another's is a 404) and may only agree to or decline a
solution; staff keys act for nobody.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel.ext.asyncio.session import AsyncSession

from services.complaints import clocks, compensation, handling, intake, stats
from services.complaints import repository as R
from services.complaints.models import Complaint
from services.complaints.rules import Category
from services.complaints.schemas import (
    ComplaintCreate, ComplaintPatch, ComplaintPublic, EscalationIn, NoteIn, PauseIn, Severity, SolutionIn, SolutionPublic,
    TransitionIn,
)
from services.complaints.api.deps import Caller, IdempotencyKey, IfMatch, Reader, Staff, is_manager, is_staff
from services.complaints import views
from services.complaints.views import complaint_view, full_view, solution_view
from services.complaints.workflow import State
from shared.fields import Day
from shared import idempotency
from shared.app import ReadSessionDep, RuntimeDep, UnitOfWork
from shared.auth import Client
from shared.db import utcnow
from shared.errors import Problem, Unprocessable
from shared.pages import Cursor, Limit, Page, decode_cursor, page_of

router = APIRouter(prefix="/v1", tags=["complaints"])


async def reachable(session: AsyncSession, client: Client, complaint_id: str, *, lock: bool = False) -> Complaint:
    complaint = await R.complaint(session, complaint_id, lock=lock)
    client.ensure_reaches(complaint.customer_id, "complaint", complaint_id)
    return complaint


def with_etag(view: ComplaintPublic, status: int = 200) -> JSONResponse:
    return JSONResponse(view.model_dump(mode="json"), status_code=status, headers={"ETag": view.etag})


@router.post("/complaints", status_code=201, response_model=ComplaintPublic)
async def file_complaint(body: ComplaintCreate, session: UnitOfWork, client: Caller) -> JSONResponse:
    """File a complaint from any channel; category and severity are suggested when not given."""
    if client.customer_facing:
        if body.customer_id not in (None, client.acting_for):
            raise Unprocessable("a customer-facing key files for the signed-in customer only", field="customer_id")
        customer_id = client.acting_for
    elif body.customer_id is None:
        raise Unprocessable("name the customer who complains", field="customer_id")
    else:
        customer_id = body.customer_id
    complaint = await intake.file(session, body, customer_id=customer_id, actor=client.name, now=utcnow())
    return with_etag(await full_view(session, complaint), 201)


@router.get("/complaints", response_model=Page[ComplaintPublic])
async def list_complaints(session: ReadSessionDep, client: Reader, cursor: Cursor = None, limit: Limit = 50,
                          customer: Annotated[str | None, Query(max_length=100)] = None,
                          state: State | None = None, category: Category | None = None,
                          severity: Severity | None = None,
                          product: Annotated[str | None, Query(max_length=100)] = None) -> Page[ComplaintPublic]:
    """Complaints, newest first (a customer-facing key sees only its customer's)."""
    rows = await R.listing(session, limit=limit, after=decode_cursor(cursor, datetime, str),
                           customer=client.for_customer(customer), state=state, category=category,
                           severity=severity, product=product)
    return page_of(rows, limit, key=lambda c: (c.filed_at, c.id), item=complaint_view)


@router.get("/complaints/stats", response_model=stats.Stats)
async def complaint_stats(session: ReadSessionDep, client: Staff, since: Day | None = None, until: Day | None = None,
                          period: Literal["day", "week", "month"] = "month") -> stats.Stats:
    """Counts, response and resolution times, SLA compliance, reopen rate, root causes, recovered customers."""
    return await stats.compute(session, since=since, until=until, period=period)


@router.get("/complaints/{complaint_id}", response_model=ComplaintPublic)
async def get_complaint(complaint_id: str, runtime: RuntimeDep, client: Reader) -> JSONResponse:
    """A complaint with its timeline, solutions and SLA state; the ETag for updates."""
    return with_etag(await views.read(runtime.engine, client, complaint_id))


@router.patch("/complaints/{complaint_id}", response_model=ComplaintPublic)
async def correct_complaint(complaint_id: str, patch: ComplaintPatch, session: UnitOfWork, client: Staff,
                            if_match: IfMatch = None) -> JSONResponse:
    """Correct the classification or routing (If-Match required); a new severity recomputes the clocks."""
    complaint = await reachable(session, client, complaint_id, lock=True)
    handling.check_etag(complaint, if_match, required=True)
    await handling.correct(session, complaint, patch, actor=client.name, now=utcnow())
    return with_etag(await full_view(session, complaint))


@router.post("/complaints/{complaint_id}/transitions", response_model=ComplaintPublic)
async def transition(complaint_id: str, body: TransitionIn, session: UnitOfWork, client: Caller,
                     if_match: IfMatch = None) -> JSONResponse:
    """Move a complaint along the flow; an illegal step is a 409 naming the allowed ones."""
    complaint = await reachable(session, client, complaint_id, lock=True)
    handling.check_etag(complaint, if_match)
    if not client.customer_facing and not is_staff(client):
        raise Problem(403, "moving a complaint needs complaints:agent", required_scope="complaints:agent")
    await handling.transition(session, complaint, body, actor=client.name, now=utcnow(),
                              customer_facing=client.customer_facing)
    return with_etag(await full_view(session, complaint))


@router.post("/complaints/{complaint_id}/notes", status_code=201, response_model=ComplaintPublic)
async def add_note(complaint_id: str, body: NoteIn, session: UnitOfWork, client: Caller,
                   if_match: IfMatch = None) -> JSONResponse:
    """A note, or a contact with the customer (who, when, through which channel)."""
    complaint = await reachable(session, client, complaint_id, lock=True)
    handling.check_etag(complaint, if_match)
    await handling.add_note(session, complaint, body, actor=client.name, now=utcnow(), staff=is_staff(client))
    return with_etag(await full_view(session, complaint), 201)


@router.post("/complaints/{complaint_id}/sla/pause", response_model=ComplaintPublic)
async def pause_clocks(complaint_id: str, body: PauseIn, session: UnitOfWork, client: Staff) -> JSONResponse:
    """Stop the clocks while waiting on the customer or a supplier."""
    complaint = await reachable(session, client, complaint_id, lock=True)
    await clocks.pause(session, complaint, body.reason, client.name, utcnow())
    return with_etag(await full_view(session, complaint))


@router.post("/complaints/{complaint_id}/sla/resume", response_model=ComplaintPublic)
async def resume_clocks(complaint_id: str, session: UnitOfWork, client: Staff) -> JSONResponse:
    """Restart the clocks; the targets move by the working time paused."""
    complaint = await reachable(session, client, complaint_id, lock=True)
    await clocks.resume(session, complaint, client.name, utcnow())
    return with_etag(await full_view(session, complaint))


@router.post("/complaints/{complaint_id}/escalations", response_model=ComplaintPublic)
async def escalate(complaint_id: str, body: EscalationIn, session: UnitOfWork, client: Staff,
                   if_match: IfMatch = None) -> JSONResponse:
    """Raise an open complaint to the team lead or the manager now; lower or equal to its level is a 409."""
    complaint = await reachable(session, client, complaint_id, lock=True)
    handling.check_etag(complaint, if_match)
    clocks.escalate(session, complaint, body.to, body.reason, client.name, utcnow())
    return with_etag(await full_view(session, complaint))


@router.post("/complaints/{complaint_id}/solutions", status_code=201, response_model=SolutionPublic)
async def propose_solution(complaint_id: str, body: SolutionIn, request: Request, client: Staff,
                           idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Propose a remedy (Idempotency-Key required): above an agent's limit only complaints:manage may."""
    async def action(session: AsyncSession) -> tuple[int, Any]:
        complaint = await reachable(session, client, complaint_id, lock=True)
        solution = await compensation.propose(session, complaint, body, actor=client.name, manager=is_manager(client),
                                              now=utcnow())
        return 201, solution_view(solution).model_dump(mode="json")

    return await idempotency.respond_once(request, client.name, idempotency_key, body, action)


