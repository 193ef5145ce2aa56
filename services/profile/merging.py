"""Merges: folding files into a surviving one (contacts, ids, bookings, consents, projections follow;
customers-merged tells every other service to re-point)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import contact_rights, organisations, population, repository as repo
from services.profile.account_models import BillingContact, CreditCharge
from services.profile.customers import answer, set_contacts, updated_event
from services.profile.models import (
    Booking, CareTask, ComplaintView, Consent, ConsentHistory, ContactPoint, Customer, ExternalId,
    FeedbackView, MembershipView, MergeRecord,
)
from services.profile.public import CustomerMerged, merge_public
from services.profile.schemas import MergeIn
from services.profile.scoring import recompute_customer
from shared import events as ev
from shared import outbox
from shared.db import new_id, utcnow
from shared.errors import Conflict, NotFound, Unprocessable

PERSONAL_FIELDS = ("name", "gender", "birth_date", "occupation", "address", "preferred_channel", "preferred_language",
                   "notes", "acquisition_detail")
TIER_ORDER = ["regular", "silver", "gold", "platinum"]
# rows that simply follow the merge
REPOINTED = (ExternalId, Booking, ComplaintView, FeedbackView, ConsentHistory, BillingContact, CreditCharge)


async def _lock_files(session: AsyncSession, surviving_id: str, merged_ids: list[str]) -> tuple[Customer, list[Customer]]:
    if surviving_id in merged_ids:
        raise Unprocessable("a file cannot be merged into itself", field="merged_ids")
    survivor = await repo.get_customer(session, surviving_id, for_update=True)
    if survivor.status != "active":
        raise Conflict(f"customer {surviving_id} is {survivor.status}; it cannot absorb other files")
    others: list[Customer] = []
    for mid in merged_ids:
        other = await session.get(Customer, mid, with_for_update=True)
        if other is None:
            raise NotFound("customer", mid)
        if other.status != "active":
            raise Conflict(f"customer {mid} is {other.status}; only active files can be merged",
                           errors=[{"field": "merged_ids", "message": f"{mid} is {other.status}"}])
        others.append(other)
    return survivor, others


async def merge(session: AsyncSession, surviving_id: str, merged_ids: list[str], *, reason: str, merged_by: str,
                now: datetime | None = None) -> MergeRecord:
    """Fold `merged_ids` into the surviving file; customers-merged (and customer-updated when it changed) go out."""
    now = now or utcnow()
    merged_ids = list(dict.fromkeys(merged_ids))
    survivor, others = await _lock_files(session, surviving_id, merged_ids)
    contacts = await repo.contacts(session, survivor.id)
    changed: set[str] = set()
    for other in others:
        changed |= await _move_contacts(session, other.id, survivor.id, contacts)
        for model in REPOINTED:
            await session.execute(update(model).where(model.customer_id == other.id).values(customer_id=survivor.id))
        await _move_consents(session, other.id, survivor.id)
        await _fold_membership(session, other.id, survivor.id)
        await organisations.fold_people(session, other.id, survivor.id)
        await contact_rights.repoint(session, other.id, survivor.id)
        await session.execute(delete(CareTask).where(CareTask.customer_id == other.id, CareTask.status == "scheduled"))
        await population.delete_values(session, [other.id])
        changed |= _fold_file(survivor, other)
        _leave_pointer(other, survivor.id, now)
        await session.execute(update(Customer).where(Customer.merged_into == other.id).values(merged_into=survivor.id))
        await session.flush()
    survivor.version += 1
    survivor.updated_at = now
    record = MergeRecord(id=new_id(), surviving_id=survivor.id, merged_ids=merged_ids, reason=reason,
                         merged_by=merged_by, merged_at=now)
    session.add(record)
    outbox.emit(session, ev.CustomersMerged(customer_id=survivor.id, merged_ids=merged_ids), survivor.id)
    if changed:
        outbox.emit(session, updated_event(survivor, sorted(changed)), survivor.id)
    await session.flush()
    await recompute_customer(session, survivor.id, now=now)
    return record


async def merge_files(session: AsyncSession, surviving_id: str, body: MergeIn, *, merged_by: str) -> CustomerMerged:
    """`merge`, answered as the surviving file with the merge record."""
    record = await merge(session, surviving_id, body.merged_ids, reason=body.reason, merged_by=merged_by)
    file = await answer(session, await repo.get_customer(session, surviving_id))
    return CustomerMerged(**file.model_dump(), merge=merge_public(record))


async def _move_contacts(session: AsyncSession, from_id: str, to_id: str,
                         contacts: tuple[list[str], list[str]]) -> set[str]:
    """The merged file's phones and emails the survivor lacks, appended to its (in-place updated) `contacts`."""
    theirs = await repo.contacts(session, from_id)
    await session.execute(delete(ContactPoint).where(ContactPoint.customer_id == from_id))
    changed = set()
    for kind, mine, their in (("phone", contacts[0], theirs[0]), ("email", contacts[1], theirs[1])):
        new = [v for v in their if v not in mine]
        if new:
            set_contacts(session, to_id, kind, new, start=len(mine))
            mine += new
            changed.add(kind + "s")
    return changed


