"""The closed loop: what an answer tells the other services.

Every answer → `feedback-submitted` (scores, sentiment, the complaint a follow-up answers) for profile
(360 view, churn signal), loyalty (a survey bonus, once per invitation: `survey_id` is the invitation's id)
and complaints (a follow-up's verdict). An unhappy answer — NPS 0–6, CSAT ≤ 2 or a strongly negative
comment — also → `detractor-detected` with the scored answers and the booking context, from which complaints
opens a service-recovery case (the comment itself never travels on the bus: complaints reads it from our
API). Not for a complaint's follow-up: its unhappy answer belongs to the complaint it follows (complaints
reopens it from feedback-submitted), not to a new case.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.feedback.models import Invitation, Response
from services.feedback.scores import is_detractor
from shared import outbox
from shared.events import DetractorDetected, FeedbackSubmitted


def scored(answers: dict[str, object]) -> dict[str, int]:
    """The scored answers (NPS, CSAT, ratings): free text stays here, off the bus (complaints reads it from
    GET /v1/customers/{id}/feedback)."""
    return {question: value for question, value in answers.items() if type(value) is int}


def detractor_reasons(response: Response, strongly_negative: float) -> list[str]:
    return is_detractor(response.nps, response.csat, response.sentiment_score, strongly_negative)


def _context(invitation: Invitation) -> dict[str, str | None] | None:
    if invitation.product_id is None:
        return None
    return {"id": invitation.product_id, "name": invitation.product_name, "kind": invitation.product_kind,
            "destination": invitation.destination, "guide": invitation.guide, "supplier": invitation.supplier,
            "channel": invitation.channel}


def announce(session: AsyncSession, response: Response, invitation: Invitation, reasons: list[str],
             csi: float | None) -> None:
    """Add feedback-submitted, and detractor-detected for an unhappy answer, to the answer's transaction."""
    outbox.emit(session, FeedbackSubmitted(
        response_id=response.id, survey_id=invitation.id, customer_id=response.customer_id,
        booking_id=response.booking_id, nps=response.nps, csat=response.csat, sentiment=response.sentiment_score,
        submitted_at=response.submitted_at, kind=response.kind, complaint_id=response.complaint_id,  # type: ignore[arg-type]
        sentiment_label=response.sentiment, csi=csi, product_id=response.product_id,  # type: ignore[arg-type]
        detractor=bool(reasons),
    ), response.customer_id)
    if reasons and response.kind != "follow-up":
        outbox.emit(session, DetractorDetected(
            response_id=response.id, customer_id=response.customer_id, booking_id=response.booking_id,
            nps=response.nps, reasons=reasons, csat=response.csat,  # type: ignore[arg-type]
            sentiment=response.sentiment_score,
            answers=scored(response.answers), kind=response.kind,  # type: ignore[arg-type]
            product=_context(invitation),
        ), response.customer_id)
