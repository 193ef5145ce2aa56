"""Use cases of the profile service. Each changes rows and adds its events to the caller's session;
the caller (a route, a job or the consumer) commits once. Functions that depend on the clock take `now`.
"""

from __future__ import annotations

import bisect
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import analytics, repository as repo
from services.profile.models import (
    Booking, CareTask, ComplaintView, Consent, ConsentHistory, ContactPoint, Customer, CustomerValue, ErasureConfirmation,
    ErasureRequest, ExternalId, FeedbackView, MembershipView, MergeRecord, Product, ProfileConfig,
)
from services.profile.normalise import similar_names
from services.profile.schemas import (
    CHANNELS, ConsentIn, CustomerCreate, CustomerPatch, CustomerResolve, ExternalRef, ValueConfig,
)
from shared import events as ev
from shared import outbox
from shared.db import settings_of, utcnow
from shared.errors import Conflict, NotFound, Problem, Unprocessable
from shared.inbox import DeadLetter

log = logging.getLogger(__name__)

SOURCE = "tourcrm/profile"
SERVICE = "profile"
DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
PERSONAL_FIELDS = ("name", "gender", "birth_date", "occupation", "address", "preferred_channel", "preferred_language",
                   "notes")


def emit(session: AsyncSession, data: ev.EventData, subject: str | None, *, topic: str | None = None) -> ev.Envelope:
    envelope = ev.new_event(data, source=SOURCE, subject=subject)
    outbox.add(session, envelope, topic=topic)
    return envelope


# --- configuration ---------------------------------------------------------------------------------


async def get_config(session: AsyncSession) -> ValueConfig:
    row = await session.get(ProfileConfig, "value")
    return ValueConfig.model_validate(row.value) if row else ValueConfig()


async def set_config(session: AsyncSession, config: ValueConfig) -> ValueConfig:
    row = await session.get(ProfileConfig, "value")
    value = config.model_dump(mode="json")
    if row is None:
        session.add(ProfileConfig(key="value", value=value))
    else:
        row.value, row.updated_at = value, utcnow()
    return config


# --- the customer file ---------------------------------------------------------------------------------


def etag(customer: Customer) -> str:
    return f'"v{customer.version}"'


async def public(session: AsyncSession, customer: Customer) -> dict[str, Any]:
    phones, emails = await repo.contacts(session, customer.id)
    return {
        "id": customer.id,
        "status": customer.status,
        "merged_into": customer.merged_into,
        "origin": customer.origin,
        "name": customer.name,
        "gender": customer.gender,
        "birth_date": customer.birth_date.isoformat() if customer.birth_date else None,
        "occupation": customer.occupation,
        "kind": customer.kind,
        "phones": phones,
        "emails": emails,
        "address": customer.address,
        "preferred_channel": customer.preferred_channel,
        "preferred_language": customer.preferred_language,
        "preferences": customer.preferences or {},
        "tags": customer.tags or [],
        "notes": customer.notes,
        "external_ids": await repo.external_ids(session, customer.id),
        "version": customer.version,
        "etag": etag(customer),
        "created_at": repo.aware(customer.created_at).isoformat(),
        "updated_at": repo.aware(customer.updated_at).isoformat(),
    }


def _set_contacts(session: AsyncSession, customer_id: str, kind: str, values: list[str]) -> None:
    for position, value in enumerate(dict.fromkeys(values)):
        session.add(ContactPoint(customer_id=customer_id, kind=kind, value=value, position=position))


async def _attach_external(session: AsyncSession, customer_id: str, refs: list[ExternalRef]) -> None:
    for ref in refs:
        owner = await repo.find_by_external(session, ref.source, ref.id)
        if owner is None:
            session.add(ExternalId(source=ref.source, external_id=ref.id, customer_id=customer_id))
            await session.flush()
        elif owner != customer_id and await repo.survivor_id(session, owner) != customer_id:
            raise Conflict(f"external id {ref.source}:{ref.id} belongs to customer {owner}",
                           errors=[{"field": "external_ids", "message": "already belongs to another customer"}])


async def create_customer(session: AsyncSession, data: CustomerCreate, *, origin: str = "api",
                          customer_id: str | None = None, now: datetime | None = None) -> Customer:
    now = now or utcnow()
    customer = Customer(
        id=customer_id or str(uuid.uuid4()), origin=origin, name=data.name, gender=data.gender,
        birth_date=data.birth_date, occupation=data.occupation, kind=data.kind,
        address=data.address.model_dump(exclude_none=True) if data.address else None,
        preferred_channel=data.preferred_channel, preferred_language=data.preferred_language,
        preferences=data.preferences.model_dump(exclude_defaults=True), tags=list(dict.fromkeys(data.tags)),
        notes=data.notes, created_at=now, updated_at=now,
    )
    session.add(customer)
    await session.flush()
    _set_contacts(session, customer.id, "phone", data.phones)
    _set_contacts(session, customer.id, "email", data.emails)
    await _attach_external(session, customer.id, data.external_ids)
    emit(session, ev.CustomerRegistered(
        customer_id=customer.id, name=customer.name, kind=customer.kind, preferred_language=customer.preferred_language,
        phones=list(dict.fromkeys(data.phones)), emails=list(dict.fromkeys(data.emails)), birth_date=customer.birth_date,
    ), customer.id)
    if data.consents:
        await change_consents(session, customer.id, data.consents, now=now)
    return customer


async def resolve(session: AsyncSession, data: CustomerResolve, *, origin: str = "api") -> tuple[Customer | None, str | None, list[str]]:
    """(customer, matched_by, other candidates); matched_by None means created (or not found when create is false)."""
    candidates: list[tuple[str, str]] = []
    for ref in data.external_ids:
        if (owner := await repo.find_by_external(session, ref.source, ref.id)) is not None:
            candidates.append((await repo.survivor_id(session, owner), "external_id"))
    for value in data.phones:
        candidates += [(c, "phone") for c in await repo.find_by_contact(session, "phone", value)]
    for value in data.emails:
        candidates += [(c, "email") for c in await repo.find_by_contact(session, "email", value)]
    for customer_id, matched_by in candidates:
        customer = await session.get(Customer, customer_id)
        if customer is None or customer.status != "active":
            continue
        others = list(dict.fromkeys(c for c, _ in candidates if c != customer_id))
        await _attach_external(session, customer.id, data.external_ids)
        return customer, matched_by, others
    if not data.create:
        return None, None, []
    return await create_customer(session, data, origin=origin), None, []


def _check_etag(customer: Customer, if_match: str | None) -> None:
    if if_match is None:
        raise Problem(428, "updating a customer file needs If-Match with the ETag you read", title="Precondition Required",
                      errors=[{"field": "If-Match", "location": "header", "message": "required"}])
    tags = [t.strip().removeprefix("W/") for t in if_match.split(",")]
    if "*" not in tags and etag(customer) not in tags:
        raise Problem(412, f"the customer file changed since you read it (now {etag(customer)}); read it again",
                      title="Precondition Failed", current_etag=etag(customer))


