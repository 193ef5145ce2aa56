"""Rule-based segments evaluated live over the customer file, its value, and what other services told us;
campaign exports limited to the customers who consented to the purpose. The rules run in the database
(segment_sql.py); `attributes` and `matches` state their meaning in Python, and the tests hold the two equal."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import repository as repo, segment_sql
from services.profile.models import ComplaintView, Customer, CustomerValue, FeedbackView, MembershipView, Segment
from services.profile.public import (
    Items, SegmentContact, SegmentExport, SegmentMember, SegmentPublic, segment_public,
)
from services.profile.schemas import Rule, SegmentIn
from shared.db import new_id, settings_of, utcnow
from shared.errors import Conflict, Unprocessable
from shared.pages import Page, decode_cursor, page_of


def _age(born: date | None, today: date) -> int | None:
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _recency(last: datetime | None, today: date, tz: ZoneInfo) -> int | None:
    """Days since the last booking as of `today` (the stored recency_days is as of the row's last computation)."""
    return None if last is None else (today - last.astimezone(tz).date()).days


async def attributes(session: AsyncSession, today: date) -> dict[str, dict[str, Any]]:
    """customer id → the fields rules can test, for every active file."""
    rows: dict[str, dict[str, Any]] = {}
    tz = settings_of(session).tz
    for c in await repo.rows(session, Customer, where=(Customer.status == "active",)):
        prefs = c.preferences or {}
        address = c.address or {}
        rows[c.id] = {
            "kind": c.kind, "gender": c.gender, "age": _age(c.birth_date, today), "occupation": c.occupation,
            "country": address.get("country"), "province": address.get("province"), "city": address.get("city"),
            "preferred_language": c.preferred_language, "tags": c.tags or [],
            "interests": prefs.get("interests", []), "destinations": prefs.get("destinations", []),
            "budget_band": prefs.get("budget_band"), "tier": None, "points_balance": 0, "value_class": None,
            "quadrant": None, "repeat_status": None, "loyalty_status": None, "r_score": None, "f_score": None,
            "m_score": None, "frequency": 0, "monetary": 0.0, "recency_days": None, "lifetime_value": 0.0,
            "churn_score": 0.0, "at_risk": False, "last_nps": None, "last_csat": None, "open_complaints": 0,
            "booked_destinations": [], "booked_tags": [],
        }
    for v in await repo.rows(session, CustomerValue):
        if (row := rows.get(v.customer_id)) is not None:
            row.update(value_class=v.value_class, quadrant=v.quadrant, repeat_status=v.repeat_status,
                       loyalty_status=v.loyalty_status, r_score=v.r_score, f_score=v.f_score, m_score=v.m_score,
                       frequency=v.frequency, monetary=float(v.monetary), recency_days=_recency(v.last_booking_at, today, tz),
                       lifetime_value=float(v.lifetime_value), churn_score=v.churn_score, at_risk=v.at_risk)
    for m in await repo.rows(session, MembershipView):
        if (row := rows.get(m.customer_id)) is not None:
            row.update(tier=m.tier, points_balance=m.points_balance)
    for f in await repo.rows(session, FeedbackView, order=(FeedbackView.submitted_at,)):
        if (row := rows.get(f.customer_id)) is not None:
            if f.nps is not None:
                row["last_nps"] = f.nps
            if f.csat is not None:
                row["last_csat"] = f.csat
    for (c,) in await repo.select_rows(session, ComplaintView.customer_id, where=(ComplaintView.status == "open",)):
        if (row := rows.get(c)) is not None:
            row["open_complaints"] += 1
    booked: dict[str, tuple[set, set]] = defaultdict(lambda: (set(), set()))
    for cid, dest, tags in await repo.booked_products(session):
        if dest:
            booked[cid][0].add(dest)
        booked[cid][1].update(tags or [])
    for cid, (dests, tags) in booked.items():
        if (row := rows.get(cid)) is not None:
            row["booked_destinations"], row["booked_tags"] = sorted(dests), sorted(tags)
    return rows


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool) else value


