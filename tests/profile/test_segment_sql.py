"""A segment evaluated in the database has exactly the members the rules' meaning gives (`segments.matches` over
`segments.attributes`), for every field and operator the API accepts, on both backends, over varied customers."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from services.profile import segment_sql, segments
from services.profile.models import (
    Booking, ComplaintView, Customer, CustomerValue, FeedbackView, MembershipView, Product, Segment,
)
from services.profile.schemas import SEGMENT_FIELDS
from tests.conftest import Backend

TODAY = date(2028, 2, 29)
NOW = datetime(2028, 2, 29, 4, tzinfo=timezone.utc)
WORDS = ["vip", "VIP", "Nature", "nature", "成都", ""]
NUMBERS = [0, 1, 2, 3, 3.5, 30, 31, -1, 100, 5000]
STRING = st.sampled_from(WORDS) | st.none()
WORD_LIST = st.lists(st.sampled_from(WORDS), max_size=3)
AGES = [0, 27, 28, 29, 29.5, 30, 70]
RECENCIES = [-1, 0, 1, 1.5, 2, 3, 30, 31, 32, 33, 401, 5000]
SCALAR = st.sampled_from([*WORDS, *NUMBERS, None, True, False])
BORN = st.sampled_from([date(2000, 2, 29), date(1998, 2, 28), date(1998, 3, 1), date(1997, 2, 28), date(2028, 2, 29),
                        date(1958, 2, 28), date(1990, 12, 31)]) | st.dates(date(1940, 1, 1), date(2028, 2, 29))


@st.composite
def customer(draw: Any, n: int) -> dict[str, Any]:
    cid = f"C{n}"
    rows: dict[str, Any] = {"customer": Customer(
        id=cid, status=draw(st.sampled_from(["active", "active", "merged"])),
        kind=draw(st.sampled_from(["individual", "family"])), gender=draw(STRING), occupation=draw(STRING),
        birth_date=draw(BORN | st.none()), preferred_language=draw(STRING),
        address=draw(st.none() | st.fixed_dictionaries({}, optional={"city": STRING, "country": STRING,
                                                                      "province": STRING})),
        preferences=draw(st.fixed_dictionaries({}, optional={"interests": WORD_LIST, "destinations": WORD_LIST,
                                                             "budget_band": STRING})),
        tags=draw(WORD_LIST), created_at=NOW, updated_at=NOW)}
    if draw(st.booleans()):
        score = st.none() | st.integers(1, 5)
        rows["value"] = CustomerValue(
            customer_id=cid, value_class=draw(STRING), quadrant=draw(STRING), repeat_status=draw(STRING),
            loyalty_status=draw(STRING), r_score=draw(score), f_score=draw(score), m_score=draw(score),
            frequency=draw(st.integers(0, 4)), monetary=Decimal(draw(st.sampled_from(["0", "30", "3.5", "100.25"]))),
            recency_days=draw(st.none() | st.sampled_from([0, 1, 30, 31, 400])),  # as of computing: not what counts
            last_booking_at=draw(st.none() | st.builds(
                lambda days, hour: NOW - timedelta(days=days) + timedelta(hours=hour),
                st.sampled_from([0, 1, 2, 29, 30, 31, 32, 400]), st.sampled_from([-5, 0, 12, 13]))),
            lifetime_value=Decimal(draw(st.sampled_from(["0", "31", "5000"]))),
            churn_score=draw(st.sampled_from([0.0, 0.5, 1.0])), at_risk=draw(st.booleans()), computed_at=NOW)
    if draw(st.booleans()):
        points = draw(st.sampled_from([0, 1, 2, 3, 4, 30, 31, -1]))  # an integer column: whole points only
        rows["member"] = MembershipView(customer_id=cid, tier=draw(STRING), points_balance=points)
    rows["feedback"] = [FeedbackView(response_id=f"{cid}-R{i}", customer_id=cid, nps=draw(st.none() | st.integers(0, 10)),
                                     csat=draw(st.none() | st.sampled_from([1.0, 3.5, 5.0])), submitted_at=NOW - timedelta(days=i))
                        for i in range(draw(st.integers(0, 2)))]
    rows["complaints"] = [ComplaintView(complaint_id=f"{cid}-K{i}", customer_id=cid,
                                        status=draw(st.sampled_from(["open", "closed"])), updated_at=NOW)
                          for i in range(draw(st.integers(0, 2)))]
    rows["bookings"] = [Booking(booking_id=f"{cid}-B{i}", customer_id=cid, channel="app",
                                product_id=f"P{draw(st.integers(0, 2))}", amount=Decimal("10"), currency="CNY",
                                completed_at=NOW, status=draw(st.sampled_from(["completed", "cancelled"])))
                        for i in range(draw(st.integers(0, 2)))]
    return rows


def _values(field: str) -> Any:
    """Values that matter for the field's kind, plus some of the other kinds."""
    if field in segment_sql.LISTS or field in segment_sql.STRINGS:
        return st.sampled_from(WORDS + ["family", "individual"]) | st.sampled_from(WORDS) | SCALAR
    if field in ("age", "recency_days"):
        return st.sampled_from(AGES if field == "age" else RECENCIES) | SCALAR
    return st.sampled_from(NUMBERS) | SCALAR


