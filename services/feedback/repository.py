"""Queries of the feedback service; never commits."""

from __future__ import annotations

from typing import Any

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, literal, or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.feedback.models import (
    Config, FeedbackSetting, Invitation, OpenComplaint, Response, Review, SurveyCustomer,
)
from shared.db import among, insert
from shared.rows import insert_rows

SENT = ("sent", "answered", "expired")  # invitations that reached the customer


async def config(session: AsyncSession) -> Config:
    row = await session.get(FeedbackSetting, 1)
    return Config.model_validate(row.values) if row else Config()


async def customer(session: AsyncSession, customer_id: str, *, create: bool = False) -> SurveyCustomer | None:
    """The customer's survey row; with `create`, made if missing (race-free on both databases)."""
    if create:
        await session.execute(insert(session, SurveyCustomer).values(customer_id=customer_id)
                              .on_conflict_do_nothing(index_elements=["customer_id"]))
    return await session.get(SurveyCustomer, customer_id, populate_existing=create)


async def customers(session: AsyncSession, customer_ids: set[str]) -> dict[str, tuple[str | None, str | None]]:
    """These customers' (language, tier), their survey rows made where missing: one statement each (the same text
    whatever their number, `shared.rows`; keep them to a batch's 500: SQLite's bind limit)."""
    ids = sorted(customer_ids)
    await insert_rows(session, SurveyCustomer.__table__, [{"customer_id": cid} for cid in ids], skip_conflicts=True,
                      on_conflict=("customer_id",))
    found = await session.execute(select(SurveyCustomer.customer_id, SurveyCustomer.language, SurveyCustomer.tier)
                                  .where(among(session, SurveyCustomer.customer_id, ids)))
    return {cid: (language, tier) for cid, language, tier in found}


async def has_open_complaint(session: AsyncSession, customer_id: str) -> bool:
    found = await session.execute(select(OpenComplaint.complaint_id).where(OpenComplaint.customer_id == customer_id).limit(1))
    return found.first() is not None


async def invitation_by_key(session: AsyncSession, business_key: str) -> Invitation | None:
    return (await session.execute(select(Invitation).where(Invitation.business_key == business_key))).scalars().first()


async def invitation_by_token(session: AsyncSession, token: str) -> Invitation | None:
    return (await session.execute(select(Invitation).where(Invitation.token == token))).scalars().first()


async def add_invitation(session: AsyncSession, invitation: Invitation) -> bool:
    """Insert unless an invitation with its business key exists (never twice for one booking or complaint)."""
    values = invitation.model_dump()
    result = await session.execute(insert(session, Invitation).values(**values)
                                   .on_conflict_do_nothing(index_elements=["business_key"]))
    return result.rowcount == 1


async def add_invitations(session: AsyncSession, rows: list[dict[str, object]]) -> None:
    """Insert these invitations (every column given) in one statement, skipping business keys already taken."""
    await insert_rows(session, Invitation.__table__, rows, skip_conflicts=True, on_conflict=("business_key",))


async def due(session: AsyncSession, now: datetime, limit: int = 500) -> Sequence[Invitation]:
    query = (select(Invitation).where(Invitation.status == "scheduled", Invitation.send_at <= now)
             .order_by(Invitation.send_at, Invitation.id).limit(limit))
    return (await session.execute(query)).scalars().all()


async def to_remind(session: AsyncSession, before: datetime, now: datetime, limit: int = 500) -> Sequence[Invitation]:
    query = (select(Invitation).where(Invitation.status == "sent", Invitation.reminded_at.is_(None),
                                      Invitation.sent_at <= before, Invitation.expires_at > now)
             .order_by(Invitation.sent_at, Invitation.id).limit(limit))
    return (await session.execute(query)).scalars().all()