async def update_customer(session: AsyncSession, customer_id: str, patch: CustomerPatch, if_match: str | None,
                          *, now: datetime | None = None) -> Customer:
    now = now or utcnow()
    customer = await repo.get_customer(session, customer_id, for_update=True)
    _check_etag(customer, if_match)
    if customer.status != "active":
        raise Conflict(f"customer {customer_id} is {customer.status}; it cannot be changed")
    changed: list[str] = []
    fields = patch.model_fields_set
    for name in ("name", "gender", "birth_date", "occupation", "kind", "preferred_channel", "preferred_language", "notes"):
        if name in fields and getattr(patch, name) != getattr(customer, name):
            if name == "kind" and patch.kind is None:
                continue
            setattr(customer, name, getattr(patch, name))
            changed.append(name)
    if "address" in fields:
        address = patch.address.model_dump(exclude_none=True) if patch.address else None
        if address != customer.address:
            customer.address = address
            changed.append("address")
    if "preferences" in fields:
        prefs = patch.preferences.model_dump(exclude_defaults=True) if patch.preferences else {}
        if prefs != customer.preferences:
            customer.preferences = prefs
            changed.append("preferences")
    if "tags" in fields:
        tags = list(dict.fromkeys(patch.tags or []))
        if tags != customer.tags:
            customer.tags = tags
            changed.append("tags")
    phones, emails = await repo.contacts(session, customer.id)
    for kind, new, old in (("phone", patch.phones, phones), ("email", patch.emails, emails)):
        if kind + "s" in fields and new is not None and list(dict.fromkeys(new)) != old:
            await session.execute(delete(ContactPoint).where(ContactPoint.customer_id == customer.id,
                                                             ContactPoint.kind == kind))
            _set_contacts(session, customer.id, kind, new)
            changed.append(kind + "s")
    if "external_ids" in fields and patch.external_ids:
        before = await repo.external_ids(session, customer.id)
        await _attach_external(session, customer.id, patch.external_ids)
        if await repo.external_ids(session, customer.id) != before:
            changed.append("external_ids")
    if changed:
        customer.version += 1
        customer.updated_at = now
        phones, emails = await repo.contacts(session, customer.id)
        emit(session, ev.CustomerUpdated(
            customer_id=customer.id, changed=changed, name=customer.name, preferred_language=customer.preferred_language,
            phones=phones, emails=emails, birth_date=customer.birth_date,
        ), customer.id)
    return customer


# --- consents ------------------------------------------------------------------------------------------


async def change_consents(session: AsyncSession, customer_id: str, changes: list[ConsentIn], *,
                          now: datetime | None = None) -> list[Consent]:
    now = now or utcnow()
    customer = await repo.get_customer(session, customer_id)
    if customer.status != "active":
        raise Conflict(f"customer {customer_id} is {customer.status}")
    for change in changes:
        row = await session.get(Consent, (customer_id, change.channel, change.purpose))
        if row is not None and row.status == change.status:
            continue
        if row is None:
            session.add(Consent(customer_id=customer_id, channel=change.channel, purpose=change.purpose,
                                status=change.status, source=change.source, changed_at=now))
        else:
            row.status, row.source, row.changed_at = change.status, change.source, now
        session.add(ConsentHistory(customer_id=customer_id, channel=change.channel, purpose=change.purpose,
                                   status=change.status, source=change.source, changed_at=now))
        emit(session, ev.ConsentChanged(customer_id=customer_id, channel=change.channel, purpose=change.purpose,
                                        status=change.status, source=change.source, changed_at=now), customer_id)
        await session.flush()
    return await repo.consents(session, customer_id)


async def granted_channels(session: AsyncSession, customer_id: str, purpose: str) -> list[str]:
    return (await granted_channels_of(session, [customer_id], purpose))[customer_id]


async def granted_channels_of(session: AsyncSession, customer_ids: list[str], purpose: str) -> dict[str, list[str]]:
    """The channels each customer granted for `purpose`, in CHANNELS order; one query per 500 ids."""
    granted: dict[str, set[str]] = {cid: set() for cid in customer_ids}
    for chunk in repo.chunks(sorted(granted)):
        rows = await session.execute(select(Consent.customer_id, Consent.channel).where(
            Consent.customer_id.in_(chunk), Consent.purpose == purpose, Consent.status == "granted"))
        for cid, channel in rows:
            granted[cid].add(channel)
    return {cid: [c for c in CHANNELS if c in channels] for cid, channels in granted.items()}


async def customers_by_id(session: AsyncSession, customer_ids: list[str]) -> dict[str, Customer]:
    found: dict[str, Customer] = {}
    for chunk in repo.chunks(sorted(set(customer_ids))):
        for customer in (await session.execute(select(Customer).where(Customer.id.in_(chunk)))).scalars():
            found[customer.id] = customer
    return found


async def has_consent(session: AsyncSession, customer_id: str, purpose: str) -> bool:
    return bool(await granted_channels(session, customer_id, purpose))


# --- duplicates and merge ------------------------------------------------------------------------------


async def duplicates(session: AsyncSession, limit: int = 200) -> list[dict[str, Any]]:
    """Groups of active files that share a normalised phone or email, or have similar names and one birth date."""
    pairs: dict[tuple[str, str], set[str]] = defaultdict(set)
    rows = (await session.execute(
        select(ContactPoint.kind, ContactPoint.value, func.count(func.distinct(ContactPoint.customer_id)))
        .join(Customer, Customer.id == ContactPoint.customer_id).where(Customer.status == "active")
        .group_by(ContactPoint.kind, ContactPoint.value).having(func.count(func.distinct(ContactPoint.customer_id)) > 1)
        .limit(limit)
    )).all()
    for kind, value, _ in rows:
        ids = await repo.find_by_contact(session, kind, value)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                pairs[tuple(sorted((a, b)))].add(f"same {kind}")
    dated = (await session.execute(
        select(Customer.id, Customer.name, Customer.birth_date)
        .where(Customer.status == "active", Customer.birth_date.is_not(None), Customer.name.is_not(None))
        .order_by(Customer.birth_date, Customer.id)
    )).all()
    by_date: dict[date, list[tuple[str, str]]] = defaultdict(list)
    for cid, name, born in dated:
        by_date[born].append((cid, name))
    for group in by_date.values():
        for i, (a, name_a) in enumerate(group):
            for b, name_b in group[i + 1:]:
                if similar_names(name_a, name_b):
                    pairs[tuple(sorted((a, b)))].add("similar name and same birth date")
    return [{"customer_ids": list(k), "reasons": sorted(v)} for k, v in sorted(pairs.items())][:limit]


async def possible_duplicates(session: AsyncSession, customer: Customer) -> list[str]:
    phones, emails = await repo.contacts(session, customer.id)
    found: list[str] = []
    for kind, values in (("phone", phones), ("email", emails)):
        for value in values:
            found += [c for c in await repo.find_by_contact(session, kind, value) if c != customer.id]
    if customer.birth_date and customer.name:
        rows = (await session.execute(select(Customer.id, Customer.name).where(
            Customer.birth_date == customer.birth_date, Customer.status == "active", Customer.id != customer.id))).all()
        found += [cid for cid, name in rows if similar_names(name, customer.name)]
    return list(dict.fromkeys(found))


TIER_ORDER = ["regular", "silver", "gold", "platinum"]


