"""SLA clocks of complaints: set and recompute the targets, pause and resume, and the periodic round
that fires warnings, breaches and escalations once each (what fired is kept on the complaint)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.complaints import repository as R
from services.complaints.models import Complaint, Pause
from services.complaints.records import note, touched
from services.complaints import policy
from services.complaints.sla import deadlines, due_alarms
from services.complaints.workflow import OPEN_STATES
from shared import outbox
from shared.errors import Conflict
from shared.events import ComplaintEscalated

ESCALATED_TO = {1: "team_lead", 2: "manager"}
CHUNK = 500  # complaints per query of the SLA round


def fired(complaint: Complaint) -> set[str]:
    return set(json.loads(complaint.alarms))


async def recompute(session: AsyncSession, complaint: Complaint) -> None:
    """Targets from the complaint's start, with every pause so far, on the business calendar; a reopened
    complaint's resolution clock starts again at its reopening (the pauses after it count)."""
    sla, calendar = await policy.sla_of(session)
    pauses = await R.pauses(session, complaint.id)
    first, resolution = deadlines(sla, calendar, severity=complaint.severity,
                                  phase=complaint.trip_phase, start=complaint.filed_at, pauses=pauses)
    if complaint.reopened_at is not None:
        since = [p for p in pauses if p.ended_at is None or p.ended_at > complaint.reopened_at]
        _, resolution = deadlines(sla, calendar, severity=complaint.severity, phase=complaint.trip_phase,
                                  start=complaint.reopened_at, pauses=since)
    complaint.first_response_due = None if complaint.first_response_at else first
    complaint.resolution_due = resolution


def restart_resolution(complaint: Complaint, now: datetime) -> None:
    """A reopened complaint: its resolution clock starts again now, and its alarms may fire again."""
    complaint.reopened_at = now
    complaint.alarms = json.dumps(sorted(a for a in fired(complaint) if not a.startswith("resolution:")))


async def pause(session: AsyncSession, complaint: Complaint, reason: str, actor: str, now: datetime) -> None:
    if await R.open_pause(session, complaint.id) is not None:
        raise Conflict("the clocks of this complaint are paused already")
    if complaint.state not in ("classified", "investigating", "solution_proposed", "customer_agreed", "executing"):
        raise Conflict(f"a complaint in state {complaint.state} has no running clock to pause")
    session.add(Pause(complaint_id=complaint.id, reason=reason, started_at=now))
    complaint.paused = True
    await session.flush()
    await recompute(session, complaint)
    note(session, complaint, "sla", actor, now, f"clocks paused: {reason}")


async def resume(session: AsyncSession, complaint: Complaint, actor: str, now: datetime) -> None:
    open_one = await R.open_pause(session, complaint.id)
    if open_one is None:
        raise Conflict("the clocks of this complaint are not paused")
    await close_pause(session, complaint, open_one, now)
    note(session, complaint, "sla", actor, now, "clocks resumed")


async def close_pause(session: AsyncSession, complaint: Complaint, open_one: Pause, now: datetime) -> None:
    open_one.ended_at = now
    complaint.paused = False
    session.add(open_one)
    await session.flush()
    await recompute(session, complaint)


async def end_any_pause(session: AsyncSession, complaint: Complaint, now: datetime) -> None:
    open_one = await R.open_pause(session, complaint.id)
    if open_one is not None:
        await close_pause(session, complaint, open_one, now)


def escalate(session: AsyncSession, complaint: Complaint, to: str, reason: str, actor: str, now: datetime) -> None:
    """Staff raise an open complaint to the team lead or the manager before any clock does. The reason stays
    on the timeline; the event says only that staff raised it (free text may name people)."""
    level = next(lvl for lvl, whom in ESCALATED_TO.items() if whom == to)
    if complaint.state not in OPEN_STATES:
        raise Conflict(f"a complaint in state {complaint.state} is not open: reopen it first")
    if level <= complaint.escalation_level:
        raise Conflict(f"the complaint is escalated to the {ESCALATED_TO[complaint.escalation_level]} already")
    complaint.escalation_level = level
    touched(complaint, now)
    session.add(complaint)
    note(session, complaint, "escalation", actor, now, f"escalated to the {to}: {reason}")
    outbox.emit(session, ComplaintEscalated(
        complaint_id=complaint.id, customer_id=complaint.customer_id, severity=complaint.severity,
        level=level, reason="raised by staff", clock=None, escalated_to=to), complaint.customer_id)


def met(complaint: Complaint, at: datetime) -> bool:
    """Both targets kept: first response (if any was due) and resolution by `at`."""
    alarms = fired(complaint)
    if "first_response:breach" in alarms or "resolution:breach" in alarms:
        return False
    return complaint.resolution_due is None or at <= complaint.resolution_due


async def sound_alarms(session: AsyncSession, complaint: Complaint, now: datetime) -> int:
    """Fire the alarms of this complaint due at `now`: each once, in order."""
    done = fired(complaint)
    count = 0
    sla, _ = await policy.sla_of(session)
    target = sla.target(complaint.severity, complaint.trip_phase)
    for clock, due in (("first_response", complaint.first_response_due), ("resolution", complaint.resolution_due)):
        for alarm in due_alarms(sla, target, now=now, clock=clock, due=due, fired=done):
            done.add(alarm.name)
            count += 1
            label = clock.replace("_", " ")
            if alarm.kind == "warning":
                note(session, complaint, "sla", "sla-clock", now, f"{label} target due at {due.isoformat()}")
                continue
            if alarm.level > complaint.escalation_level:
                complaint.escalation_level = alarm.level
            whom = ESCALATED_TO[alarm.level]
            reason = f"{label} target {'breached' if alarm.kind == 'breach' else 'still breached'}"
            note(session, complaint, "escalation", "sla-clock", now, f"{reason}; escalated to the {whom}")
            outbox.emit(session, ComplaintEscalated(
                complaint_id=complaint.id, customer_id=complaint.customer_id, severity=complaint.severity,
                level=alarm.level, reason=reason, clock=clock, escalated_to=whom), complaint.customer_id)
    if count:
        complaint.alarms = json.dumps(sorted(done))
        session.add(complaint)
    return count


async def run_round(session: AsyncSession, now: datetime) -> int:
    """One round of the SLA job over every running clock."""
    total, after = 0, ""
    while chunk := await R.clocked(session, after=after, limit=CHUNK):
        for complaint in chunk:
            total += await sound_alarms(session, complaint, now)
        after = chunk[-1].id
    return total


async def recompute_open(session: AsyncSession) -> int:
    """After a change of policy: the targets of every open complaint, from its start with its pauses."""
    count = 0
    for complaint in await R.open_complaints(session):
        await recompute(session, complaint)
        session.add(complaint)
        count += 1
    return count