def matches(rule: Rule, row: dict[str, Any]) -> bool:
    actual, expected = row.get(rule.field), rule.value
    if rule.op == "exists":
        return actual not in (None, [], "") if expected in (None, True) else actual in (None, [], "")
    if isinstance(actual, list):
        items = {str(a).casefold() for a in actual}
        wanted = [str(e).casefold() for e in (expected if isinstance(expected, list) else [expected])]
        if rule.op in ("contains", "in", "eq"):
            return any(w in items for w in wanted)
        if rule.op in ("not_in", "ne"):
            return not any(w in items for w in wanted)
        return False
    if rule.op == "eq":
        return _number(actual) == _number(expected)
    if rule.op == "ne":
        return _number(actual) != _number(expected)
    if rule.op == "in":
        return actual in (expected or [])
    if rule.op == "not_in":
        return actual not in (expected or [])
    if rule.op == "contains":
        return isinstance(actual, str) and str(expected).casefold() in actual.casefold()
    if actual is None or expected is None:
        return False
    a, e = _number(actual), _number(expected)
    try:
        return {"gt": a > e, "gte": a >= e, "lt": a < e, "lte": a <= e}[rule.op]
    except TypeError:
        return False


NUMERIC_OPS = {"gt", "gte", "lt", "lte"}


def _today(session: AsyncSession) -> date:
    return utcnow().astimezone(settings_of(session).tz).date()


def matching(segment: Segment, rows: dict[str, dict[str, Any]]) -> list[str]:
    """The ids among `rows` (from `attributes`) that match the segment's rules."""
    rules = [Rule.model_validate(r) for r in segment.rules]
    combine = all if segment.match == "all" else any
    return sorted(cid for cid, row in rows.items() if combine(matches(rule, row) for rule in rules))


async def members(session: AsyncSession, segment: Segment, today: date) -> list[str]:
    """The ids of the active files that match the segment's rules today (evaluated in the database)."""
    return await segment_sql.member_ids(session, segment, today)


async def create_segment(session: AsyncSession, body: SegmentIn, *, created_by: str) -> SegmentPublic:
    """A named set of rules; a name is taken once."""
    for i, rule in enumerate(body.rules):
        if rule.op in NUMERIC_OPS and (isinstance(rule.value, bool) or not isinstance(rule.value, (int, float))):
            raise Unprocessable(f"{rule.op} needs a number", field=f"rules.{i}.value")
        if rule.op in ("in", "not_in") and not isinstance(rule.value, list):
            raise Unprocessable(f"{rule.op} needs a list", field=f"rules.{i}.value")
    if await repo.segment_named(session, body.name) is not None:
        raise Conflict(f"a segment named {body.name!r} exists", errors=[{"field": "name", "message": "taken"}])
    segment = Segment(id=new_id(), name=body.name, match=body.match,
                      rules=[r.model_dump(mode="json") for r in body.rules], created_by=created_by, created_at=utcnow())
    session.add(segment)
    return segment_public(segment)


async def list_segments(session: AsyncSession) -> Items[SegmentPublic]:
    return Items(items=[segment_public(s) for s in await repo.segments(session)])


async def get_segment(session: AsyncSession, segment_id: str) -> SegmentPublic:
    """The segment with its live size."""
    segment = await repo.get_row(session, Segment, segment_id, "segment")
    return segment_public(segment, await segment_sql.count(session, segment, _today(session)))


async def members_page(session: AsyncSession, segment_id: str, cursor: str | None, limit: int) -> Page[SegmentMember]:
    """Live membership: the rules evaluated now, by customer id."""
    segment = await repo.get_row(session, Segment, segment_id, "segment")
    after = decode_cursor(cursor, str)
    ids = await segment_sql.member_ids(session, segment, _today(session), after=after[0] if after else None,
                                       limit=limit + 1)
    return page_of(ids, limit, lambda i: (i,), lambda i: SegmentMember(customer_id=i))


async def export_segment(session: AsyncSession, segment_id: str, purpose: str) -> SegmentExport:
    """Members for a campaign: only those who consented to `purpose`, with the consented channels' contacts."""
    ids = await members(session, await repo.get_row(session, Segment, segment_id, "segment"), _today(session))
    consented = await repo.granted_channels_of(session, ids, purpose)
    allowed = [cid for cid in ids if consented[cid]]
    customers = await repo.customers_by_id(session, allowed)
    contacts = await repo.contacts_of(session, allowed)
    items = []
    for cid in allowed:
        channels, customer, (phones, emails) = consented[cid], customers[cid], contacts[cid]
        items.append(SegmentContact(
            customer_id=cid, name=customer.name, preferred_language=customer.preferred_language or "zh-CN",
            channels=channels, phones=phones if {"phone", "sms"} & set(channels) else [],
            emails=emails if "email" in channels else []))
    return SegmentExport(segment_id=segment_id, purpose=purpose, items=items,
                         excluded_without_consent=len(ids) - len(allowed))
