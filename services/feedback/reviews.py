"""Direct product reviews: a rating and a text, analysed like a survey comment, moderated before they show."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.feedback.models import Review, ReviewCreate, ReviewModeration
from services.feedback.sentiment import analyse
from shared.auth import Client
from shared.errors import Conflict, NotFound


async def create(session: AsyncSession, *, form: ReviewCreate, client: Client, now: datetime) -> Review:
    """A review, pending moderation; a customer-facing key writes only its own customer's."""
    client.ensure_reaches(form.customer_id, "customer", form.customer_id)
    analysis = await asyncio.to_thread(analyse, "\n".join(filter(None, (form.title, form.text))))
    review = Review(customer_id=form.customer_id, product_id=form.product_id, booking_id=form.booking_id,
                    rating=form.rating, title=form.title, text=form.text, created_at=now)
    if analysis:
        review.sentiment, review.sentiment_score = analysis.label, analysis.score
        review.topics, review.language = analysis.topics, analysis.language
    session.add(review)
    await session.flush()
    return review


async def get(session: AsyncSession, *, review_id: str, client: Client) -> Review:
    review = await session.get(Review, review_id)
    if review is None or not (client.reaches(review.customer_id) or review.status == "approved"):
        raise NotFound("review", review_id)
    return review


async def moderate(session: AsyncSession, *, review_id: str, form: ReviewModeration, now: datetime) -> Review:
    review = await session.get(Review, review_id)
    if review is None:
        raise NotFound("review", review_id)
    if review.status != "pending" and review.status != form.status:
        raise Conflict(f"review {review_id} is already {review.status}", review_status=review.status)
    review.status, review.moderation_note, review.moderated_at = form.status, form.note, now
    return review
