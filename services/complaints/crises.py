"""Crisis response (危机应对): a crisis opened by a manager, or on its own when complaints about one
product, destination or supplier pass a threshold in a window; it links those complaints, emits
crisis-declared, sends one crisis-notice to every affected customer through a consented channel,
and takes one manager decision for all its complaints."""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.complaints import compensation, policy
from services.complaints import repository as R
from services.complaints.models import Complaint, Crisis, CrisisNoticeSent
from services.complaints.records import note
from services.complaints.schemas import CrisisDecision, CrisisIn
from shared import outbox
from shared.db import insert, new_id, settings_of
from shared.errors import Conflict, NotFound
from shared.events import CrisisDeclared, CrisisNotice

CHANNEL_PREFERENCE = ("app-push", "sms", "wechat", "email", "phone")
PLANS: dict[str, tuple[str, ...]] = {
    "natural_disaster": ("confirm every traveller's safety", "contact the local operator and embassy",
                         "arrange evacuation or shelter", "inform families", "rebook or refund affected trips"),
    "supplier_failure": ("confirm the failure with the supplier", "secure replacement services",
                         "inform affected travellers", "hold supplier payments", "claim against the supplier"),
    "accident": ("emergency services and medical care", "notify the insurer", "inform families",
                 "document the scene and witnesses", "report to the authorities"),
    "public_opinion": ("gather the facts", "one spokesperson", "publish a holding statement",
                       "answer the affected customers first", "monitor the channels"),
}
SCOPES = (("product", Complaint.product_id), ("destination", Complaint.destination), ("supplier", Complaint.supplier))


def _message(crisis: Crisis) -> str:
    return crisis.message or ("We are aware of a problem that may affect your trip and are handling it; "
                              "we will contact you with details. 我们已知悉可能影响您行程的问题，正在处理中。")


async def watch(session: AsyncSession, complaint: Complaint, now: datetime) -> Crisis | None:
    """After a complaint is filed: link it to an open crisis of its scope, or declare one at the threshold."""
    rules = await policy.current(session)
    for scope_kind, column in SCOPES:
        value = getattr(complaint, scope_kind if scope_kind != "product" else "product_id")
        if not value:
            continue
        crisis = await R.open_crisis(session, scope_kind, value)
        if crisis is not None:
            complaint.crisis_id = crisis.id
            session.add(complaint)
            return crisis
        if await R.count_in_window(session, column, value, now - rules.crisis_window) >= rules.crisis_threshold:
            kind = "supplier_failure" if scope_kind == "supplier" else "public_opinion"
            return await declare(session, CrisisIn(kind=kind, scope_kind=scope_kind, scope_value=value,
                                                   affected_from=now.astimezone(settings_of(session).tz).date()),
                                 actor="crisis-detection", now=now)
    return None


async def declare(session: AsyncSession, body: CrisisIn, *, actor: str, now: datetime) -> Crisis:
    """Open a crisis: link the recent complaints of its scope, emit crisis-declared, notify the affected."""
    if await R.open_crisis(session, body.scope_kind, body.scope_value) is not None:
        raise Conflict(f"a crisis about {body.scope_kind} {body.scope_value} is open already")
    crisis = Crisis(id=new_id(), kind=body.kind, scope_kind=body.scope_kind, scope_value=body.scope_value,
                    opened_by=actor[:100], affected_from=body.affected_from, affected_to=body.affected_to,
                    message=body.message, declared_at=now,
                    checklist=json.dumps([{"step": s, "done": False} for s in PLANS[body.kind]], ensure_ascii=False))
    session.add(crisis)
    column = dict(SCOPES)[body.scope_kind]
    window = (await policy.current(session)).crisis_window
    linked = await R.in_window(session, column, body.scope_value, now - window)
    for complaint in linked:
        complaint.crisis_id = crisis.id
        session.add(complaint)
        note(session, complaint, "crisis", actor, now, f"linked to crisis {crisis.id}")
    outbox.emit(session, CrisisDeclared(crisis_id=crisis.id, scope=f"{body.scope_kind}:{body.scope_value}",
                                        complaints=max(len(linked), 1), window_minutes=int(window.total_seconds() // 60),
                                        declared_at=now), crisis.id)
    await session.flush()
    if body.scope_kind in ("product", "destination"):
        await notify(session, crisis, now)
    return crisis


async def notify(session: AsyncSession, crisis: Crisis, now: datetime) -> int:
    """One crisis-notice per affected customer who consented to service messages on some channel."""
    sent = 0
    customers = sorted({b.customer_id for b in await R.affected_bookings(session, crisis)})
    for customer_id in customers:
        channels = await R.service_channels(session, customer_id)
        channel = next((c for c in CHANNEL_PREFERENCE if c in channels), None)
        if channel is None:
            continue
        row = {"crisis_id": crisis.id, "customer_id": customer_id, "channel": channel, "sent_at": now}
        claimed = await session.execute(insert(session, CrisisNoticeSent.__table__).values(row)
                                        .on_conflict_do_nothing().returning(CrisisNoticeSent.__table__.c.id))
        if claimed.first() is None:
            continue
        outbox.emit(session, CrisisNotice(crisis_id=crisis.id, customer_id=customer_id, channel=channel,
                                          message=_message(crisis)), customer_id)
        sent += 1
    return sent


async def decide(session: AsyncSession, crisis: Crisis, body: CrisisDecision, *, actor: str, now: datetime) -> int:
    """One manager decision for every complaint of the crisis: a message, and a solution where one can be offered."""
    if crisis.decision is not None:
        raise Conflict("this crisis has its decision already")
    applied = 0
    for complaint in await R.crisis_complaints(session, crisis.id):
        note(session, complaint, "crisis", actor, now, f"crisis decision: {body.message}")
        if body.compensation is not None and complaint.state in compensation.OFFER_STATES:
            await compensation.propose(session, complaint, body.compensation, actor=actor, manager=True, now=now)
            applied += 1
    crisis.decision = json.dumps({"message": body.message, "by": actor,
                                  "compensation": body.compensation.model_dump(mode="json") if body.compensation else None,
                                  "applied_to": applied}, ensure_ascii=False)
    session.add(crisis)
    return applied


async def tick(session: AsyncSession, crisis: Crisis, number: int, *, done: bool, note_text: str | None, actor: str,
               now: datetime) -> Crisis:
    """Tick off (or untick) step `number` (from 1) of the crisis plan's checklist."""
    steps = json.loads(crisis.checklist)
    if not 1 <= number <= len(steps):
        raise NotFound("crisis checklist step", number)
    steps[number - 1].update(done=done, by=actor if done else None, at=now.isoformat() if done else None,
                             note=note_text)
    crisis.checklist = json.dumps(steps, ensure_ascii=False)
    session.add(crisis)
    return crisis


async def close(session: AsyncSession, crisis: Crisis) -> Crisis:
    if crisis.status == "closed":
        raise Conflict("this crisis is closed already")
    crisis.status = "closed"
    session.add(crisis)
    return crisis