async def merge(session: AsyncSession, surviving_id: str, merged_ids: list[str], *, reason: str, merged_by: str,
                now: datetime | None = None) -> MergeRecord:
    now = now or utcnow()
    merged_ids = list(dict.fromkeys(merged_ids))
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
    s_phones, s_emails = await repo.contacts(session, survivor.id)
    changed: set[str] = set()
    for other in others:
        phones, emails = await repo.contacts(session, other.id)
        new_phones = [p for p in phones if p not in s_phones]
        new_emails = [e for e in emails if e not in s_emails]
        if new_phones or new_emails:
            changed |= {"phones"} if new_phones else set()
            changed |= {"emails"} if new_emails else set()
        await session.execute(delete(ContactPoint).where(ContactPoint.customer_id == other.id))
        for position, value in enumerate(new_phones, start=len(s_phones)):
            session.add(ContactPoint(customer_id=survivor.id, kind="phone", value=value, position=position))
        for position, value in enumerate(new_emails, start=len(s_emails)):
            session.add(ContactPoint(customer_id=survivor.id, kind="email", value=value, position=position))
        s_phones += new_phones
        s_emails += new_emails
        await session.execute(update(ExternalId).where(ExternalId.customer_id == other.id).values(customer_id=survivor.id))
        await session.execute(update(Booking).where(Booking.customer_id == other.id).values(customer_id=survivor.id))
        await session.execute(update(ComplaintView).where(ComplaintView.customer_id == other.id)
                              .values(customer_id=survivor.id))
        await session.execute(update(FeedbackView).where(FeedbackView.customer_id == other.id)
                              .values(customer_id=survivor.id))
        await session.execute(update(ConsentHistory).where(ConsentHistory.customer_id == other.id)
                              .values(customer_id=survivor.id))
        for consent in await repo.consents(session, other.id):
            mine = await session.get(Consent, (survivor.id, consent.channel, consent.purpose))
            if mine is None:
                session.add(Consent(customer_id=survivor.id, channel=consent.channel, purpose=consent.purpose,
                                    status=consent.status, source=consent.source, changed_at=consent.changed_at))
            elif repo.aware(consent.changed_at) > repo.aware(mine.changed_at):
                mine.status, mine.source, mine.changed_at = consent.status, consent.source, consent.changed_at
            await session.delete(consent)
        theirs = await session.get(MembershipView, other.id)
        if theirs is not None:
            mine = await session.get(MembershipView, survivor.id)
            if mine is None:
                session.add(MembershipView(customer_id=survivor.id, tier=theirs.tier, points_balance=theirs.points_balance,
                                           expiring_points=theirs.expiring_points, expiring_on=theirs.expiring_on))
            else:
                mine.points_balance += theirs.points_balance
                mine.expiring_points += theirs.expiring_points
                if theirs.tier in TIER_ORDER and (mine.tier not in TIER_ORDER
                                                  or TIER_ORDER.index(theirs.tier) > TIER_ORDER.index(mine.tier)):
                    mine.tier = theirs.tier
            await session.delete(theirs)
        await session.execute(delete(CareTask).where(CareTask.customer_id == other.id, CareTask.status == "scheduled"))
        await session.execute(delete(CustomerValue).where(CustomerValue.customer_id == other.id))
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
        # the merged file keeps its id as a pointer, and nothing personal
        for name in PERSONAL_FIELDS:
            setattr(other, name, None)
        other.preferences, other.tags = {}, []
        other.status, other.merged_into = "merged", survivor.id
        other.version += 1
        other.updated_at = now
        await session.execute(update(Customer).where(Customer.merged_into == other.id).values(merged_into=survivor.id))
        await session.flush()
    survivor.version += 1
    survivor.updated_at = now
    record = MergeRecord(id=str(uuid.uuid4()), surviving_id=survivor.id, merged_ids=merged_ids, reason=reason,
                         merged_by=merged_by, merged_at=now)
    session.add(record)
    emit(session, ev.CustomersMerged(customer_id=survivor.id, merged_ids=merged_ids, reason=reason), survivor.id)
    if changed:
        emit(session, ev.CustomerUpdated(
            customer_id=survivor.id, changed=sorted(changed), name=survivor.name,
            preferred_language=survivor.preferred_language, phones=s_phones, emails=s_emails,
            birth_date=survivor.birth_date,
        ), survivor.id)
    await session.flush()
    await recompute_customer(session, survivor.id, now=now)
    return record


# --- erasure -------------------------------------------------------------------------------------------


async def erase(session: AsyncSession, customer_id: str, *, requested_by: str, services: list[str],
                now: datetime | None = None) -> ErasureRequest:
    now = now or utcnow()
    customer = await repo.get_customer(session, customer_id, for_update=True)
    if customer.status == "merged":
        raise Conflict(f"customer {customer_id} was merged into {customer.merged_into}; erase that file",
                       merged_into=customer.merged_into)
    if customer.status == "erased":
        existing = (await session.execute(select(ErasureRequest).where(ErasureRequest.customer_id == customer_id)
                                          .order_by(ErasureRequest.requested_at.desc()))).scalars().first()
        if existing is not None:
            return existing
    merged = list((await session.execute(select(Customer.id).where(Customer.merged_into == customer_id))).scalars())
    keys = [customer_id, *merged]
    for name in PERSONAL_FIELDS:
        setattr(customer, name, None)
    customer.preferences, customer.tags = {}, []
    customer.status = "erased"
    customer.version += 1
    customer.updated_at = now
    for table in (ContactPoint, ExternalId, Consent, ConsentHistory, CareTask):
        await session.execute(delete(table).where(table.customer_id.in_(keys)))
    await _scrub_events(session, keys)
    request = ErasureRequest(request_id=str(uuid.uuid4()), customer_id=customer_id, requested_by=requested_by,
                             requested_at=now, services=list(dict.fromkeys([SERVICE, *services])))
    session.add(request)
    session.add(ErasureConfirmation(request_id=request.request_id, service=SERVICE, customer_id=customer_id, erased_at=now))
    await session.flush()
    emit(session, ev.CustomerErased(customer_id=customer_id, request_id=request.request_id), customer_id)
    emit(session, ev.CustomerDataErased(service=SERVICE, customer_id=customer_id, request_id=request.request_id,
                                        erased_at=now), customer_id)
    return request


_PERSONAL_EVENT_DATA = {"name": None, "phones": [], "emails": [], "birth_date": None}


async def _scrub_events(session: AsyncSession, keys: list[str]) -> None:
    """Personal data in our outbox and dead letters about these customers: published rows go, pending ones are redacted."""
    await session.execute(delete(outbox.OutboxRecord).where(outbox.OutboxRecord.key.in_(keys),
                                                            outbox.OutboxRecord.published_at.is_not(None)))
    pending = (await session.execute(select(outbox.OutboxRecord).where(
        outbox.OutboxRecord.key.in_(keys), outbox.OutboxRecord.published_at.is_(None)))).scalars()
    for row in pending:
        payload = json.loads(row.payload)
        data = payload.get("data", {})
        for name, blank in _PERSONAL_EVENT_DATA.items():
            if name in data:
                data[name] = blank
        row.payload = json.dumps(payload, ensure_ascii=False)
    await session.execute(delete(DeadLetter).where(DeadLetter.key.in_(keys)))


async def erasure_report(session: AsyncSession, customer_id: str) -> dict[str, Any]:
    request = (await session.execute(select(ErasureRequest).where(ErasureRequest.customer_id == customer_id)
                                     .order_by(ErasureRequest.requested_at.desc()))).scalars().first()
    if request is None:
        raise NotFound("erasure request for customer", customer_id)
    confirmations = {c.service: c for c in (await session.execute(
        select(ErasureConfirmation).where(ErasureConfirmation.request_id == request.request_id))).scalars()}
    services = list(dict.fromkeys([*request.services, *confirmations]))
    return {
        "customer_id": customer_id,
        "request_id": request.request_id,
        "requested_at": repo.aware(request.requested_at).isoformat(),
        "requested_by": request.requested_by,
        "services": [
            {"service": s, "confirmed": s in confirmations,
             "erased_at": repo.aware(confirmations[s].erased_at).isoformat() if s in confirmations else None}
            for s in services
        ],
        "complete": all(s in confirmations for s in request.services),
    }


