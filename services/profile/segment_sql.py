"""A segment's rules compiled to one SQL condition over the customer file and what is known about the customer, so a
segment is evaluated, counted and paged in the database (SQLite and PostgreSQL alike). The semantics are those of
`segments.matches` over the attributes `segments.attributes` lists: list fields match case-insensitively on any
item, numbers compare as numbers, a missing value matches only `ne`, `not_in` and `exists: false`."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, extract, false, func, literal, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile.account_models import SegmentMembership
from services.profile.models import (
    Booking, ComplaintView, Customer, CustomerValue, FeedbackView, MembershipView, Product, Segment,
)
from services.profile.schemas import Rule
from shared.db import settings_of

STRINGS = {"kind", "gender", "occupation", "country", "province", "city", "preferred_language", "budget_band", "tier",
           "value_class", "quadrant", "repeat_status", "loyalty_status"}
LISTS = {"tags", "interests", "destinations", "booked_destinations", "booked_tags"}
_VALUE_NUMBERS = {"r_score", "f_score", "m_score"}  # no value row: no score
_VALUE_DEFAULTED = {"frequency": 0, "monetary": 0, "lifetime_value": 0, "churn_score": 0}
CASEFOLD = "tourcrm_casefold"  # SQLite: Python's str.casefold, registered on the connection (`prepare`)


def _fold(dialect: str, column: Any) -> ColumnElement:
    return getattr(func, CASEFOLD)(column) if dialect == "sqlite" else func.lower(column)


def _json_text(column: Any, key: str) -> ColumnElement:
    return column[key].as_string()


def _age(today: date) -> ColumnElement:
    born = Customer.birth_date
    later = extract("month", born) * 100 + extract("day", born) > today.month * 100 + today.day
    return literal(today.year) - extract("year", born) - case((later, 1), else_=0)


def _scalar(field: str, today: date) -> ColumnElement:
    """The SQL value of a scalar field (NULL where the attributes hold None)."""
    if field in ("kind", "gender", "occupation", "preferred_language"):
        return getattr(Customer, field)
    if field in ("country", "province", "city"):
        return _json_text(Customer.address, field)
    if field == "budget_band":
        return _json_text(Customer.preferences, "budget_band")
    if field == "age":
        return _age(today)
    if field == "tier":
        return MembershipView.tier
    if field == "points_balance":
        return func.coalesce(MembershipView.points_balance, 0)
    if field == "at_risk":
        return case((CustomerValue.at_risk == true(), 1), else_=0)
    if field in _VALUE_DEFAULTED:
        return func.coalesce(getattr(CustomerValue, field), _VALUE_DEFAULTED[field])
    if field in _VALUE_NUMBERS or field in STRINGS:
        return getattr(CustomerValue, field)
    if field in ("last_nps", "last_csat"):
        column = FeedbackView.nps if field == "last_nps" else FeedbackView.csat
        return (select(column).where(FeedbackView.customer_id == Customer.id, column.is_not(None))
                .order_by(FeedbackView.submitted_at.desc(), FeedbackView.response_id.desc()).limit(1).scalar_subquery())
    if field == "open_complaints":
        return (select(func.count()).select_from(ComplaintView)
                .where(ComplaintView.customer_id == Customer.id, ComplaintView.status == "open").scalar_subquery())
    raise ValueError(f"no SQL for field {field!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))  # bool included: True == 1 in the Python rules


def _eq(field: str, column: ColumnElement, expected: Any) -> ColumnElement:
    """column == expected as Python compares them, never NULL."""
    if expected is None:
        return column.is_(None)
    if field in STRINGS:
        return and_(column.is_not(None), column == expected) if isinstance(expected, str) else false()
    if _is_number(expected):
        return and_(column.is_not(None), column == float(expected))
    return false()


def _any_item(dialect: str, field: str, wanted: list[str] | None) -> ColumnElement:
    """Some item of the list field is among `wanted` (casefolded); any item at all when `wanted` is None."""
    if field == "booked_destinations":
        item = Product.destination
        query = select(literal(1)).select_from(Booking).join(Product, Product.id == Booking.product_id).where(
            Booking.customer_id == Customer.id, Booking.status == "completed")
        if wanted is None:
            return exists(query.where(item.is_not(None), item != ""))
        return exists(query.where(item != "", _fold(dialect, item).in_(wanted)))
    if field == "booked_tags":
        each = _each(dialect, Product.tags)
        query = select(literal(1)).select_from(Booking).join(Product, Product.id == Booking.product_id).join(
            each, true()).where(Booking.customer_id == Customer.id, Booking.status == "completed")
        return exists(query if wanted is None else query.where(_fold(dialect, each.c.value).in_(wanted)))
    each = _each(dialect, _list_source(dialect, field))
    query = select(literal(1)).select_from(each)
    return exists(query if wanted is None else query.where(_fold(dialect, each.c.value).in_(wanted)))


def _list_source(dialect: str, field: str) -> Any:
    if field == "tags":
        return Customer.tags
    if dialect == "sqlite":
        return func.json_extract(Customer.preferences, f"$.{field}")
    return Customer.preferences[field]


def _each(dialect: str, source: Any) -> Any:
    if dialect == "sqlite":
        return func.json_each(source).table_valued("value")
    # json_typeof guards a stored JSON null or a non-array, which the attributes treat as no items
    guarded = case((func.json_typeof(source) == "array", source), else_=None)
    return func.json_array_elements_text(guarded).table_valued("value")


def _list_rule(dialect: str, rule: Rule) -> ColumnElement:
    expected = rule.value
    if rule.op == "exists":
        present = _any_item(dialect, rule.field, None)
        return present if expected in (None, True) else not_(present)
    wanted = sorted({str(e).casefold() for e in (expected if isinstance(expected, list) else [expected])})
    if rule.op in ("contains", "in", "eq"):
        return _any_item(dialect, rule.field, wanted) if wanted else false()
    if rule.op in ("not_in", "ne"):
        return not_(_any_item(dialect, rule.field, wanted)) if wanted else true()
    return false()


def _at_least(days: float, today: date, tz: ZoneInfo) -> ColumnElement:
    """recency ≥ days (whole business days since the last booking): the last booking before a day's start."""
    whole = math.ceil(days)
    if whole > (today - date(2, 1, 1)).days:
        return false()
    if whole < (today - date(9998, 12, 31)).days:
        return CustomerValue.last_booking_at.is_not(None)
    cutoff = today - timedelta(days=whole - 1)
    return CustomerValue.last_booking_at < datetime.combine(cutoff, time(0), tzinfo=tz)


