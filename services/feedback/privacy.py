"""The feedback service's part in the data-rights protocol: which rows are about a customer.

Answers and reviews stay, pseudonymised, for the scores; their free text (which may name people) and
the raw answers go. Invitations are deleted; so are the customer's survey row and open complaints.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.feedback.models import Invitation, OpenComplaint, Response, Review, SurveyCustomer
from shared.events import FEEDBACK
from shared.privacy import PersonalData, Privacy


async def _fold_customers(session: AsyncSession, survivor: str, merged: list[str], now: datetime) -> None:
    """One survey row per customer: the survivor keeps the strictest consent, the latest contact."""
    rows = list((await session.execute(select(SurveyCustomer).where(
        SurveyCustomer.customer_id.in_([survivor, *merged])))).scalars())
    if not rows:
        return
    keep = next((r for r in rows if r.customer_id == survivor), None)
    if keep is None:
        keep = SurveyCustomer(customer_id=survivor)
        session.add(keep)
    for row in rows:
        if row is keep:
            continue
        if row.survey_consent is False or keep.survey_consent is None:
            keep.survey_consent, keep.consent_channel = row.survey_consent, row.consent_channel
        keep.language = keep.language or row.language
        keep.tier = keep.tier or row.tier
        keep.referrer = keep.referrer or row.referrer
        if row.last_invited_at and (keep.last_invited_at is None or row.last_invited_at > keep.last_invited_at):
            keep.last_invited_at = row.last_invited_at
    await session.flush()
    await session.execute(delete(SurveyCustomer).where(SurveyCustomer.customer_id.in_(merged)))


PRIVACY = Privacy(
    "feedback",
    [
        PersonalData(SurveyCustomer, repoint=False),
        PersonalData(OpenComplaint),
        PersonalData(Invitation),
        PersonalData(Response, on_erase="pseudonymise", personal_fields={"comment": None, "answers": {}}),
        PersonalData(Review, on_erase="pseudonymise", personal_fields={"text": None, "title": None, "status": "removed"}),
    ],
    topic=FEEDBACK,
    before_merge=_fold_customers,
)