async def record_erasure_confirmation(session: AsyncSession, data: ev.CustomerDataErased) -> None:
    if await session.get(ErasureConfirmation, (data.request_id, data.service)) is None:
        session.add(ErasureConfirmation(request_id=data.request_id, service=data.service, customer_id=data.customer_id,
                                        erased_at=data.erased_at))


# --- bookings ------------------------------------------------------------------------------------------
#
# The consumer path records facts per event and recomputes values once per batch: handlers add rows
# (booking, catalog, stub files) without flushing and note the customers they touched in session.info;
# the after_batch hook `recompute_touched` then scores every touched customer once, against population
# statistics read once. Within one consumer transaction the lookups below are remembered in session.info,
# so a batch flushes its new rows together instead of once per event. In a savepoint (the consumer's
# careful, one-event-at-a-time mode, and dead-letter replay) nothing is remembered across events: a
# rolled-back event must not leave a cached row behind.

TOUCHED = "profile.touched"  # customer ids whose value the batch must recompute
_SURVIVORS = "profile.survivors"  # customer id -> surviving id, this transaction
_BOOKINGS = "profile.bookings"  # booking id -> Booking seen or added this transaction
_PRODUCTS = "profile.products"  # product id -> Product seen or added this transaction
_DEFERRED = "profile.deferred_bookings"  # booking id -> row values, written by write_deferred
_DEFERRED_PRODUCTS = "profile.deferred_products"  # product id -> (latest Product seen, when)


def touch(session: AsyncSession, *customer_ids: str) -> None:
    """Note customers whose value and churn the end of this batch (`recompute_touched`) recomputes."""
    session.info.setdefault(TOUCHED, set()).update(customer_ids)


def _memo(session: AsyncSession, name: str) -> dict[str, Any]:
    if session.in_nested_transaction():
        return {}
    return session.info.setdefault(name, {})


async def ensure_customer(session: AsyncSession, customer_id: str) -> str:
    """The surviving id for this customer id; a stub file when the id is new to us."""
    known = _memo(session, _SURVIVORS)
    if customer_id not in known:
        with session.no_autoflush:
            survivor, exists = await repo.resolve_survivor(session, customer_id)
        if not exists:
            session.add(Customer(id=survivor, origin="booking"))
        known[customer_id] = known[survivor] = survivor
    return known[customer_id]


async def upsert_product(session: AsyncSession, product: ev.Product, now: datetime) -> None:
    seen = _memo(session, _PRODUCTS)
    row = seen.get(product.id)
    if row is None:
        with session.no_autoflush:
            row = await session.get(Product, product.id)
    if row is None:
        row = Product(id=product.id, name=product.name, kind=product.kind, destination=product.destination,
                      tags=list(product.tags), updated_at=now)
        session.add(row)
    elif (row.name, row.kind, row.destination, row.tags) != (product.name, product.kind, product.destination,
                                                              list(product.tags)):
        row.name, row.kind, row.destination, row.tags, row.updated_at = (
            product.name, product.kind, product.destination, list(product.tags), now)
    seen[product.id] = row


async def _booking(session: AsyncSession, booking_id: str) -> Booking | None:
    seen = _memo(session, _BOOKINGS)
    if booking_id not in seen:
        with session.no_autoflush:
            seen[booking_id] = await session.get(Booking, booking_id)
    return seen[booking_id]


async def record_booking(session: AsyncSession, data: ev.BookingCompleted, *, now: datetime,
                         tz: ZoneInfo | None = None) -> bool:
    """Booking history + catalog, now; False when this booking id is already known (a retry under a new event id).
    The customer's value is recomputed at the end of the batch (`touch`, then `recompute_touched`)."""
    await upsert_product(session, data.product, now)
    if data.booking_id in session.info.get(_DEFERRED, {}) or await _booking(session, data.booking_id) is not None:
        return False
    customer_id = await ensure_customer(session, data.customer_id)
    row = Booking(**_booking_values(data, customer_id))
    session.add(row)
    _memo(session, _BOOKINGS)[data.booking_id] = row
    touch(session, customer_id)
    return True


def _booking_values(data: ev.BookingCompleted, customer_id: str) -> dict[str, Any]:
    return {"booking_id": data.booking_id, "customer_id": customer_id, "channel": data.channel,
            "product_id": data.product.id, "amount": data.amount, "currency": data.currency,
            "party_size": data.party_size, "travel_start": data.travel_start, "travel_end": data.travel_end,
            "completed_at": data.completed_at, "status": "completed", "cancelled_at": None, "cancel_reason": None,
            "refunded_amount": None}


def defer_booking(session: AsyncSession, data: ev.BookingCompleted, *, now: datetime) -> None:
    """The consumer's fast path: keep the booking (and its product) for `write_deferred` at the end of the batch,
    which writes them all with a few set-based statements. The first copy of a booking id wins, as in
    `record_booking`; the catalog takes the last version of each product."""
    session.info.setdefault(_DEFERRED_PRODUCTS, {})[data.product.id] = (data.product, now)
    session.info.setdefault(_DEFERRED, {}).setdefault(data.booking_id, _booking_values(data, data.customer_id))


async def write_deferred(session: AsyncSession) -> None:
    """after_batch hook (before `recompute_touched`): the batch's deferred products and bookings, set-based.
    If a statement fails the whole batch fails, and the consumer redoes it one event at a time, in savepoints,
    where handlers record bookings at once (`record_booking`): a bad booking is parked alone."""
    products: dict[str, tuple[ev.Product, datetime]] = session.info.pop(_DEFERRED_PRODUCTS, None) or {}
    bookings: dict[str, dict[str, Any]] = session.info.pop(_DEFERRED, None) or {}
    rows: dict[str, Product] = {}
    for chunk in repo.chunks(sorted(products)):
        rows.update((p.id, p) for p in (await session.execute(select(Product).where(Product.id.in_(chunk)))).scalars())
    for pid, (product, now) in products.items():
        row = rows.get(pid)
        if row is None:
            session.add(Product(id=product.id, name=product.name, kind=product.kind, destination=product.destination,
                                tags=list(product.tags), updated_at=now))
        elif (row.name, row.kind, row.destination, row.tags) != (product.name, product.kind, product.destination,
                                                                  list(product.tags)):
            row.name, row.kind, row.destination, row.tags, row.updated_at = (
                product.name, product.kind, product.destination, list(product.tags), now)
    if not bookings:
        return
    known: set[str] = set()
    for chunk in repo.chunks(sorted(bookings)):
        known.update((await session.execute(select(Booking.booking_id).where(Booking.booking_id.in_(chunk)))).scalars())
    # a retry of a stored booking is ignored, but a cancellation this batch noted on it is not
    late = {bid: b for bid, b in bookings.items() if bid in known and b["status"] == "cancelled"}
    for chunk in repo.chunks(sorted(late)):
        for row in (await session.execute(select(Booking).where(Booking.booking_id.in_(chunk)))).scalars():
            if row.status != "cancelled":
                b = late[row.booking_id]
                row.status, row.cancelled_at, row.cancel_reason, row.refunded_amount = (
                    "cancelled", b["cancelled_at"], b["cancel_reason"], b["refunded_amount"])
                touch(session, row.customer_id)
    fresh = [b for bid, b in bookings.items() if bid not in known]
    if not fresh:
        return
    survivors = await repo.survivors(session, {b["customer_id"] for b in fresh})
    now = utcnow()
    stubs = sorted({survivor for survivor, exists in survivors.values() if not exists})
    if stubs:
        await session.execute(insert(Customer), [
            {"id": cid, "status": "active", "origin": "booking", "kind": "individual", "preferences": {}, "tags": [],
             "version": 1, "created_at": now, "updated_at": now} for cid in stubs])
    for b in fresh:
        b["customer_id"] = survivors[b["customer_id"]][0]
    await session.execute(insert(Booking), fresh)
    touch(session, *{b["customer_id"] for b in fresh})