@st.composite
def rule(draw: Any, field: str | None = None) -> dict[str, Any]:
    field = field or draw(st.sampled_from(SEGMENT_FIELDS))
    op = draw(st.sampled_from(["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "exists"]))
    if op in ("gt", "gte", "lt", "lte"):
        value = draw(st.sampled_from({"age": AGES, "recency_days": RECENCIES}.get(field, NUMBERS)))
    elif op in ("in", "not_in"):
        value = draw(st.lists(_values(field), max_size=3))
    elif op == "contains":
        value = draw(st.sampled_from(WORDS + ["AT", "成", "ami"]))
    elif op == "exists":
        value = draw(st.sampled_from([None, True, False]))
    else:
        value = draw(_values(field))
    return {"field": field, "op": op, "value": value}


PRODUCTS = [Product(id="P0", name="p0", kind="tour", destination="Nature", tags=["Nature", "vip"], updated_at=NOW),
            Product(id="P1", name="p1", kind="tour", destination=None, tags=[], updated_at=NOW),
            Product(id="P2", name="p2", kind="tour", destination="", tags=["", "VIP"], updated_at=NOW)]
TABLES = (Booking, Product, ComplaintView, FeedbackView, MembershipView, CustomerValue, Customer)


async def _store(session: Any, people: list[dict[str, Any]]) -> None:
    for model in TABLES:
        await session.execute(delete(model))
    session.add_all([Product(**p.model_dump()) for p in PRODUCTS])
    for rows in people:
        session.add(rows["customer"])
        session.add_all([r for key in ("value", "member") if (r := rows.get(key)) is not None])
        session.add_all(rows["feedback"] + rows["complaints"] + rows["bookings"])
    await session.flush()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(people=st.integers(1, 8).flatmap(lambda k: st.tuples(*[customer(n) for n in range(k)])),
       singles=st.tuples(*[rule(field) for field in SEGMENT_FIELDS * 2]),
       combined=st.lists(st.tuples(st.sampled_from(["all", "any"]), st.lists(rule(), min_size=2, max_size=3)),
                         min_size=2, max_size=4))
async def test_sql_members_are_the_rules_members(backend: Backend, people: tuple[dict[str, Any], ...],
                                                 singles: tuple[dict[str, Any], ...],
                                                 combined: list[tuple[str, list[dict[str, Any]]]]) -> None:
    rule_sets = [("all", [r]) for r in singles] + combined
    if not hasattr(backend, "_profile"):
        backend._profile = await backend.service("profile")  # noqa: SLF001 - one service for all examples
    async with backend._profile.runtime.sessions() as session:  # noqa: SLF001
        await _store(session, list(people))
        attributes = await segments.attributes(session, TODAY)
        for match, rules in rule_sets:
            segment = Segment(id="S", name="S", match=match, rules=rules, created_by="t", created_at=NOW)
            expected = segments.matching(segment, attributes)
            assert await segment_sql.member_ids(session, segment, TODAY) == expected, (match, rules)
            assert await segment_sql.count(session, segment, TODAY) == len(expected)
            assert await segment_sql.member_ids(session, segment, TODAY, after="C0", limit=2) == \
                [i for i in expected if i > "C0"][:2]
        await session.rollback()
