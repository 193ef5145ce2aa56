"""How complaints and crises look in the API's answers."""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from services.complaints import repository as R
from services.complaints import workflow
from services.complaints.handling import etag
from services.complaints.models import Complaint, Crisis, Solution, TimelineEntry
from services.complaints.schemas import ComplaintPublic, CrisisPublic, SlaPublic, SolutionPublic, TimelinePublic
from shared.auth import Client
from shared.errors import NotFound
from shared.lane import reads


def solution_view(s: Solution) -> SolutionPublic:
    return SolutionPublic(id=s.id, kind=s.kind, amount=None if s.amount is None else f"{s.amount:.2f}",
                          currency=s.currency, points=s.points, description=s.description, status=s.status,
                          proposed_by=s.proposed_by, approved_by=s.approved_by, created_at=s.created_at)


def complaint_view(c: Complaint, *, solutions: list[SolutionPublic] | None = None,
                   timeline: list[TimelinePublic] | None = None) -> ComplaintPublic:
    return ComplaintPublic(
        id=c.id, customer_id=c.customer_id, state=c.state, allowed_transitions=workflow.allowed(c.state),
        channel=c.channel, source=c.source, booking_id=c.booking_id, product_id=c.product_id,
        destination=c.destination, supplier=c.supplier, trip_phase=c.trip_phase, summary=c.summary,
        description=c.description, occurred_at=c.occurred_at, attachments=json.loads(c.attachments),
        context=json.loads(c.context), category=c.category, severity=c.severity,
        suggested_category=c.suggested_category, suggested_severity=c.suggested_severity, queue=c.queue,
        assignee=c.assignee, filed_at=c.filed_at, resolved_at=c.resolved_at, closed_at=c.closed_at,
        root_cause=c.root_cause, preventive_action=c.preventive_action, compensation_points=c.compensation_points,
        reopen_count=c.reopen_count, satisfied=c.satisfied, crisis_id=c.crisis_id, etag=etag(c),
        sla=SlaPublic(first_response_due=c.first_response_due, resolution_due=c.resolution_due,
                      first_response_at=c.first_response_at, paused=c.paused, alarms=json.loads(c.alarms),
                      escalation_level=c.escalation_level, met=c.sla_met),
        solutions=solutions or [], timeline=timeline or [],
    )


def timeline_view(t: TimelineEntry) -> TimelinePublic:
    return TimelinePublic(at=t.at, kind=t.kind, actor=t.actor, channel=t.channel, from_state=t.from_state,
                          to_state=t.to_state, text=t.text)


async def full_view(session: AsyncSession, c: Complaint) -> ComplaintPublic:
    """A complaint with its solutions and whole timeline."""
    await session.flush()
    return complaint_view(c, solutions=[solution_view(s) for s in await R.solutions(session, c.id)],
                          timeline=[timeline_view(t) for t in await R.timeline(session, c.id)])


async def read(engine: AsyncEngine, client: Client, complaint_id: str) -> ComplaintPublic:
    """`full_view` of a complaint the client reaches, read by one prebuilt statement outside a transaction (no
    session, no ORM): the hot read of the booking website and app."""
    async with reads(engine) as db:
        row = await db.row(R.COMPLAINT_READ, {"id": complaint_id})
    if row is None:
        raise NotFound("complaint", complaint_id)
    client.ensure_reaches(row.customer_id, "complaint", complaint_id)
    return complaint_view(row, solutions=[solution_view(s) for s in R.SOLUTIONS_OF.rows(row.solutions)],
                          timeline=[timeline_view(t) for t in R.TIMELINE_OF.rows(row.timeline)])


async def crisis_view(session: AsyncSession, crisis: Crisis) -> CrisisPublic:
    await session.flush()
    return CrisisPublic(
        id=crisis.id, kind=crisis.kind, scope_kind=crisis.scope_kind, scope_value=crisis.scope_value,
        status=crisis.status, opened_by=crisis.opened_by, affected_from=crisis.affected_from,
        affected_to=crisis.affected_to, message=crisis.message, checklist=json.loads(crisis.checklist),
        decision=json.loads(crisis.decision) if crisis.decision else None, declared_at=crisis.declared_at,
        complaints=[c.id for c in await R.crisis_complaints(session, crisis.id)],
        notices=await R.notices_sent(session, crisis.id),
    )