async def record_cancellation(session: AsyncSession, data: ev.BookingCancelled, *, now: datetime,
                              tz: ZoneInfo | None = None) -> bool:
    deferred = session.info.get(_DEFERRED, {}).get(data.booking_id)
    if deferred is not None:  # completed earlier in this batch, not written yet
        if deferred["status"] == "cancelled":
            return False
        deferred.update(status="cancelled", cancelled_at=data.cancelled_at or now, cancel_reason=data.reason,
                        refunded_amount=data.refunded_amount)
        return True
    booking = await _booking(session, data.booking_id)
    if booking is None or booking.status == "cancelled":
        return False
    booking.status = "cancelled"
    booking.cancelled_at = data.cancelled_at or now
    booking.cancel_reason = data.reason
    booking.refunded_amount = data.refunded_amount
    touch(session, booking.customer_id)
    return True


async def recompute_touched(session: AsyncSession) -> None:
    """The profile consumer's after_batch hook: recompute, once each, the customers the batch's handlers touched."""
    touched = session.info.pop(TOUCHED, None)
    for name in (_SURVIVORS, _BOOKINGS, _PRODUCTS):
        session.info.pop(name, None)
    if not touched:
        return
    existing: list[str] = []
    for chunk in repo.chunks(sorted(touched)):  # a stub whose event was rolled back has no file to value
        existing += (await session.execute(select(Customer.id).where(Customer.id.in_(chunk)))).scalars()
    await recompute_customers(session, existing, now=utcnow(), tz=settings_of(session).tz)


# --- value, loyalty, churn -----------------------------------------------------------------------------


def _signals_from(complaints: list[ComplaintView], feedback: list[FeedbackView],
                  member: MembershipView | None) -> analytics.Signals:
    nps = [f.nps for f in feedback if f.nps is not None]
    detractor_flags = [f for f in feedback if f.detractor]
    last_nps = nps[-1] if nps else (detractor_flags[-1].nps if detractor_flags else None)
    return analytics.Signals(
        open_complaints=sum(1 for c in complaints if c.status == "open"),
        badly_handled=sum(1 for c in complaints if c.sla_met is False or c.satisfied is False),
        last_nps=last_nps,
        csat=[f.csat for f in feedback if f.csat is not None],
        expiring_points=member.expiring_points if member else 0,
        expiring_on=member.expiring_on if member else None,
    )


def _apply_churn(session: AsyncSession, row: CustomerValue, score: float, reasons: list[str], threshold: float,
                 now: datetime) -> None:
    row.churn_score, row.churn_reasons = score, reasons
    if score >= threshold and not row.at_risk:
        row.at_risk, row.at_risk_since = True, now
        emit(session, ev.CustomerAtRisk(customer_id=row.customer_id, score=score, reasons=reasons), row.customer_id)
    elif score < threshold and row.at_risk:
        row.at_risk, row.at_risk_since = False, None  # the episode is over; a new crossing is a new episode


class _Population:
    """The buyers' recency, frequency and value, sorted once, to score any number of customers against."""

    def __init__(self, lasts: list[datetime], freqs: list[int], moneys: list[Decimal]) -> None:
        self.lasts, self.freqs, self.moneys = sorted(lasts), sorted(freqs), sorted(moneys)
        self.prefix = [Decimal("0")]
        for m in self.moneys:
            self.prefix.append(self.prefix[-1] + m)
        self.total = self.prefix[-1]

    def score(self, f: analytics.Facts, thresholds: tuple[float, float, float]) -> tuple[int, int, int, str]:
        """(r, f, m, value class) of a buyer who is part of this population."""
        greater = self.total - self.prefix[bisect.bisect_right(self.moneys, f.monetary)]
        return (analytics.quintile(f.last, self.lasts), analytics.quintile(f.frequency, self.freqs),
                analytics.quintile(f.monetary, self.moneys),
                analytics.value_class(f.monetary, greater, self.total, thresholds))


async def recompute_customers(session: AsyncSession, customer_ids: Iterable[str], *, now: datetime | None = None,
                              tz: ZoneInfo = DEFAULT_TZ, config: ValueConfig | None = None) -> dict[str, CustomerValue]:
    """These customers' value and churn, each scored against the population: the stored values of everyone
    else plus these customers' fresh facts. Set-based: a handful of queries however many customers."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    now = now or utcnow()
    config = config or await get_config(session)
    trips: dict[str, list[tuple[datetime, Decimal]]] = defaultdict(list)
    complaints: dict[str, list[ComplaintView]] = defaultdict(list)
    feedback: dict[str, list[FeedbackView]] = defaultdict(list)
    members: dict[str, MembershipView] = {}
    rows: dict[str, CustomerValue] = {}
    for chunk in repo.chunks(ids):
        for cid, at, amount in (await session.execute(select(Booking.customer_id, Booking.completed_at, Booking.amount)
                                                      .where(Booking.customer_id.in_(chunk),
                                                             Booking.status == "completed"))).all():
            trips[cid].append((repo.aware(at), Decimal(amount)))
        for c in (await session.execute(select(ComplaintView).where(ComplaintView.customer_id.in_(chunk))
                                        .order_by(ComplaintView.filed_at))).scalars():
            complaints[c.customer_id].append(c)
        for fb in (await session.execute(select(FeedbackView).where(FeedbackView.customer_id.in_(chunk))
                                         .order_by(FeedbackView.submitted_at, FeedbackView.response_id))).scalars():
            feedback[fb.customer_id].append(fb)
        members.update((m.customer_id, m) for m in (await session.execute(
            select(MembershipView).where(MembershipView.customer_id.in_(chunk)))).scalars())
        rows.update((r.customer_id, r) for r in (await session.execute(
            select(CustomerValue).where(CustomerValue.customer_id.in_(chunk)))).scalars())
    facts = {cid: analytics.facts(trips.get(cid, [])) for cid in ids}
    population = None
    if any(f.frequency > 0 for f in facts.values()):
        # one read of the population: everyone else's stored value, and these customers' fresh facts
        lasts: list[datetime] = []
        freqs: list[int] = []
        moneys: list[Decimal] = []
        mine = set(ids)
        v = CustomerValue
        for cid, last, frequency, monetary in (await session.execute(
                select(v.customer_id, v.last_booking_at, v.frequency, v.monetary).where(v.frequency > 0))).all():
            if cid not in mine:
                lasts.append(repo.aware(last))
                freqs.append(frequency)
                moneys.append(Decimal(monetary))
        for f in facts.values():
            if f.frequency > 0:
                lasts.append(f.last)
                freqs.append(f.frequency)
                moneys.append(f.monetary)
        population = _Population(lasts, freqs, moneys)
    today = now.astimezone(tz).date()
    for cid in ids:
        f = facts[cid]
        row = rows.get(cid)
        if row is None:
            row = rows[cid] = CustomerValue(customer_id=cid)
            session.add(row)
        row.frequency, row.monetary, row.first_booking_at, row.last_booking_at, row.rhythm_days = (
            f.frequency, f.monetary, f.first, f.last, f.rhythm_days)
        row.recency_days = analytics.business_days_between(f.last, now, tz) if f.last else None
        if f.frequency > 0:
            row.r_score, row.f_score, row.m_score, row.value_class = population.score(f, config.value_class_thresholds)
        else:
            row.r_score = row.f_score = row.m_score = None
            row.value_class = None
        _derive(row, f, now)
        score, reasons = analytics.churn(f.frequency, row.recency_days, f.rhythm_days,
                                         _signals_from(complaints.get(cid, []), feedback.get(cid, []),
                                                       members.get(cid)), today)
        _apply_churn(session, row, score, reasons, config.churn_threshold, now)
        row.computed_at = now
    return rows


async def recompute_customer(session: AsyncSession, customer_id: str, *, now: datetime | None = None,
                             tz: ZoneInfo = DEFAULT_TZ, config: ValueConfig | None = None) -> CustomerValue:
    """One customer's value and churn, scored against the stored rest of the population."""
    rows = await recompute_customers(session, [customer_id], now=now, tz=tz, config=config)
    await session.flush()
    return rows[customer_id]


