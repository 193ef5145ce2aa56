"""The complaints service's part in export, erasure and merge (shared.privacy).

On erasure the complaint records stay for the statistics and the supplier's accountability, with
the customer replaced by a pseudonym and every free text of theirs overwritten; booking facts,
consents and crisis notices about the customer are deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.complaints.models import (
    BookingFact, Complaint, ConsentFact, CrisisNoticeSent, Incident, Solution, TimelineEntry,
)
from shared.events import COMPLAINTS
from shared.privacy import PersonalData, Privacy

ERASED = "[erased]"



async def before_erase(session: AsyncSession, customer_id: str, now: datetime) -> None:
    """The free text of the solutions offered to the customer (kept, like the complaints, for the figures)."""
    theirs = select(Complaint.id).where(Complaint.customer_id == customer_id)
    await session.execute(update(Solution).where(Solution.complaint_id.in_(theirs)).values(description=ERASED)
                          .execution_options(synchronize_session=False))


async def before_merge(session: AsyncSession, survivor: str, merged: list[str], now: datetime) -> None:
    """Rows unique per customer (a consent per channel, a notice per crisis) that the survivor has already:
    the survivor's stay, the merged customers' go (a re-point would break the unique key)."""
    for model, key in ((ConsentFact, ConsentFact.channel), (CrisisNoticeSent, CrisisNoticeSent.crisis_id)):
        kept = select(key).where(model.customer_id == survivor)
        await session.execute(delete(model).where(model.customer_id.in_(merged), key.in_(kept)))
    seen: set[tuple[str, str]] = set()
    for model, key in ((ConsentFact, "channel"), (CrisisNoticeSent, "crisis_id")):  # among the merged ones too
        rows = (await session.execute(select(model).where(model.customer_id.in_(merged)).order_by(model.id))).scalars()
        for row in rows:
            if (model.__tablename__, getattr(row, key)) in seen:
                await session.delete(row)
            seen.add((model.__tablename__, getattr(row, key)))
    await session.flush()


PRIVACY = Privacy("complaints", [
    PersonalData(Complaint, on_erase="pseudonymise",
                 personal_fields={"summary": ERASED, "description": ERASED, "attachments": "[]", "context": "{}"}),
    PersonalData(TimelineEntry, on_erase="pseudonymise", personal_fields={"text": ERASED}, section="complaint_timeline"),
    PersonalData(Incident, on_erase="pseudonymise",
                 personal_fields={"description": ERASED, "details": "{}", "location": ERASED}),
    PersonalData(BookingFact),
    PersonalData(ConsentFact),
    PersonalData(CrisisNoticeSent),
], topic=COMPLAINTS, before_erase=before_erase, before_merge=before_merge)
