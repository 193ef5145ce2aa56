"""Tiers, expiry, notices, goodwill, surveys, referrals, win-back, campaigns and family pooling."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from services.loyalty.expiry import emit_notices, expire_points
from services.loyalty.rules import add_months
from services.loyalty.tiers import review_tiers
from shared.db import transaction, utcnow
from shared.events import ComplaintReopened, ComplaintResolved, CustomerAtRisk, FeedbackSubmitted
from tests.conftest import Backend
from tests.loyalty.support import (
    applied, assert_ledger_consistent, balance, completed, emitted, member, publish, registered,
)


async def run(loyalty, step, now: datetime) -> int:  # noqa: ANN001
    async with transaction(loyalty.runtime.sessions) as s:
        return await step(s, now)


async def test_tiers_upgrade_at_once_review_one_down_at_anniversary_and_override(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    trip_end = utcnow() - timedelta(days=60)
    await publish(backend, *[completed("c-tier", f"B-t{i}", "1000.00", at=trip_end) for i in range(6)])
    await applied(loyalty, 6)
    view = await member(loyalty, "c-tier")
    assert (view["tier"], view["tier_label"]) == ("gold", "金卡")  # 6 trips in 12 months
    assert view["benefits"]["exclusive_activities"] is True
    assert view["tier_progress"]["next_tier"] == "platinum" and view["tier_progress"]["to_next"]["trips"] == 6
    changes = [(e["data"]["old_tier"], e["data"]["new_tier"]) for e in await emitted(loyalty, "tier-changed")]
    assert changes == [("regular", "silver"), ("silver", "gold")]
    # trips 4..6 earn at the silver / gold multiplier
    assert view["points_balance"] == 1000 * 3 + 1250 * 3  # the tier reached by a trip applies from the next one

    review_on = datetime.fromisoformat(view["tier_progress"]["review_on"])
    warn_at = datetime(review_on.year, review_on.month, review_on.day, 4, tzinfo=timezone.utc) - timedelta(days=10)
    assert await run(loyalty, emit_notices, warn_at) >= 1
    assert await run(loyalty, emit_notices, warn_at) == 0  # once
    [warning] = await emitted(loyalty, "tier-downgrade-warning")
    assert (warning["data"]["current_tier"], warning["data"]["next_tier"]) == ("gold", "silver")

    review = warn_at + timedelta(days=11)  # the anniversary; no trips in the last 12 months any more
    assert await run(loyalty, review_tiers, review) == 1
    async with loyalty.runtime.read_sessions() as s:
        from services.loyalty.models import Member
        m = await s.get(Member, "c-tier")
        assert m.tier == "silver"  # one tier down at most
        assert m.next_review_on > review.date()
    assert await run(loyalty, review_tiers, review) == 0  # reviewed once a year

    until = (utcnow() + timedelta(days=30)).date()
    r = await loyalty.client.post("/v1/members/c-tier/tier-override",
                                  json={"tier": "platinum", "until": until.isoformat(), "reason": "VIP guest"})
    assert r.status_code == 200, r.text
    assert r.json()["tier"] == "platinum" and r.json()["tier_override"]["until"] == until.isoformat()
    assert (await loyalty.client.post("/v1/members/c-tier/tier-override",
                                      json={"tier": "emperor", "until": until.isoformat(), "reason": "x" * 5})).status_code == 422
    await run(loyalty, review_tiers, datetime.combine(until + timedelta(days=1), datetime.min.time(), timezone.utc)
              + timedelta(hours=4))
    assert (await member(loyalty, "c-tier"))["tier"] != "platinum"  # the override ended


async def test_points_expire_fifo_by_earn_date_with_a_notice_before(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    t0 = utcnow()
    await publish(backend, completed("c-old", "B-o1", "300.00", at=t0 - timedelta(days=200)),
                  completed("c-old", "B-o2", "500.00", at=t0))
    await applied(loyalty, 2)
    first_expiry = add_months((t0 - timedelta(days=200)).astimezone(loyalty.runtime.settings.tz).date(), 24)  # settings.tz
    soon = datetime.combine(first_expiry, datetime.min.time(), timezone.utc) - timedelta(days=10)
    assert await run(loyalty, emit_notices, soon) == 1
    [notice] = await emitted(loyalty, "points-expiring")
    assert (notice["data"]["points"], notice["data"]["expires_on"]) == (300, first_expiry.isoformat())
    assert await run(loyalty, expire_points, soon) == 0
    later = soon + timedelta(days=12)
    assert await run(loyalty, expire_points, later) == 300  # only the older lot
    assert await run(loyalty, expire_points, later) == 0
    assert await balance(loyalty, "c-old") == 500
    [expired] = await emitted(loyalty, "points-expired")
    assert (expired["data"]["points"], expired["data"]["balance"]) == (-300, 500)
    liability = (await loyalty.client.get("/v1/reports/liability")).json()
    assert liability["outstanding_points"] == 500 and liability["cash_value"] == "5.00"
    await assert_ledger_consistent(loyalty)


async def test_goodwill_once_per_complaint_and_withdrawn_when_reopened(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    resolved = ComplaintResolved(complaint_id="K-1", customer_id="c-gw", category="hotel", severity="high", sla_met=False,
                                 compensation_points=800, resolved_at=utcnow())
    await publish(backend, resolved, resolved, source="tourcrm/complaints")
    await applied(loyalty, 2)
    assert await balance(loyalty, "c-gw") == 800
    reopened = ComplaintReopened(complaint_id="K-1", customer_id="c-gw", reason="not fixed", compensation_withdrawn=True,
                                 reopened_at=utcnow())
    await publish(backend, reopened, reopened, resolved, source="tourcrm/complaints")
    await applied(loyalty, 5)
    assert await balance(loyalty, "c-gw") == 0
    kinds = [(e["kind"], e["points"], e["cause"]["id"]) for e in (await loyalty.client.get("/v1/members/c-gw/ledger")).json()["items"]]
    assert kinds == [("reverse", -800, "K-1"), ("goodwill", 800, "K-1")]
    await assert_ledger_consistent(loyalty)


async def test_survey_bonus_once_per_survey_referral_once_per_referee_and_win_back(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    await publish(backend, completed("c-ref", "B-r0", "100.00"))
    await applied(loyalty, 1)
    survey = FeedbackSubmitted(response_id="R-1", survey_id="S-1", customer_id="c-ref", nps=9, submitted_at=utcnow())
    stranger = FeedbackSubmitted(response_id="R-2", survey_id="S-2", customer_id="c-nobody", nps=9, submitted_at=utcnow())
    await publish(backend, survey, survey, stranger, source="tourcrm/feedback")
    await applied(loyalty, 4)
    assert await balance(loyalty, "c-ref") == 150
    assert (await loyalty.client.get("/v1/members/c-nobody")).status_code == 404

    code = (await loyalty.client.post("/v1/referrals", json={"customer_id": "c-ref"})).json()["code"]
    assert (await loyalty.client.post(f"/v1/referrals/{code}/referees", json={"customer_id": "c-new"})).status_code == 201
    assert (await loyalty.client.post(f"/v1/referrals/{code}/referees", json={"customer_id": "c-ref"})).status_code == 422
    assert (await loyalty.client.post("/v1/referrals/NOPE/referees", json={"customer_id": "c-x"})).status_code == 404
    assert (await loyalty.client.post(f"/v1/referrals/{code}/referees", json={"customer_id": "c-ref"})).status_code == 422
    await publish(backend, completed("c-new", "B-n1", "100.00"), completed("c-new", "B-n2", "100.00"))
    await applied(loyalty, 6)
    assert await balance(loyalty, "c-ref") == 150 + 500  # once, on the referee's first trip
    [bonus] = [e["data"] for e in await emitted(loyalty, "points-earned") if e["data"]["kind"] == "referral"]
    assert (bonus["customer_id"], bonus["referee_id"], bonus["points"]) == ("c-ref", "c-new", 500)  # word of mouth
    referrals = (await loyalty.client.get("/v1/referrals", params={"customer_id": "c-ref"})).json()
    assert [(r["referee_id"], r["status"], r["booking_id"]) for r in referrals["items"]] == [("c-new", "awarded", "B-n1")]
    assert (await loyalty.client.post(f"/v1/referrals/{code}/referees", json={"customer_id": "c-new"})).status_code == 201
    assert (await loyalty.client.post(f"/v1/referrals/{code}/referees", json={"customer_id": "c-ref-2"})).status_code == 201

    risk = CustomerAtRisk(customer_id="c-new", score=0.8, reasons=["no trip for a year"])
    await publish(backend, risk, risk, source="tourcrm/profile")
    await applied(loyalty, 8)
    assert "at-risk" in (await member(loyalty, "c-new"))["segments"]
    await publish(backend, completed("c-new", "B-n3", "100.00"), completed("c-new", "B-n4", "100.00"))
    await applied(loyalty, 10)
    assert await balance(loyalty, "c-new") == 100 * 3 + 125 + 300  # silver from the 4th trip; the win-back bonus once
    await assert_ledger_consistent(loyalty)


async def test_campaigns_target_stop_at_budget_and_report_roi(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    today = utcnow().date()
    r = await loyalty.client.post("/v1/campaigns", json={
        "id": "summer-beach", "name": "海滨双倍积分", "kind": "multiplier", "multiplier": "2", "tags": ["beach"],
        "starts_on": (today - timedelta(days=1)).isoformat(), "ends_on": (today + timedelta(days=30)).isoformat(),
        "budget": 1500,
    })
    assert r.status_code == 201, r.text
    assert (await loyalty.client.post("/v1/campaigns", json={"id": "bad", "name": "x", "kind": "multiplier"})).status_code == 422
    await loyalty.client.post("/v1/campaigns", json={"id": "gold-only", "name": "金卡礼", "kind": "bonus",
                                                     "bonus_points": 99, "tiers": ["gold"]})
    await publish(backend, completed("c-c1", "B-c1", "1000.00", tags=["beach"]),
                  completed("c-c2", "B-c2", "1000.00", tags=["beach"]),
                  completed("c-c3", "B-c3", "1000.00", tags=["city"]))
    await applied(loyalty, 3)
    # one beach booking doubled in full, the other only up to the budget's end (partitions decide which first)
    assert sorted([await balance(loyalty, c) for c in ("c-c1", "c-c2")]) == [1500, 2000]
    assert await balance(loyalty, "c-c3") == 1000
    report = (await loyalty.client.get("/v1/campaigns/summer-beach/report")).json()
    assert report["status"] == "exhausted" and report["participants"] == 2 and report["points_issued"] == 1500
    assert (report["revenue"], report["cost"], report["roi"]) == ("2000.00", "15.00", "132.33")
    assert (await loyalty.client.get("/v1/campaigns/nope/report")).status_code == 404
    await publish(backend, completed("c-c4", "B-c4", "1000.00", tags=["beach"]))
    await applied(loyalty, 4)
    assert await balance(loyalty, "c-c4") == 1000


async def test_family_members_pool_into_the_head_account_each_with_their_own_history(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    await registered(backend, loyalty, "c-head", "c-kid")
    r = await loyalty.client.post("/v1/members", json={"customer_id": "c-head", "member_type": "family",
                                                       "members": ["c-kid"]})
    assert r.status_code == 201, r.text
    assert r.json()["roster"] == ["c-kid"]
    assert (await loyalty.client.post("/v1/members", json={"customer_id": "c-solo", "members": ["x"]})).status_code == 422
    await publish(backend, completed("c-kid", "B-kid", "700.00"), completed("c-head", "B-head", "300.00"))
    await applied(loyalty, 4)  # the two registrations and the two bookings
    assert await balance(loyalty, "c-head") == 1000
    kid = await member(loyalty, "c-kid")
    assert (kid["account_id"], kid["points_balance"]) == ("c-head", 1000)
    items = (await loyalty.client.get("/v1/members/c-head/ledger")).json()["items"]
    assert sorted((e["earned_by"], e["points"]) for e in items) == [("c-head", 300), ("c-kid", 700)]
    hold = await loyalty.client.post("/v1/members/c-kid/redemptions", json={"points": 900}, headers={"Idempotency-Key": "k1"})
    assert hold.status_code == 201 and hold.json()["customer_id"] == "c-head"
    await assert_ledger_consistent(loyalty)