def _derive(row: CustomerValue, f: analytics.Facts, now: datetime) -> None:
    row.lifetime_value = analytics.lifetime_value(f, now)
    row.repeat_status = analytics.repeat_status(f.frequency)
    row.loyalty_status = analytics.loyalty_status(f.frequency, row.recency_days, f.rhythm_days)
    row.quadrant = analytics.quadrant(row.value_class, row.loyalty_status)


async def recompute_all(session: AsyncSession, *, now: datetime | None = None, tz: ZoneInfo = DEFAULT_TZ) -> int:
    """The nightly batch: every customer's value, scores against the whole population, and churn."""
    now = now or utcnow()
    config = await get_config(session)
    by_customer: dict[str, list[tuple[datetime, Decimal]]] = defaultdict(list)
    for cid, at, amount in (await session.execute(select(Booking.customer_id, Booking.completed_at, Booking.amount)
                                                  .where(Booking.status == "completed"))).all():
        by_customer[cid].append((repo.aware(at), Decimal(amount)))
    active = set((await session.execute(select(Customer.id).where(Customer.status.in_(("active", "erased"))))).scalars())
    ids = active | set(by_customer)
    all_facts = {cid: analytics.facts(by_customer.get(cid, [])) for cid in ids}
    buyers = {cid: f for cid, f in all_facts.items() if f.frequency > 0}
    lasts = sorted(f.last.timestamp() for f in buyers.values())
    freqs = sorted(f.frequency for f in buyers.values())
    moneys = sorted(float(f.monetary) for f in buyers.values())
    total = sum((f.monetary for f in buyers.values()), Decimal("0"))
    desc = sorted(buyers.values(), key=lambda f: f.monetary, reverse=True)
    greater_of: dict[Decimal, Decimal] = {}
    running = Decimal("0")
    for i, f in enumerate(desc):
        if f.monetary not in greater_of:
            greater_of[f.monetary] = running
        running += f.monetary
    complaints: dict[str, list[ComplaintView]] = defaultdict(list)
    for c in (await session.execute(select(ComplaintView).order_by(ComplaintView.filed_at))).scalars():
        complaints[c.customer_id].append(c)
    feedback: dict[str, list[FeedbackView]] = defaultdict(list)
    for fb in (await session.execute(select(FeedbackView).order_by(FeedbackView.submitted_at,
                                                                   FeedbackView.response_id))).scalars():
        feedback[fb.customer_id].append(fb)
    members = {m.customer_id: m for m in (await session.execute(select(MembershipView))).scalars()}
    rows = {r.customer_id: r for r in (await session.execute(select(CustomerValue))).scalars()}
    today = now.astimezone(tz).date()
    for cid in sorted(ids):
        f = all_facts[cid]
        row = rows.get(cid)
        if row is None:
            row = CustomerValue(customer_id=cid)
            session.add(row)
        row.frequency, row.monetary, row.first_booking_at, row.last_booking_at, row.rhythm_days = (
            f.frequency, f.monetary, f.first, f.last, f.rhythm_days)
        row.recency_days = analytics.business_days_between(f.last, now, tz) if f.last else None
        if f.frequency > 0:
            row.r_score = analytics.quintile(f.last.timestamp(), lasts)
            row.f_score = analytics.quintile(f.frequency, freqs)
            row.m_score = analytics.quintile(float(f.monetary), moneys)
            row.value_class = analytics.value_class(f.monetary, greater_of[f.monetary], total,
                                                    config.value_class_thresholds)
        else:
            row.r_score = row.f_score = row.m_score = None
            row.value_class = None
        _derive(row, f, now)
        score, reasons = analytics.churn(f.frequency, row.recency_days, f.rhythm_days,
                                         _signals_from(complaints.get(cid, []), feedback.get(cid, []), members.get(cid)),
                                         today)
        _apply_churn(session, row, score, reasons, config.churn_threshold, now)
        row.computed_at = now
    await session.flush()
    log.info("customer values recomputed", extra={"customers": len(ids)})
    return len(ids)


def value_public(row: CustomerValue | None, customer_id: str) -> dict[str, Any]:
    if row is None:
        row = CustomerValue(customer_id=customer_id)
    return {
        "customer_id": customer_id,
        "recency_days": row.recency_days,
        "frequency": row.frequency,
        "monetary": str(Decimal(row.monetary).quantize(analytics.CENT)),
        "rfm": {"r": row.r_score, "f": row.f_score, "m": row.m_score},
        "rhythm_days": row.rhythm_days,
        "first_booking_at": repo.aware(row.first_booking_at).isoformat() if row.first_booking_at else None,
        "last_booking_at": repo.aware(row.last_booking_at).isoformat() if row.last_booking_at else None,
        "lifetime_value": str(Decimal(row.lifetime_value).quantize(analytics.CENT)),
        "repeat_status": row.repeat_status,
        "loyalty_status": row.loyalty_status,
        "value_class": row.value_class,
        "quadrant": row.quadrant,
        "treatment": analytics.TREATMENTS.get(row.quadrant or ""),
        "churn": {"score": row.churn_score, "reasons": row.churn_reasons or [], "at_risk": row.at_risk,
                  "at_risk_since": repo.aware(row.at_risk_since).isoformat() if row.at_risk_since else None},
        "computed_at": repo.aware(row.computed_at).isoformat() if row.computed_at else None,
    }


# --- projections of other services' events -----------------------------------------------------------


async def member_view(session: AsyncSession, customer_id: str) -> MembershipView:
    row = await session.get(MembershipView, customer_id)
    if row is None:
        row = MembershipView(customer_id=customer_id)
        session.add(row)
    row.updated_at = utcnow()
    return row


async def complaint_view(session: AsyncSession, complaint_id: str, customer_id: str) -> ComplaintView:
    row = await session.get(ComplaintView, complaint_id)
    if row is None:
        row = ComplaintView(complaint_id=complaint_id, customer_id=customer_id, status="open")
        session.add(row)
    row.updated_at = utcnow()
    return row