async def _move_consents(session: AsyncSession, from_id: str, to_id: str) -> None:
    """The merged file's consents; where both have one, the later decision stands."""
    for consent in await repo.consents(session, from_id):
        mine = await session.get(Consent, (to_id, consent.channel, consent.purpose))
        if mine is None:
            session.add(Consent(customer_id=to_id, channel=consent.channel, purpose=consent.purpose,
                                status=consent.status, source=consent.source, changed_at=consent.changed_at))
        elif consent.changed_at > mine.changed_at:
            mine.status, mine.source, mine.changed_at = consent.status, consent.source, consent.changed_at
        await session.delete(consent)


async def _fold_membership(session: AsyncSession, from_id: str, to_id: str) -> None:
    """What loyalty told us about both: balances add up, the higher tier stays."""
    theirs = await session.get(MembershipView, from_id)
    if theirs is None:
        return
    mine = await session.get(MembershipView, to_id)
    if mine is None:
        session.add(MembershipView(customer_id=to_id, tier=theirs.tier, points_balance=theirs.points_balance,
                                   expiring_points=theirs.expiring_points, expiring_on=theirs.expiring_on))
    else:
        mine.points_balance += theirs.points_balance
        mine.expiring_points += theirs.expiring_points
        if theirs.tier in TIER_ORDER and (mine.tier not in TIER_ORDER
                                          or TIER_ORDER.index(theirs.tier) > TIER_ORDER.index(mine.tier)):
            mine.tier = theirs.tier
    await session.delete(theirs)


def _fold_file(survivor: Customer, other: Customer) -> set[str]:
    """Fields the survivor lacks, tags and preferences of both; the names of what changed."""
    changed = set()
    for name in PERSONAL_FIELDS:
        if getattr(survivor, name) in (None, "") and getattr(other, name) not in (None, ""):
            setattr(survivor, name, getattr(other, name))
            changed.add(name)
    if other.notes and survivor.notes and other.notes not in survivor.notes:
        survivor.notes = f"{survivor.notes}\n{other.notes}"
    if set(other.tags or []) - set(survivor.tags or []):
        survivor.tags = list(dict.fromkeys([*(survivor.tags or []), *(other.tags or [])]))
        changed.add("tags")
    prefs = dict(survivor.preferences or {})
    for key, value in (other.preferences or {}).items():
        if isinstance(value, list):
            prefs[key] = list(dict.fromkeys([*prefs.get(key, []), *value]))
        else:
            prefs.setdefault(key, value)
    if prefs != (survivor.preferences or {}):
        survivor.preferences = prefs
        changed.add("preferences")
    return changed


def blank_file(customer: Customer, status: str, now: datetime) -> None:
    """Nothing personal left in the file; its id stays (as a pointer, or a pseudonym)."""
    for name in PERSONAL_FIELDS:
        setattr(customer, name, None)
    customer.preferences, customer.tags = {}, []
    customer.status = status
    customer.version += 1
    customer.updated_at = now


def _leave_pointer(other: Customer, survivor_id: str, now: datetime) -> None:
    blank_file(other, "merged", now)
    other.merged_into = survivor_id
