"""Data rights over contact history, leads and lapse reasons (the care tasks with their staff notes are erased with
the other care rows in data_rights.ERASED_TABLES): export, erase and follow a merge."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import repository as repo
from services.profile.contact_models import AtRiskEpisode, ContactRecord, LapseReason, Lead
from services.profile.contact_public import contact_public, lapse_public, lead_public
from services.profile.models import CareTask

ERASED = (ContactRecord, Lead)  # deleted on erasure
FOLLOW_MERGE = (ContactRecord, Lead, AtRiskEpisode)  # re-pointed to the surviving file


async def export(session: AsyncSession, customer_id: str) -> dict[str, object]:
    """The customer's contacts, leads and lapse reason, as ProfileExport fields."""
    contacts = (await repo.rows_of(session, ContactRecord, [customer_id], ContactRecord.occurred_at,
                                   ContactRecord.id))[customer_id]
    leads = (await repo.rows_of(session, Lead, [customer_id], Lead.opened_at, Lead.id))[customer_id]
    reason = await session.get(LapseReason, customer_id)
    return {"contacts": [contact_public(c) for c in contacts], "leads": [lead_public(lead) for lead in leads],
            "lapse_reason": lapse_public(reason) if reason else None}


async def erase(session: AsyncSession, keys: list[str]) -> None:
    """Contacts and leads go; a lapse reason keeps its cause (for the churn figures) but loses the staff's note."""
    for table in ERASED:
        await session.execute(delete(table).where(table.customer_id.in_(keys)))
    await session.execute(update(LapseReason).where(LapseReason.customer_id.in_(keys)).values(note=None)
                          .execution_options(synchronize_session=False))


async def repoint(session: AsyncSession, from_id: str, to_id: str) -> None:
    """The merged file's contacts, leads, episodes and return visits still to do follow it; its lapse reason too,
    unless the survivor has one."""
    await session.execute(update(CareTask).where(CareTask.customer_id == from_id, CareTask.kind == "return-visit",
                                                 CareTask.status != "completed").values(customer_id=to_id)
                          .execution_options(synchronize_session=False))
    for table in FOLLOW_MERGE:
        await session.execute(update(table).where(table.customer_id == from_id).values(customer_id=to_id)
                              .execution_options(synchronize_session=False))
    theirs = await session.get(LapseReason, from_id)
    if theirs is not None:
        if await session.get(LapseReason, to_id) is None:
            session.add(LapseReason(customer_id=to_id, cause=theirs.cause, note=theirs.note, source=theirs.source,
                                    set_by=theirs.set_by, set_at=theirs.set_at))
        await session.delete(theirs)
