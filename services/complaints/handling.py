"""Handling a complaint: its steps through the state machine, notes and contacts, corrections of the
classification, and the pauses of its clocks. Every change bumps the version (the ETag)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.complaints import clocks
from services.complaints import repository as R
from services.complaints import workflow
from services.complaints.models import Complaint, Solution
from services.complaints.records import note, touched
from services.complaints.rules import queue_for
from services.complaints.schemas import ComplaintPatch, NoteIn, TransitionIn
from shared import outbox
from shared.errors import Conflict, Problem, Unprocessable
from shared.events import ComplaintClosed, ComplaintReopened, ComplaintResolved, Compensation


class IllegalTransition(Problem):
    def __init__(self, state: str, to: str) -> None:
        allowed = workflow.allowed(state)
        super().__init__(409, f"a complaint in state {state} cannot move to {to}; allowed: {', '.join(allowed) or 'none'}",
                         title="Illegal Transition", type_="https://tourcrm.dev/problems/illegal-transition",
                         state=state, to=to, allowed=allowed)


def etag(complaint: Complaint) -> str:
    return f'"v{complaint.version}"'


def check_etag(complaint: Complaint, if_match: str | None, *, required: bool = False) -> None:
    """If-Match must name the current version (required for corrections, checked when sent elsewhere)."""
    if if_match is None:
        if required:
            raise Problem(428, "this update needs If-Match with the ETag you read", title="Precondition Required",
                          errors=[{"field": "If-Match", "location": "header", "message": "required"}])
        return
    tags = {t.strip().removeprefix("W/") for t in if_match.split(",")}
    if "*" not in tags and etag(complaint) not in tags:
        raise Problem(412, f"the complaint changed since you read it; it is now {etag(complaint)}",
                      title="Precondition Failed", etag=etag(complaint))


async def respond(session: AsyncSession, complaint: Complaint, now: datetime) -> None:
    """The first response to the customer: the first-response clock stops (a late one breaches first)."""
    if complaint.first_response_at is not None:
        return
    await clocks.sound_alarms(session, complaint, now)
    complaint.first_response_at = now
    complaint.first_response_due = None


async def transition(session: AsyncSession, complaint: Complaint, body: TransitionIn, *, actor: str,
                     now: datetime, customer_facing: bool = False) -> Complaint:
    """One step of the state machine, with what that step needs and emits."""
    frm = complaint.state
    name = workflow.step(frm, body.to)
    if name is None:
        raise IllegalTransition(frm, body.to)
    if customer_facing and name not in workflow.CUSTOMER_STEPS:
        raise Problem(403, f"the customer may agree to or decline a solution, not {name} a complaint",
                      allowed=[to for to in workflow.allowed(frm) if workflow.step(frm, to) in workflow.CUSTOMER_STEPS])
    if name in ("reopen", "decline") and not body.reason:
        raise Unprocessable(f"to {name} a complaint, give a reason", field="reason")
    await STEP_RULES.get(name, _nothing)(session, complaint, body, now)
    complaint.state = body.to
    touched(complaint, now)
    note(session, complaint, "transition", actor, now, body.reason or name, from_state=frm, to_state=body.to)
    if body.to not in workflow.OPEN_STATES:
        await clocks.end_any_pause(session, complaint, now)
    await AFTER.get(name, _nothing)(session, complaint, body, now)
    session.add(complaint)
    return complaint


async def _nothing(*_: object) -> None:
    return None


async def _classify(session: AsyncSession, complaint: Complaint, body: TransitionIn, now: datetime) -> None:
    await _correct(session, complaint, category=body.category, severity=body.severity, assignee=body.assignee)


async def _investigate(session: AsyncSession, complaint: Complaint, body: TransitionIn, now: datetime) -> None:
    if body.assignee:
        complaint.assignee = body.assignee
    await respond(session, complaint, now)


async def _propose(session: AsyncSession, complaint: Complaint, body: TransitionIn, now: datetime) -> None:
    offered = [s for s in await R.solutions(session, complaint.id) if s.status == "proposed"]
    if not offered:
        raise Conflict("no solution is ready to offer; POST one to /solutions first")


async def _settle_offer(session: AsyncSession, complaint: Complaint, status: str) -> None:
    for solution in await R.solutions(session, complaint.id):
        if solution.status == "proposed":
            solution.status = status
            session.add(solution)


async def _agree(session: AsyncSession, complaint: Complaint, body: TransitionIn, now: datetime) -> None:
    await _settle_offer(session, complaint, "agreed")


async def _decline(session: AsyncSession, complaint: Complaint, body: TransitionIn, now: datetime) -> None:
    await _settle_offer(session, complaint, "declined")


async def _resolve(session: AsyncSession, complaint: Complaint, body: TransitionIn, now: datetime) -> None:
    if body.root_cause is None:
        raise Unprocessable("to resolve a complaint, name its root cause", field="root_cause")
    complaint.root_cause = body.root_cause
    complaint.preventive_action = body.preventive_action
    await respond(session, complaint, now)
    await clocks.sound_alarms(session, complaint, now)
    complaint.resolved_at = now
    complaint.sla_met = clocks.met(complaint, now)


async def _reopen(session: AsyncSession, complaint: Complaint, body: TransitionIn, now: datetime) -> None:
    """Back to investigating; the compensation already agreed stays with the customer (loyalty credits
    goodwill once per complaint, so a second resolution adds no second credit)."""
    complaint.reopen_count += 1
    complaint.resolved_at = complaint.closed_at = None
    clocks.restart_resolution(complaint, now)
    outbox.emit(session, ComplaintReopened(complaint_id=complaint.id, customer_id=complaint.customer_id,
                                           reason=body.reason or "", compensation_withdrawn=False,
                                           reopened_at=now), complaint.customer_id)


async def _after_resolve(session: AsyncSession, complaint: Complaint, body: TransitionIn, now: datetime) -> None:
    agreed = [s for s in await R.solutions(session, complaint.id) if s.status == "agreed"]
    complaint.compensation_points = sum(s.points for s in agreed)
    outbox.emit(session, ComplaintResolved(
        complaint_id=complaint.id, customer_id=complaint.customer_id, category=complaint.category,
        severity=complaint.severity, sla_met=bool(complaint.sla_met), compensation_points=complaint.compensation_points,
        resolved_at=now, root_cause=complaint.root_cause, compensation=[_compensation(s) for s in agreed],
    ), complaint.customer_id)


def _compensation(solution: Solution) -> Compensation:
    return Compensation(kind=solution.kind, amount=solution.amount, currency=solution.currency, points=solution.points)


async def _after_close(session: AsyncSession, complaint: Complaint, body: TransitionIn, now: datetime) -> None:
    complaint.closed_at = now
    outbox.emit(session, ComplaintClosed(complaint_id=complaint.id, customer_id=complaint.customer_id,
                                         satisfied=complaint.satisfied, closed_at=now), complaint.customer_id)


async def _after_reopen(session: AsyncSession, complaint: Complaint, body: TransitionIn, now: datetime) -> None:
    complaint.sla_met = None
    await clocks.recompute(session, complaint)


STEP_RULES = {"classify": _classify, "investigate": _investigate, "propose": _propose, "agree": _agree,
              "decline": _decline, "resolve": _resolve, "reopen": _reopen}
AFTER = {"resolve": _after_resolve, "close": _after_close, "reopen": _after_reopen}


async def _correct(session: AsyncSession, complaint: Complaint, *, category: str | None = None,
                   severity: str | None = None, assignee: str | None = None, queue: str | None = None) -> None:
    """Set what the agent corrected; a new severity recomputes the clocks from the start."""
    if category:
        complaint.category = category
    if assignee:
        complaint.assignee = assignee
    old_severity = complaint.severity
    if severity:
        complaint.severity = severity
    complaint.queue = queue or (queue_for(complaint.category, complaint.severity, complaint.trip_phase)
                                if (category or severity) else complaint.queue)
    if complaint.severity != old_severity:
        await clocks.recompute(session, complaint)


async def correct(session: AsyncSession, complaint: Complaint, patch: ComplaintPatch, *, actor: str,
                  now: datetime) -> Complaint:
    before = (complaint.category, complaint.severity, complaint.queue, complaint.assignee)
    await _correct(session, complaint, category=patch.category, severity=patch.severity, assignee=patch.assignee,
                   queue=patch.queue)
    if patch.supplier is not None:
        complaint.supplier = patch.supplier or None
    if patch.destination is not None:
        complaint.destination = patch.destination or None
    after = (complaint.category, complaint.severity, complaint.queue, complaint.assignee)
    changes = ", ".join(f"{n} {b}→{a}" for n, b, a in zip(("category", "severity", "queue", "assignee"), before, after)
                        if b != a)
    note(session, complaint, "correction", actor, now, changes or "no change")
    touched(complaint, now)
    session.add(complaint)
    return complaint


async def add_note(session: AsyncSession, complaint: Complaint, body: NoteIn, *, actor: str, now: datetime,
                   staff: bool) -> Complaint:
    """A note, or a contact with the customer (which is a first response when staff made it)."""
    note(session, complaint, body.kind, body.author or actor, now, body.text, channel=body.channel)
    if body.kind == "contact" and staff:
        await respond(session, complaint, now)
    touched(complaint, now)
    session.add(complaint)
    return complaint
