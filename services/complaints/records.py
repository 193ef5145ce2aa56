"""The timeline of a complaint: one row per step, note, contact, alarm and answer."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.complaints.models import Complaint, TimelineEntry


def note(session: AsyncSession, complaint: Complaint, kind: str, actor: str, at: datetime, text: str = "", *,
         channel: str | None = None, from_state: str | None = None, to_state: str | None = None) -> None:
    session.add(TimelineEntry(complaint_id=complaint.id, customer_id=complaint.customer_id, at=at, kind=kind, actor=actor[:100], channel=channel,
                              from_state=from_state, to_state=to_state, text=text))


def touched(complaint: Complaint, at: datetime) -> None:
    """A change of the complaint: a new version (its ETag) and time."""
    complaint.version += 1
    complaint.updated_at = at