def _recency_rule(rule: Rule, today: date, tz: ZoneInfo) -> ColumnElement:
    """recency_days counted from the last booking to `today`, on last_booking_at (an index can serve it)."""
    known = CustomerValue.last_booking_at.is_not(None)
    expected = rule.value

    def eq(value: Any) -> ColumnElement:
        if value is None:
            return not_(known)
        if not _is_number(value) or float(value) != math.floor(value):
            return false()
        return and_(known, _at_least(value, today, tz), not_(_at_least(value + 1, today, tz)))

    if rule.op == "exists":
        return known if expected in (None, True) else not_(known)
    if rule.op in ("eq", "ne"):
        return eq(expected) if rule.op == "eq" else not_(eq(expected))
    if rule.op in ("in", "not_in"):
        found = or_(false(), *[eq(item) for item in (expected if isinstance(expected, list) else [])])
        return found if rule.op == "in" else not_(found)
    if rule.op == "contains" or not _is_number(expected):
        return false()
    bound = float(expected)
    above = math.floor(bound) + 1  # recency > bound ⟺ recency ≥ ⌊bound⌋ + 1
    compared = {"gt": _at_least(above, today, tz), "gte": _at_least(bound, today, tz),
                "lt": not_(_at_least(bound, today, tz)), "lte": not_(_at_least(above, today, tz))}[rule.op]
    return and_(known, compared)


