"""The care work queue: care tasks (care.py schedules birthdays, post-trip thanks, festivals, anniversaries; events
bring points-expiring, tier-downgrade-warning and win-back offers; contacts bring return visits) listed for staff,
assigned, snoozed, and completed once with an outcome that is itself a contact record. Use cases never commit."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import contact_repository as crepo, contacts, lapses
from services.profile.bookings import ensure_customer
from services.profile.contact_public import TaskCompleted, WorkItem, contact_public, work_item
from services.profile.contact_schemas import CareTaskIn, CompleteIn
from services.profile.models import CareTask, CustomerValue
from shared import events as ev
from shared.db import aware, new_id, utcnow
from shared.errors import Conflict, Unprocessable
from shared.events import Event
from shared.pages import Page, decode_cursor, page_of


async def plan_return_visit(session: AsyncSession, body: CareTaskIn, *, now: datetime | None = None) -> WorkItem:
    """A return visit planned by staff."""
    await contacts.active_file(session, body.customer_id)
    task = CareTask(id=new_id(), customer_id=body.customer_id, kind="return-visit", occasion=f"planned-{new_id()}",
                    due_at=body.due_at, assignee=body.assignee, staff_note=body.note)
    session.add(task)
    await session.flush()
    return work_item(task)


async def queue_page(session: AsyncSession, cursor: str | None, limit: int, *, assignee: str | None,
                     kind: str | None, due_before: datetime | None) -> Page[WorkItem]:
    """Open care tasks, earliest due first."""
    rows = await crepo.open_tasks_page(session, decode_cursor(cursor, datetime, str), limit, assignee=assignee,
                                       kind=kind, due_before=due_before)
    return page_of(rows, limit, lambda t: (t.due_at, t.id), work_item)


async def task(session: AsyncSession, task_id: str) -> WorkItem:
    return work_item(await crepo.get_task(session, task_id))


async def _open_task(session: AsyncSession, task_id: str) -> CareTask:
    found = await crepo.get_task(session, task_id, for_update=True)
    if found.status == "completed":
        raise Conflict(f"care task {task_id} was completed already", contact_id=found.contact_id)
    return found


async def assign(session: AsyncSession, task_id: str, assignee: str) -> WorkItem:
    found = await _open_task(session, task_id)
    found.assignee = assignee
    return work_item(found)


async def snooze(session: AsyncSession, task_id: str, until: datetime, *, now: datetime | None = None) -> WorkItem:
    """Put an open task off until `until`: it falls due (and is emitted, if not yet) then."""
    if until <= (now or utcnow()):
        raise Unprocessable("snooze until a time in the future", field="until")
    found = await _open_task(session, task_id)
    found.snoozed_until = found.due_at = until
    return work_item(found)


async def complete(session: AsyncSession, task_id: str, body: CompleteIn, *, by: str,
                   now: datetime | None = None) -> TaskCompleted:
    """Complete an open task once: its outcome is recorded as a contact (purpose return-visit or care), a lapse
    reason learnt on the call is set, a dated next step schedules the next return visit; a second time is a 409."""
    now = now or utcnow()
    found = await _open_task(session, task_id)
    await contacts.active_file(session, found.customer_id)
    staff = body.staff or found.assignee or by
    contact = contacts.new_contact(
        session, found.customer_id, staff=staff, recorded_by=by, occurred_at=now, now=now, channel=body.channel,
        direction=body.direction, purpose="return-visit" if found.kind == "return-visit" else "care",
        summary=body.summary, outcome=body.outcome, next_step=body.next_step, next_step_at=body.next_step_at,
        care_task_id=found.id)
    found.status, found.completed_at, found.contact_id = "completed", now, contact.id
    if body.lapse_reason is not None:
        await lapses.set_reason(session, found.customer_id, body.lapse_reason, note=body.outcome,
                                source="return-visit", set_by=staff, now=now)
    contacts.schedule_return_visit(session, contact, body)
    await session.flush()
    return TaskCompleted(task=work_item(found), contact=contact_public(contact))


# --- tasks from loyalty's events (handlers: never commit) -----------------------------------------------


async def _task_for(session: AsyncSession, customer_id: str, kind: str, occasion: str, due_at: datetime) -> CareTask:
    """The customer's care task for this occasion, added when new (so a redelivered fact adds nothing)."""
    cid = await ensure_customer(session, customer_id)
    found = await crepo.care_task_at(session, cid, kind, occasion)
    if found is None:
        found = CareTask(id=new_id(), customer_id=cid, kind=kind, occasion=occasion, due_at=due_at)
        session.add(found)
    return found


async def on_points_expiring(event: Event[ev.PointsExpiring], session: AsyncSession) -> None:
    found = await _task_for(session, event.data.customer_id, "points-expiring", event.data.expires_on.isoformat(),
                            aware(event.time))
    found.note = f"{event.data.points} points lapse on {event.data.expires_on.isoformat()}"


async def on_tier_downgrade_warning(event: Event[ev.TierDowngradeWarning], session: AsyncSession) -> None:
    d = event.data
    found = await _task_for(session, d.customer_id, "tier-downgrade-warning", d.review_on.isoformat(), aware(event.time))
    found.note = f"{d.current_tier} → {d.next_tier} on {d.review_on.isoformat()}"[:200]


async def on_win_back_offered(event: Event[ev.WinBackOffered], session: AsyncSession) -> None:
    """A win-back task carrying the offer: the at-risk episode's task (care.py schedules the same occasion) when the
    customer is at risk, else one per offer."""
    d = event.data
    cid = await ensure_customer(session, d.customer_id)
    value = await session.get(CustomerValue, cid)
    since = value.at_risk_since if value is not None and value.at_risk else None
    offer_id = d.offer_id[:100]  # the catalog does not bound it; the column holds 100
    found = await _task_for(session, cid, "win-back", since.date().isoformat() if since else f"offer-{offer_id}"[:100],
                            aware(event.time))
    found.offer_id, found.offer_expires_at = offer_id, aware(d.expires_at)
    found.note = f"win-back offer: {d.points} bonus points on the next booking"