async def expire(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(update(Invitation).where(Invitation.status == "sent", Invitation.expires_at <= now)
                                   .values(status="expired", reason="unanswered")
                                   .execution_options(synchronize_session=False))
    return result.rowcount or 0


async def claim_answer(session: AsyncSession, invitation_id: str, now: datetime) -> bool:
    """Mark a sent invitation answered; False when another request did first (one answer per token, even
    under concurrent posts: the conditional UPDATE waits on the row and then finds it answered)."""
    result = await session.execute(update(Invitation).where(Invitation.id == invitation_id, Invitation.status == "sent")
                                   .values(status="answered", answered_at=now)
                                   .execution_options(synchronize_session=False))
    return result.rowcount == 1


async def invitations(session: AsyncSession, *, customer_id: str | None, status: str | None, kind: str | None,
                      after: tuple[datetime, str] | None, limit: int) -> Sequence[Invitation]:
    query = select(Invitation)
    if customer_id is not None:
        query = query.where(Invitation.customer_id == customer_id)
    if status is not None:
        query = query.where(Invitation.status == status)
    if kind is not None:
        query = query.where(Invitation.kind == kind)
    if after is not None:
        query = query.where(or_(Invitation.created_at > after[0],
                                and_(Invitation.created_at == after[0], Invitation.id > after[1])))
    return (await session.execute(query.order_by(Invitation.created_at, Invitation.id).limit(limit + 1))).scalars().all()


async def customer_invitations(session: AsyncSession, customer_id: str) -> Sequence[Invitation]:
    query = select(Invitation).where(Invitation.customer_id == customer_id).order_by(Invitation.created_at, Invitation.id)
    return (await session.execute(query)).scalars().all()


async def customer_responses(session: AsyncSession, customer_id: str) -> Sequence[Response]:
    query = select(Response).where(Response.customer_id == customer_id).order_by(Response.submitted_at, Response.id)
    return (await session.execute(query)).scalars().all()


async def last_contact(session: AsyncSession, customer_id: str) -> datetime | None:
    """When the customer was last sent a survey (follow-ups count too: they are contacts)."""
    return (await session.execute(select(func.max(Invitation.sent_at)).where(Invitation.customer_id == customer_id))).scalar()


async def responses_between(session: AsyncSession, start: datetime | None, end: datetime | None) -> Sequence[Response]:
    query = select(Response)
    if start is not None:
        query = query.where(Response.submitted_at >= start)
    if end is not None:
        query = query.where(Response.submitted_at < end)
    return (await session.execute(query.order_by(Response.submitted_at))).scalars().all()


async def sent_between(session: AsyncSession, start: datetime | None, end: datetime | None) -> Sequence[Invitation]:
    query = select(Invitation).where(Invitation.status.in_(SENT))
    if start is not None:
        query = query.where(Invitation.sent_at >= start)
    if end is not None:
        query = query.where(Invitation.sent_at < end)
    return (await session.execute(query)).scalars().all()


async def stale_responses(session: AsyncSession, analyser: str, limit: int) -> Sequence[Response]:
    query = (select(Response).where(Response.comment.is_not(None),
                                    or_(Response.analyser.is_(None), Response.analyser != analyser))
             .order_by(Response.id).limit(limit))
    return (await session.execute(query)).scalars().all()


async def reviews(session: AsyncSession, *, product_id: str | None, status: str | None, customer_id: str | None,
                  after: tuple[datetime, str] | None, limit: int) -> Sequence[Review]:
    query = select(Review)
    if product_id is not None:
        query = query.where(Review.product_id == product_id)
    if status is not None:
        query = query.where(Review.status == status)
    if customer_id is not None:
        query = query.where(Review.customer_id == customer_id)
    if after is not None:
        query = query.where(or_(Review.created_at > after[0], and_(Review.created_at == after[0], Review.id > after[1])))
    return (await session.execute(query.order_by(Review.created_at, Review.id).limit(limit + 1))).scalars().all()


async def unsurveyed_members(session: AsyncSession, tiers: list[str], half: str, limit: int = 1000) -> Sequence[str]:
    """Members of the tiers without a member survey for the half year `half` (e.g. 2026H2)."""
    key = literal("member:") + SurveyCustomer.customer_id + literal(f":{half}")
    taken = select(Invitation.id).where(Invitation.business_key == key).exists()
    query = (select(SurveyCustomer.customer_id).where(SurveyCustomer.tier.in_(tiers), ~taken)
             .order_by(SurveyCustomer.customer_id).limit(limit))
    return (await session.execute(query)).scalars().all()


async def referrers(session: AsyncSession, customer_ids: set[str]) -> set[str]:
    """Those of the customers who referred another one."""
    return await _flagged(session, customer_ids, SurveyCustomer.referrer)


async def referred(session: AsyncSession, customer_ids: set[str]) -> set[str]:
    """Those of the customers whom another one referred."""
    return await _flagged(session, customer_ids, SurveyCustomer.referred)


async def _flagged(session: AsyncSession, customer_ids: set[str], flag: Any) -> set[str]:
    found: set[str] = set()
    ids = sorted(customer_ids)
    for start in range(0, len(ids), 500):
        query = select(SurveyCustomer.customer_id).where(SurveyCustomer.customer_id.in_(ids[start:start + 500]),
                                                         flag.is_(True))
        found |= set((await session.execute(query)).scalars())
    return found