# --- customer care -------------------------------------------------------------------------------------

CARE_PURPOSE = {"birthday": "marketing", "anniversary": "marketing", "win-back": "marketing",
                "post-trip-thanks": "service"}
CARE_WINDOW_DAYS = 7


def _local(day: date, hour: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(ZoneInfo("UTC"))


def _next_anniversary(original: date, today: date) -> date:
    for year in (today.year, today.year + 1):
        try:
            candidate = original.replace(year=year)
        except ValueError:  # 29 February in a common year
            candidate = date(year, 2, 28)
        if candidate >= today:
            return candidate
    raise AssertionError("unreachable")


async def schedule_care(session: AsyncSession, *, now: datetime, tz: ZoneInfo = DEFAULT_TZ) -> int:
    """Create the care tasks falling due in the next week (birthday, post-trip thanks, first-trip anniversary, win-back)."""
    config = await get_config(session)
    today = now.astimezone(tz).date()
    horizon = today + timedelta(days=CARE_WINDOW_DAYS)
    wanted: list[tuple[str, str, str, datetime]] = []  # customer, kind, occasion, due
    for cid, born in (await session.execute(select(Customer.id, Customer.birth_date).where(
            Customer.status == "active", Customer.birth_date.is_not(None)))).all():
        day = _next_anniversary(born, today)
        if day <= horizon:
            wanted.append((cid, "birthday", str(day.year), _local(day, 9, tz)))
    trip_end_from = today - timedelta(days=config.post_trip_days + CARE_WINDOW_DAYS)
    for cid, booking_id, end in (await session.execute(select(Booking.customer_id, Booking.booking_id, Booking.travel_end)
                                                       .where(Booking.status == "completed",
                                                              Booking.travel_end >= trip_end_from,
                                                              Booking.travel_end <= horizon))).all():
        day = end + timedelta(days=config.post_trip_days)
        if today - timedelta(days=CARE_WINDOW_DAYS) <= day <= horizon:
            wanted.append((cid, "post-trip-thanks", booking_id, _local(day, 10, tz)))
    firsts: dict[str, date] = {}
    for cid, start, at in (await session.execute(select(Booking.customer_id, Booking.travel_start, Booking.completed_at)
                                                 .where(Booking.status == "completed"))).all():
        day = start or repo.aware(at).astimezone(tz).date()
        if cid not in firsts or day < firsts[cid]:
            firsts[cid] = day
    for cid, first in firsts.items():
        day = _next_anniversary(first, today)
        if day.year > first.year and day <= horizon:
            wanted.append((cid, "anniversary", str(day.year), _local(day, 10, tz)))
    for cid, since in (await session.execute(select(CustomerValue.customer_id, CustomerValue.at_risk_since)
                                             .where(CustomerValue.at_risk.is_(True)))).all():
        wanted.append((cid, "win-back", repo.aware(since).date().isoformat() if since else "open", now))
    if not wanted:
        return 0
    status = dict((await session.execute(select(Customer.id, Customer.status).where(
        Customer.id.in_({w[0] for w in wanted})))).all())
    existing = set((await session.execute(select(CareTask.customer_id, CareTask.kind, CareTask.occasion).where(
        CareTask.customer_id.in_({w[0] for w in wanted})))).all())
    created = 0
    for cid, kind, occasion, due in wanted:
        if status.get(cid) != "active" or (cid, kind, occasion) in existing:
            continue
        existing.add((cid, kind, occasion))
        session.add(CareTask(id=str(uuid.uuid4()), customer_id=cid, kind=kind, occasion=occasion, due_at=due))
        created += 1
    await session.flush()
    return created


def in_quiet_hours(local: datetime, quiet: tuple[int, int]) -> bool:
    start, end = quiet
    hour = local.hour
    return (start <= hour or hour < end) if start > end else (start <= hour < end)


async def emit_due_care(session: AsyncSession, *, now: datetime, tz: ZoneInfo = DEFAULT_TZ) -> dict[str, int]:
    """Emit care-task-due for tasks now due through a consented channel; nothing in quiet hours."""
    config = await get_config(session)
    if in_quiet_hours(now.astimezone(tz), config.quiet_hours):
        return {"emitted": 0, "skipped": 0, "deferred": 1}
    tasks = list((await session.execute(select(CareTask).where(CareTask.status == "scheduled", CareTask.due_at <= now)
                                        .order_by(CareTask.due_at, CareTask.id).limit(5000))).scalars())
    counts = {"emitted": 0, "skipped": 0, "deferred": 0}
    customers = await customers_by_id(session, [t.customer_id for t in tasks])
    ids = list(customers)
    consented = {purpose: await granted_channels_of(session, ids, purpose) for purpose in set(CARE_PURPOSE.values())}
    for task in tasks:
        customer = customers.get(task.customer_id)
        if customer is None or customer.status != "active":
            task.status, task.note = "skipped", "customer file not active"
            counts["skipped"] += 1
            continue
        channels = consented[CARE_PURPOSE[task.kind]][customer.id]
        if not channels:
            task.status, task.note = "skipped", f"no channel consented for {CARE_PURPOSE[task.kind]}"
            counts["skipped"] += 1
            continue
        channel = customer.preferred_channel if customer.preferred_channel in channels else channels[0]
        task.status, task.channel, task.emitted_at = "emitted", channel, now
        emit(session, ev.CareTaskDue(customer_id=customer.id, task_id=task.id, kind=task.kind, channel=channel,
                                     language=customer.preferred_language or "zh-CN", due_at=repo.aware(task.due_at)),
             customer.id)
        counts["emitted"] += 1
    return counts


def care_public(task: CareTask) -> dict[str, Any]:
    return {"id": task.id, "customer_id": task.customer_id, "kind": task.kind, "occasion": task.occasion,
            "due_at": repo.aware(task.due_at).isoformat(), "status": task.status, "channel": task.channel,
            "note": task.note, "emitted_at": repo.aware(task.emitted_at).isoformat() if task.emitted_at else None}


# --- recommendations -----------------------------------------------------------------------------------

INTEREST_TAGS = {
    "nature": {"nature", "scenic", "hiking", "mountain", "lake", "自然", "山水"},
    "history": {"history", "heritage", "culture", "ancient", "历史", "古迹"},
    "culture": {"culture", "history", "heritage", "art", "museum", "文化"},
    "beach": {"beach", "island", "sea", "海滨"},
    "food": {"food", "cuisine", "美食"},
    "family": {"family", "kids", "亲子"},
}


async def recommendations(session: AsyncSession, customer_id: str, *, now: datetime, limit: int = 5) -> dict[str, Any]:
    customer = await repo.get_customer(session, customer_id)
    if customer.status != "active":
        raise Conflict(f"customer {customer_id} is {customer.status}")
    bookings = [b for b in await repo.bookings_of(session, customer_id) if b.status == "completed"]
    catalog = await repo.products_by_id(session)
    recent_cut = now - timedelta(days=365)
    exclude = {b.product_id for b in bookings if repo.aware(b.completed_at) >= recent_cut}
    if bookings:
        exclude.add(bookings[0].product_id)  # what was just booked
    popularity = dict((await session.execute(select(Booking.product_id, func.count(func.distinct(Booking.customer_id)))
                                              .where(Booking.status == "completed").group_by(Booking.product_id))).all())
    personalised = await has_consent(session, customer_id, "profiling")
    items: list[dict[str, Any]] = []
    if not personalised:
        for pid, product in catalog.items():
            if pid not in exclude and popularity.get(pid):
                items.append({"product": _product_public(product), "score": float(popularity[pid]),
                              "reasons": [f"popular with travellers ({popularity[pid]} booked it)"]})
    else:
        prefs = customer.preferences or {}
        interests = [i.casefold() for i in prefs.get("interests", [])]
        destinations = {d.casefold() for d in prefs.get("destinations", [])}
        booked_tags: dict[str, str] = {}
        for b in bookings:
            if (p := catalog.get(b.product_id)) is not None:
                for tag in p.tags:
                    booked_tags.setdefault(tag.casefold(), p.name)
        mine = {b.product_id for b in bookings}
        co: dict[str, int] = {}
        if mine:
            peers = select(Booking.customer_id).where(Booking.product_id.in_(mine), Booking.customer_id != customer_id,
                                                      Booking.status == "completed").distinct()
            co = dict((await session.execute(
                select(Booking.product_id, func.count(func.distinct(Booking.customer_id)))
                .where(Booking.customer_id.in_(peers), Booking.product_id.not_in(mine), Booking.status == "completed")
                .group_by(Booking.product_id))).all())
        for pid, product in catalog.items():
            if pid in exclude:
                continue
            tags = {t.casefold() for t in product.tags}
            score, reasons = 0.0, []
            for interest in interests:
                if tags & INTEREST_TAGS.get(interest, {interest}):
                    score += 3
                    reasons.append(f"matches your interest in {interest}")
            if product.destination and product.destination.casefold() in destinations:
                score += 2
                reasons.append(f"{product.destination} is on your list of destinations")
            liked = sorted({booked_tags[t] for t in tags if t in booked_tags})
            if liked:
                score += min(2, len(liked))
                reasons.append(f"like {', '.join(liked[:2])}, which you booked")
            if co.get(pid):
                score += 1.5 * min(co[pid], 3)
                reasons.append(f"travellers like you also booked it ({co[pid]})")
            if score > 0:
                items.append({"product": _product_public(product), "score": score, "reasons": reasons})
    items.sort(key=lambda i: (-i["score"], i["product"]["id"]))
    return {"customer_id": customer_id, "personalised": personalised,
            "note": None if personalised else "no profiling consent: popular products only",
            "items": items[:limit]}


def _product_public(p: Product) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "kind": p.kind, "destination": p.destination, "tags": p.tags}


