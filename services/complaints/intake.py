"""Intake: a complaint from any channel, classified by the rules and routed; and the
service-recovery complaint that a detractor's survey answer opens on its own."""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.complaints import clocks, crises
from services.complaints import repository as R
from services.complaints.models import BookingFact, Complaint
from services.complaints.records import note
from services.complaints.rules import queue_for, suggest_category, suggest_severity
from services.complaints.schemas import ComplaintCreate
from services.complaints.survey_comments import SurveyComment
from shared import outbox
from shared.db import new_id
from shared.events import ComplaintFiled, DetractorDetected


async def file(session: AsyncSession, body: ComplaintCreate, *, customer_id: str, actor: str, now: datetime,
               source: str = "customer", source_ref: str | None = None, context: dict | None = None) -> Complaint:
    """Record a complaint, suggest its category and severity, route it, start its clocks, emit complaint-filed."""
    text = f"{body.summary}\n{body.description}"
    suggested_category = suggest_category(text)
    category = body.category or suggested_category
    suggested_severity = suggest_severity(text, category, body.trip_phase)
    severity = body.severity or suggested_severity
    complaint = Complaint(
        id=new_id(), customer_id=customer_id, channel=body.channel, source=source, source_ref=source_ref,
        booking_id=body.booking_id, product_id=body.product_id, destination=body.destination, supplier=body.supplier,
        trip_phase=body.trip_phase, summary=body.summary, description=body.description, occurred_at=body.occurred_at,
        attachments=json.dumps([a.model_dump() for a in body.attachments], ensure_ascii=False),
        context=json.dumps(context or {}, ensure_ascii=False, default=str),
        category=category, severity=severity, suggested_category=suggested_category,
        suggested_severity=suggested_severity, queue=queue_for(category, severity, body.trip_phase),
        filed_at=now, updated_at=now,
    )
    await _fill_from_booking(session, complaint)
    session.add(complaint)
    await clocks.recompute(session, complaint)
    note(session, complaint, "transition", actor, now, f"filed through {body.channel}", channel=body.channel,
         to_state="received")
    outbox.emit(session, ComplaintFiled(
        complaint_id=complaint.id, customer_id=customer_id, category=category, severity=severity,
        booking_id=complaint.booking_id, channel=complaint.channel, filed_at=now, source=source,
        product_id=complaint.product_id, trip_phase=complaint.trip_phase), customer_id)
    await session.flush()
    await crises.watch(session, complaint, now)
    return complaint


async def _fill_from_booking(session: AsyncSession, complaint: Complaint) -> None:
    """Product and destination from the booking facts when the intake did not say."""
    if complaint.booking_id is None:
        return
    booking = await session.get(BookingFact, complaint.booking_id)
    if booking is not None and booking.customer_id == complaint.customer_id:
        complaint.product_id = complaint.product_id or booking.product_id
        complaint.destination = complaint.destination or booking.destination


async def recovered(session: AsyncSession, response_id: str) -> bool:
    """Whether the survey response already opened its service-recovery complaint."""
    return await R.by_source(session, f"detractor:{response_id}") is not None


async def recover(session: AsyncSession, data: DetractorDetected, comment: SurveyComment,
                  now: datetime) -> Complaint | None:
    """A detractor's answer opens a service-recovery complaint, once per survey response. Reads the scores and
    booking context the event carries, the comment feedback gave (`comment`: it never travels on the bus)
    and the booking facts kept here."""
    source_ref = f"detractor:{data.response_id}"
    if await recovered(session, data.response_id):
        return None
    nps, csat, product = data.nps, data.csat, data.product or {}
    text = (comment.text or "").strip()
    booking = await session.get(BookingFact, data.booking_id) if data.booking_id else None
    score = f"NPS {nps}" if nps is not None else f"CSAT {csat}" if csat is not None else "unhappy answer"
    very_unhappy = (nps is not None and nps <= 3) or (csat is not None and csat <= 1)
    body = ComplaintCreate(
        channel="survey", trip_phase="after", booking_id=data.booking_id,
        product_id=_text(product.get("id"), 100), destination=_text(product.get("destination"), 200),
        supplier=_text(product.get("supplier"), 200),
        summary=f"service recovery: {score}" + (f" — {text[:200]}" if text else ""),
        description=text, severity="high" if very_unhappy else "medium",
    )
    survey = {"response_id": data.response_id, "nps": nps, "csat": csat, "comment": comment.text,
              "answers": {**data.answers, **comment.answers}, "reasons": data.reasons}
    if comment.unavailable:
        survey["comment_unavailable"] = comment.unavailable
    context = {"survey": survey, "product": product or None,
               "booking": None if booking is None else {
                   "booking_id": booking.booking_id, "product_id": booking.product_id,
                   "destination": booking.destination, "travel_start": booking.travel_start,
                   "travel_end": booking.travel_end}}
    return await file(session, body, customer_id=data.customer_id, actor="feedback", now=now, source="survey",
                      source_ref=source_ref, context=context)


def _text(value: object, limit: int) -> str | None:
    return str(value)[:limit] if value else None
