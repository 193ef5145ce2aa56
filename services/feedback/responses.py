"""Answering an invitation: the form in the customer's language, the answer validated per question type,
one answer per token (even under concurrent posts), the comment analysed and stored with the answer.
Re-scoring stored comments when the analyser improves."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.feedback import loop
from services.feedback import repository as repo
from services.feedback.models import Invitation, QuestionPublic, Response
from services.feedback.scores import csi as csi_of
from services.feedback.sentiment import ANALYSER, Analysis, analyse
from services.feedback.templates import questions_for, template
from shared.auth import Client
from shared.errors import Conflict, NotFound, Problem

MAX_TEXT = 2000


class Gone(Problem):
    def __init__(self, detail: str, status: str) -> None:
        super().__init__(410, detail, title="Gone", invitation_status=status)


async def _open(session: AsyncSession, token: str, client: Client, now: datetime) -> Invitation:
    """The invitation of a token, still open for an answer; 404 for a token unknown, not yet sent or of
    another customer (for a customer-facing key), 409 when answered, 410 when expired or cancelled."""
    return still_open(await repo.invitation_by_token(session, token), client, now)


def still_open(invitation: Invitation | None, client: Client, now: datetime) -> Invitation:
    """`_open`'s checks of the invitation read for a token."""
    if invitation is None or invitation.status in ("scheduled", "suppressed"):
        raise NotFound("invitation", "for this token")
    client.ensure_reaches(invitation.customer_id, "invitation", "for this token")
    if invitation.status == "answered":
        raise Conflict("this survey has already been answered; a token answers once", invitation_status="answered")
    if invitation.status == "expired" or (invitation.expires_at and invitation.expires_at <= now):
        raise Gone("this survey invitation has expired", "expired")
    if invitation.status == "cancelled":
        raise Gone("this survey invitation was cancelled", "cancelled")
    return invitation


async def _questions(session: AsyncSession, invitation: Invitation) -> list[QuestionPublic]:
    survey = await template(session, invitation.template_id, invitation.template_version)
    return questions_for(survey, invitation.elements, invitation.language)


def _check(question: QuestionPublic, value: Any) -> str | None:
    """Why `value` is not an answer to `question` (None: it is)."""
    if question.type == "text":
        if not isinstance(value, str):
            return "must be text"
        return f"at most {MAX_TEXT} characters" if len(value) > MAX_TEXT else None
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be a whole number from {question.min} to {question.max}"
    if not question.min <= value <= question.max:  # type: ignore[operator]
        return f"must be from {question.min} to {question.max}"
    return None


def validate(questions: list[QuestionPublic], answers: dict[str, Any]) -> dict[str, Any]:
    """The answers without empty optional ones; 422 naming unknown questions, bad values, missing ones."""
    by_id = {q.id: q for q in questions}
    errors = [{"field": f"answers.{qid}", "message": "unknown question"} for qid in answers if qid not in by_id]
    kept = {}
    for qid, value in answers.items():
        question = by_id.get(qid)
        if question is None or (value is None or value == "") and not question.required:
            continue
        if (why := _check(question, value)) is not None:
            errors.append({"field": f"answers.{qid}", "message": why})
        kept[qid] = value.strip() if isinstance(value, str) else value
    missing = [q.id for q in questions if q.required and kept.get(q.id) in (None, "")]
    errors += [{"field": f"answers.{qid}", "message": "required"} for qid in missing]
    if errors:
        detail = (f"missing answers to {', '.join(missing)}" if missing and len(missing) == len(errors)
                  else f"invalid answers: {'; '.join(e['field'] + ' ' + e['message'] for e in errors)}")
        raise Problem(422, detail, title="Unprocessable Content", type_="https://tourcrm.dev/problems/validation",
                      errors=errors, missing=missing)
    return kept


def _comment_of(answers: dict[str, Any]) -> str | None:
    texts = [v.strip() for v in answers.values() if isinstance(v, str) and v.strip()]
    return "\n".join(texts)[:5000] or None


async def submit(session: AsyncSession, *, token: str, answers: dict[str, Any], client: Client,
                 now: datetime) -> Response:
    """Record the answer to an invitation once, with its comment's analysis; announce it."""
    comment = _comment_of(answers)
    analysis: Analysis | None = await asyncio.to_thread(analyse, comment) if comment else None  # before any lock
    invitation = await _open(session, token, client, now)
    questions = await _questions(session, invitation)
    kept = validate(questions, answers)
    types = {q.id: q for q in questions}
    if not await repo.claim_answer(session, invitation.id, now):
        raise Conflict("this survey has already been answered; a token answers once", invitation_status="answered")
    cfg = await repo.config(session)
    ratings = {types[q].element: v for q, v in kept.items() if types[q].type == "rating" and types[q].element}
    response = Response(
        invitation_id=invitation.id, customer_id=invitation.customer_id, kind=invitation.kind,
        template_id=invitation.template_id, template_version=invitation.template_version,
        booking_id=invitation.booking_id, complaint_id=invitation.complaint_id, product_id=invitation.product_id,
        destination=invitation.destination, guide=invitation.guide, supplier=invitation.supplier,
        channel=invitation.channel, tier=invitation.tier, ratings=ratings, answers=kept, submitted_at=now,
        nps=next((v for q, v in kept.items() if types[q].type == "nps"), None),
        csat=next((v for q, v in kept.items() if types[q].type == "csat"), None),
        comment=_comment_of({q: v for q, v in kept.items() if types[q].type == "text"}),
    )
    if analysis and response.comment:
        _score(response, analysis)
    reasons = loop.detractor_reasons(response, cfg.strongly_negative)
    response.detractor = bool(reasons)
    session.add(response)
    await session.flush()
    loop.announce(session, response, invitation, reasons, csi_of(ratings, cfg.csi_weights))
    return response


def _score(response: Response, analysis: Analysis) -> None:
    response.sentiment, response.sentiment_score = analysis.label, analysis.score
    response.topics, response.language, response.analyser = analysis.topics, analysis.language, analysis.analyser


async def rescore(session: AsyncSession, *, limit: int = 500) -> int:
    """Analyse again the comments an older analyser scored (the scores change; no event is sent again)."""
    stale = await repo.stale_responses(session, ANALYSER, limit)
    for response in stale:
        analysis = await asyncio.to_thread(analyse, response.comment)
        if analysis:
            _score(response, analysis)
    return len(stale)
