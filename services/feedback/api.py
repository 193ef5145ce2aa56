"""HTTP routes of the feedback service: parse, authorise, call one use case, shape the answer.

Scopes: `feedback:write` — the booking website and app (answer a token, write a review); `feedback:read` —
staff and analytics; `feedback:admin` — staff who change templates, configuration, invitations, moderation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from services.feedback import configuration, form_reads, invitations, reports, responses, reviews, templates
from services.feedback import repository as repo
from services.feedback.models import (
    Config, CustomerFeedback, InvitationForm, InvitationPublic, ResponseIn, ResponsePublic, ReviewCreate,
    ReviewModeration, ReviewPublic, SurveyCreate, SurveyPublic,
)
from shared.fields import Day
from shared.app import ReadSessionDep, RuntimeDep, UnitOfWork
from shared.auth import Scope
from shared.db import utcnow
from shared.pages import Cursor, Limit, Page, decode_cursor, page_of

router = APIRouter(prefix="/v1", tags=["feedback"])
StatusFilter = Annotated[str | None, Query(alias="status",
                                           pattern=r"^(scheduled|sent|answered|expired|cancelled|suppressed)$")]
ReviewStatus = Annotated[str | None, Query(alias="status", pattern=r"^(pending|approved|rejected|removed)$")]


def _invitation(row: object) -> InvitationPublic:
    return InvitationPublic.model_validate(row, from_attributes=True)


def _review(row: object) -> ReviewPublic:
    return ReviewPublic.model_validate(row, from_attributes=True)


# --- templates and configuration -------------------------------------------------------------------


@router.get("/surveys", response_model=list[SurveyPublic])
async def list_surveys(session: ReadSessionDep, client: Scope("feedback:read")) -> list[SurveyPublic]:
    """The latest version of every survey template (the three shipped ones and those written here)."""
    return await templates.templates(session)


@router.post("/surveys", response_model=SurveyPublic, status_code=status.HTTP_201_CREATED)
async def create_survey(form: SurveyCreate, session: UnitOfWork, client: Scope("feedback:admin")) -> SurveyPublic:
    """A new version of a template; invitations made from now on use it, earlier ones keep theirs."""
    return await templates.create_version(session, form)


@router.get("/surveys/config", response_model=Config)
async def get_config(session: ReadSessionDep, client: Scope("feedback:read")) -> Config:
    return await repo.config(session)


@router.put("/surveys/config", response_model=Config)
async def put_config(config: Config, session: UnitOfWork, client: Scope("feedback:admin")) -> Config:
    """Delays, recontact period, expiry, reminder, consent policy, member survey, CSI weights, thresholds."""
    return await configuration.replace(session, config=config, now=utcnow())


# --- invitations -----------------------------------------------------------------------------------


@router.get("/surveys/invitations", response_model=Page[InvitationPublic])
async def list_invitations(session: ReadSessionDep, client: Scope("feedback:read", customers=True), customer_id: str | None = None,
                           status_: StatusFilter = None,
                           kind: Annotated[str | None, Query(pattern=r"^(post-trip|follow-up|member)$")] = None,
                           cursor: Cursor = None, limit: Limit = 50) -> Page[InvitationPublic]:
    """Invitations, oldest first (a customer-facing key sees only its customer's)."""
    rows = await repo.invitations(session, customer_id=client.for_customer(customer_id), status=status_, kind=kind,
                                  after=decode_cursor(cursor, datetime, str), limit=limit)
    return page_of(rows, limit, key=lambda i: (i.created_at, i.id), item=_invitation)


@router.post("/surveys/dispatch", response_model=dict[str, int])
async def dispatch(session: UnitOfWork, client: Scope("feedback:admin")) -> dict[str, int]:
    """Send (or suppress) the invitations due now, without waiting for the periodic job's next round (quiet
    hours do not hold back what staff send by hand)."""
    return await invitations.send_due(session, utcnow(), even_in_quiet_hours=True)


@router.post("/surveys/invitations/{invitation_id}/cancel", response_model=InvitationPublic)
async def cancel_invitation(invitation_id: str, session: UnitOfWork, client: Scope("feedback:admin")) -> InvitationPublic:
    invitation = await invitations.cancel(session, invitation_id, utcnow())
    return _invitation(invitation)


@router.get("/surveys/invitations/{token}", response_model=InvitationForm)
async def get_form(token: str, runtime: RuntimeDep, client: Scope("feedback:write", customers=True)) -> InvitationForm:
    """The questions of an invitation in the customer's language (only those the booking calls for)."""
    return await form_reads.form(runtime.engine, token, client, utcnow())


@router.post("/surveys/invitations/{token}/responses", response_model=ResponsePublic,
             status_code=status.HTTP_201_CREATED)
async def answer(token: str, body: ResponseIn, session: UnitOfWork, client: Scope("feedback:write", customers=True)) -> ResponsePublic:
    """Answer an invitation, once: `{"answers": {"<question id>": value}}`."""
    response = await responses.submit(session, token=token, answers=body.answers, client=client, now=utcnow())
    return ResponsePublic.model_validate(response, from_attributes=True)


@router.get("/customers/{customer_id}/feedback", response_model=CustomerFeedback)
async def customer_feedback(customer_id: str, session: ReadSessionDep, client: Scope("feedback:read", customers=True)) -> CustomerFeedback:
    """The customer's invitations (with token and status) and answers (with sentiment)."""
    client.ensure_reaches(customer_id, "customer", customer_id)
    return CustomerFeedback(
        customer_id=customer_id,
        invitations=[_invitation(i) for i in await repo.customer_invitations(session, customer_id)],
        responses=[ResponsePublic.model_validate(r, from_attributes=True)
                   for r in await repo.customer_responses(session, customer_id)],
    )


# --- scores ------------------------------------------------------------------------------------------


@router.get("/feedback/scores", response_model=reports.Scores)
async def get_scores(session: ReadSessionDep, client: Scope("feedback:read"), by: reports.Dimension | None = None,
                     period: reports.Period = "month", start: Day | None = None, end: Day | None = None,
                     product: str | None = None, destination: str | None = None, supplier: str | None = None,
                     guide: str | None = None, element: str | None = None) -> reports.Scores:
    """NPS, CSAT %, CSI, response rate and sample sizes, overall and by a dimension (`by=period`: a trend)."""
    return await reports.scores(session, by=by, period=period, start=start, end=end, product=product,
                                destination=destination, supplier=supplier, guide=guide, element=element)


@router.post("/feedback/rescore", response_model=dict[str, int])
async def rescore(session: UnitOfWork, client: Scope("feedback:admin"),
                  limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> dict[str, int]:
    """Analyse again the comments an older analyser scored (call again until it answers 0)."""
    return {"rescored": await responses.rescore(session, limit=limit)}


# --- reviews -----------------------------------------------------------------------------------------


@router.post("/reviews", response_model=ReviewPublic, status_code=status.HTTP_201_CREATED)
async def create_review(form: ReviewCreate, session: UnitOfWork, client: Scope("feedback:write", customers=True)) -> ReviewPublic:
    review = await reviews.create(session, form=form, client=client, now=utcnow())
    return _review(review)


@router.get("/reviews", response_model=Page[ReviewPublic])
async def list_reviews(session: ReadSessionDep, client: Scope("feedback:read", customers=True), product_id: str | None = None,
                       status_: ReviewStatus = None,
                       customer_id: str | None = None, cursor: Cursor = None, limit: Limit = 50) -> Page[ReviewPublic]:
    """Reviews, oldest first; approved ones are public, a customer-facing key sees others only when it asks for those."""
    mine = customer_id if status_ == "approved" else client.for_customer(customer_id)
    rows = await repo.reviews(session, product_id=product_id, status=status_, customer_id=mine,
                              after=decode_cursor(cursor, datetime, str), limit=limit)
    return page_of(rows, limit, key=lambda r: (r.created_at, r.id), item=_review)


@router.get("/reviews/{review_id}", response_model=ReviewPublic)
async def get_review(review_id: str, session: ReadSessionDep, client: Scope("feedback:read", customers=True)) -> ReviewPublic:
    return _review(await reviews.get(session, review_id=review_id, client=client))


@router.post("/reviews/{review_id}/moderation", response_model=ReviewPublic)
async def moderate_review(review_id: str, form: ReviewModeration, session: UnitOfWork,
                          client: Scope("feedback:admin")) -> ReviewPublic:
    review = await reviews.moderate(session, review_id=review_id, form=form, now=utcnow())
    return _review(review)