def booking_public(b: Booking, product: Product | None = None) -> dict[str, Any]:
    return {
        "booking_id": b.booking_id, "customer_id": b.customer_id, "channel": b.channel,
        "product": _product_public(product) if product else {"id": b.product_id},
        "amount": str(b.amount), "currency": b.currency, "party_size": b.party_size,
        "travel_start": b.travel_start.isoformat() if b.travel_start else None,
        "travel_end": b.travel_end.isoformat() if b.travel_end else None,
        "completed_at": repo.aware(b.completed_at).isoformat(), "status": b.status,
        "cancelled_at": repo.aware(b.cancelled_at).isoformat() if b.cancelled_at else None,
        "refunded_amount": str(b.refunded_amount) if b.refunded_amount is not None else None,
    }


# --- 360 view and the privacy answer -------------------------------------------------------------------


async def overview(session: AsyncSession, customer_id: str) -> dict[str, Any]:
    customer = await repo.get_customer(session, customer_id)
    bookings = await repo.bookings_of(session, customer_id)
    catalog = await repo.products_by_id(session, {b.product_id for b in bookings[:10]})
    member = await repo.membership(session, customer_id)
    complaints = await repo.complaints_of(session, customer_id)
    feedback = await repo.feedback_of(session, customer_id)
    value = await repo.value_of(session, customer_id)
    last_nps = next((f for f in reversed(feedback) if f.nps is not None), None)
    last_csat = next((f for f in reversed(feedback) if f.csat is not None), None)
    return {
        "customer": await public(session, customer),
        "consents": [_consent_public(c) for c in await repo.consents(session, customer_id)],
        "bookings": {"count": len(bookings), "recent": [booking_public(b, catalog.get(b.product_id)) for b in bookings[:10]]},
        "loyalty": {"tier": member.tier, "points_balance": member.points_balance,
                    "expiring_points": member.expiring_points,
                    "expiring_on": member.expiring_on.isoformat() if member.expiring_on else None} if member else None,
        "complaints": {"open": [_complaint_public(c) for c in complaints if c.status == "open"],
                       "total": len(complaints)},
        "satisfaction": {
            "last_nps": last_nps.nps if last_nps else None,
            "last_csat": last_csat.csat if last_csat else None,
            "detractor": bool(last_nps and last_nps.nps is not None and last_nps.nps <= 6),
            "responses": len(feedback),
        },
        "value": value_public(value, customer_id),
    }


def _consent_public(c: Consent) -> dict[str, Any]:
    return {"channel": c.channel, "purpose": c.purpose, "status": c.status, "source": c.source,
            "changed_at": repo.aware(c.changed_at).isoformat()}


def _complaint_public(c: ComplaintView) -> dict[str, Any]:
    return {"complaint_id": c.complaint_id, "status": c.status, "category": c.category, "severity": c.severity,
            "sla_met": c.sla_met, "filed_at": repo.aware(c.filed_at).isoformat() if c.filed_at else None}


async def privacy_answer(session: AsyncSession, customer_id: str) -> dict[str, Any]:
    """All that profile holds about one customer (its part of a data-rights export)."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        return {"service": SERVICE, "customer_id": customer_id, "found": False}
    bookings = await repo.bookings_of(session, customer_id)
    catalog = await repo.products_by_id(session, {b.product_id for b in bookings})
    history = (await session.execute(select(ConsentHistory).where(ConsentHistory.customer_id == customer_id)
                                     .order_by(ConsentHistory.changed_at, ConsentHistory.id))).scalars()
    care = (await session.execute(select(CareTask).where(CareTask.customer_id == customer_id)
                                  .order_by(CareTask.due_at))).scalars()
    merges = (await session.execute(select(MergeRecord).where(MergeRecord.surviving_id == customer_id))).scalars()
    member = await repo.membership(session, customer_id)
    return {
        "service": SERVICE,
        "customer_id": customer_id,
        "found": True,
        "customer": await public(session, customer),
        "consents": [_consent_public(c) for c in await repo.consents(session, customer_id)],
        "consent_history": [{"channel": h.channel, "purpose": h.purpose, "status": h.status, "source": h.source,
                             "changed_at": repo.aware(h.changed_at).isoformat()} for h in history],
        "bookings": [booking_public(b, catalog.get(b.product_id)) for b in bookings],
        "value": value_public(await repo.value_of(session, customer_id), customer_id),
        "care_tasks": [care_public(t) for t in care],
        "merges": [{"merged_ids": m.merged_ids, "reason": m.reason, "merged_by": m.merged_by,
                    "merged_at": repo.aware(m.merged_at).isoformat()} for m in merges],
        "loyalty_view": {"tier": member.tier, "points_balance": member.points_balance} if member else None,
        "complaints_view": [_complaint_public(c) for c in await repo.complaints_of(session, customer_id)],
        "feedback_view": [{"response_id": f.response_id, "nps": f.nps, "csat": f.csat,
                           "submitted_at": repo.aware(f.submitted_at).isoformat()}
                          for f in await repo.feedback_of(session, customer_id)],
    }