def _scalar_rule(dialect: str, rule: Rule, today: date, tz: ZoneInfo) -> ColumnElement:
    if rule.field == "recency_days":
        return _recency_rule(rule, today, tz)
    column, expected, field = _scalar(rule.field, today), rule.value, rule.field
    if rule.op == "exists":
        present = and_(column.is_not(None), column != "") if field in STRINGS else column.is_not(None)
        return present if expected in (None, True) else not_(present)
    if rule.op in ("eq", "ne"):
        same = _eq(field, column, expected)
        return same if rule.op == "eq" else not_(same)
    if rule.op in ("in", "not_in"):
        items = expected if isinstance(expected, list) else []
        found = or_(false(), *[_eq(field, column, item) for item in items])
        return found if rule.op == "in" else not_(found)
    if rule.op == "contains":
        if field not in STRINGS:
            return false()
        position = func.instr if dialect == "sqlite" else func.strpos
        return and_(column.is_not(None), position(_fold(dialect, column), str(expected).casefold()) > 0)
    if field in STRINGS or not _is_number(expected):
        return false()  # a string against a number, or no number: the Python comparison fails
    bound = float(expected)
    compared = {"gt": column > bound, "gte": column >= bound, "lt": column < bound, "lte": column <= bound}[rule.op]
    return and_(column.is_not(None), compared)


def condition(segment: Segment, dialect: str, today: date, tz: ZoneInfo) -> ColumnElement:
    """The segment's rules as one condition over `FROM customer LEFT JOIN customer_value LEFT JOIN membership_view`."""
    rules = [Rule.model_validate(r) for r in segment.rules]
    parts = [_list_rule(dialect, r) if r.field in LISTS else _scalar_rule(dialect, r, today, tz) for r in rules]
    return and_(true(), *parts) if segment.match == "all" else or_(false(), *parts)


def members_query(segment: Segment, dialect: str, today: date, tz: ZoneInfo) -> Any:
    """SELECT customer.id of the active files that match the segment's rules (`today` in the time zone `tz`)."""
    return (select(Customer.id).select_from(Customer)
            .outerjoin(CustomerValue, CustomerValue.customer_id == Customer.id)
            .outerjoin(MembershipView, MembershipView.customer_id == Customer.id)
            .where(Customer.status == "active", condition(segment, dialect, today, tz)))


def dialect_of(session: AsyncSession) -> str:
    return session.bind.dialect.name  # type: ignore[union-attr]


async def prepare(session: AsyncSession) -> str:
    """The session's dialect name; on SQLite, registers the casefold function the conditions use."""
    dialect = dialect_of(session)
    if dialect == "sqlite":
        def register(sync_session: Any) -> None:
            raw = sync_session.connection().connection.dbapi_connection
            raw.create_function(CASEFOLD, 1, lambda v: None if v is None else str(v).casefold(), deterministic=True)
        await session.run_sync(register)
    return dialect


async def member_ids(session: AsyncSession, segment: Segment, today: date, *, after: str | None = None,
                     limit: int | None = None) -> list[str]:
    """The ids of the members, ascending, after `after`, at most `limit`."""
    query = members_query(segment, await prepare(session), today, settings_of(session).tz)
    if after is not None:
        query = query.where(Customer.id > after)
    query = query.order_by(Customer.id)
    if limit is not None:
        query = query.limit(limit)
    return list((await session.execute(query)).scalars())


async def count(session: AsyncSession, segment: Segment, today: date) -> int:
    query = members_query(segment, await prepare(session), today, settings_of(session).tz)
    return (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()


async def changes(session: AsyncSession, segment: Segment, today: date) -> tuple[list[str], list[str]]:
    """(joined, left): members now not stored as members, and stored members no longer matching."""
    dialect = await prepare(session)
    current = members_query(segment, dialect, today, settings_of(session).tz)
    stored = select(SegmentMembership.customer_id).where(SegmentMembership.segment_id == segment.id)
    joined = current.where(Customer.id.not_in(stored)).order_by(Customer.id)
    still = current.where(Customer.id == SegmentMembership.customer_id).exists()
    left = stored.where(not_(still)).order_by(SegmentMembership.customer_id)
    return (list((await session.execute(joined)).scalars()), list((await session.execute(left)).scalars()))
