"""The values a customer's scoring reads by one statement (`value_inputs.read`) are the values the per-table reads give:
trips (reduced per currency: count, total, first and last), complaint and feedback views (feedback in submission
order), the membership view, the stored value row (money as Decimal, times in UTC, JSON columns decoded), which ids
have a file, and the stored configuration."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from services.profile import repository as repo, scoring, value_inputs
from services.profile.analytics import Spend
from services.profile.config import get_config
from services.profile.models import ComplaintView, FeedbackView, MembershipView
from shared.db import transaction
from shared.events import ComplaintFiled, FeedbackSubmitted, PointsExpiring
from tests.conftest import Backend, eventually
from tests.profile.helpers import booking, create, post_booking, wait_bookings
from tests.profile.test_churn_reasons import publish


def at(day: str) -> datetime:
    return datetime.fromisoformat(day + "T04:00:00+00:00")


def reduced(trips: list[tuple[datetime, Decimal, str]]) -> list[Spend]:
    """(completed_at, amount, currency) per booking, reduced per currency as `value_inputs` reads them."""
    spends = []
    for currency in sorted({t[2] for t in trips}):
        ones = [t for t in trips if t[2] == currency]
        spends.append(Spend(currency, len(ones), sum(t[1] for t in ones), min(t[0] for t in ones), max(t[0] for t in ones)))
    return spends


async def test_one_statement_reads_what_the_tables_hold(backend: Backend) -> None:
    profile = await backend.service("profile")
    a, b = [(await create(profile, name=name))["id"] for name in ("甲", "乙")]
    for n, day in enumerate(("2024-03-01", "2025-05-02")):
        await post_booking(profile, booking(f"VI-{n}", a, completed_at=at(day)))
    await post_booking(profile, booking("VI-2", a, amount="99.50", completed_at=at("2024-06-01")) | {"currency": "USD"})
    await wait_bookings(profile, 3)
    cfg = (await profile.client.get("/v1/config")).json()
    assert (await profile.client.put("/v1/config", json=cfg | {"churn_threshold": 0.45})).status_code == 200
    await publish(backend,
                  ComplaintFiled(complaint_id="VI-C", customer_id=a, category="hotel", severity="high", filed_at=at("2025-01-01")),
                  FeedbackSubmitted(response_id="VI-R2", survey_id="S", customer_id=a, nps=9, csat=4.5, submitted_at=at("2025-02-02")),
                  FeedbackSubmitted(response_id="VI-R1", survey_id="S", customer_id=a, nps=3, submitted_at=at("2025-01-02")),
                  PointsExpiring(customer_id=a, points=800, expires_on=date(2027, 1, 31)))

    async def applied() -> bool:
        async with transaction(profile.runtime.sessions) as session:
            return (len((await repo.rows_of(session, FeedbackView, [a]))[a]) == 2
                    and bool((await repo.rows_of(session, ComplaintView, [a]))[a])
                    and bool(await repo.columns_of(session, MembershipView, [a])))
    await eventually(applied)

    async with transaction(profile.runtime.sessions) as session:
        await scoring.recompute_customers(session, [a, b], now=at("2026-01-15"))
    ids = [a, b, "VI-nobody"]
    async with transaction(profile.runtime.sessions) as session:
        found = await value_inputs.read(session, ids, config=True)
        assert found.existing == {a, b}  # "VI-nobody" has no file
        assert found.rows == await repo.value_rows(session, ids)
        assert found.rows[a]["monetary"] > 0 and found.rows[a]["last_booking_at"].utcoffset() is not None
        trips = await repo.trips_of(session, ids)  # per booking: (completed_at, amount, currency)
        assert {cid: sorted(spends, key=lambda s: s.currency) for cid, spends in found.trips.items()} == {
            cid: reduced(ts) for cid, ts in trips.items()} == {a: [
                Spend("CNY", 2, Decimal("2000.00"), at("2024-03-01"), at("2025-05-02")),
                Spend("USD", 1, Decimal("99.50"), at("2024-06-01"), at("2024-06-01"))]}
        complaints = (await repo.rows_of(session, ComplaintView, ids, ComplaintView.filed_at))[a]
        assert [vars(c) for c in found.complaints[a]] == [
            {"status": c.status, "sla_met": c.sla_met, "satisfied": c.satisfied} for c in complaints]
        feedback = (await repo.rows_of(session, FeedbackView, ids, FeedbackView.submitted_at, FeedbackView.response_id))[a]
        assert [(f.nps, f.csat, f.detractor, f.id) for f in found.feedback[a]] == [
            (f.nps, f.csat, f.detractor, f.response_id) for f in feedback] == [(3, None, True, "VI-R1"), (9, 4.5, False, "VI-R2")]
        member = (await repo.columns_of(session, MembershipView, ids))[a]
        assert vars(found.members[a]) == {"expiring_points": member["expiring_points"], "expiring_on": member["expiring_on"]}
        assert found.members[a].expiring_on == date(2027, 1, 31)
        assert found.config == (await get_config(session)).model_dump(mode="json")
        assert found.open_leads == set()
