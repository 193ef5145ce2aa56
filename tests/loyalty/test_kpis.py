"""Loyalty KPIs (GET /v1/kpis, the tourcrm_loyalty_kpi gauges) and the points counter
(tourcrm_loyalty_points_total), checked against figures worked out by hand from the movements the test makes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from prometheus_client.parser import text_string_to_metric_families

from services.loyalty import kpis
from services.loyalty.expiry import expire_points
from shared.db import transaction, utcnow
from tests.conftest import Backend, eventually
from tests.loyalty.support import applied, assert_ledger_consistent, completed, key, publish


async def scrape(loyalty) -> dict[tuple[str, str], float]:  # noqa: ANN001
    """(metric, label value) → value, for the loyalty business metrics on /metrics."""
    text = (await loyalty.client.get("/metrics")).text
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "tourcrm_loyalty_points_total":
                found[(s.name, s.labels["movement"])] = s.value
            elif s.name == "tourcrm_loyalty_kpi":
                found[(s.name, s.labels["kpi"])] = s.value
    return found


async def test_kpis_gauges_and_points_counter_match_the_ledger_by_hand(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    today = utcnow().astimezone(loyalty.runtime.settings.tz).date()
    # issued: 1000 + 2000 (+ 3 from a second batch that fails once and is redone one event at a time)
    await publish(backend, completed("k-1", "B-k1", "1000.00"), completed("k-2", "B-k2", "2000.00"))
    await applied(loyalty, 2)
    await publish(backend, completed("k-3", "B-k3", "3.00"), completed("k-3", "B-yen", "10.00", currency="JPY"))
    await applied(loyalty, 4)  # the JPY booking is parked: nothing of the first, rolled-back attempt counts
    # reversed: an adjustment of −200; redeemed: a hold of 500 captured; a hold released moves nothing
    r = await loyalty.client.post("/v1/members/k-1/adjustments", json={"points": -200, "reason": "correction"},
                                  headers=key())
    assert r.status_code == 201, r.text
    hold = (await loyalty.client.post("/v1/members/k-2/redemptions", json={"points": 500}, headers=key())).json()
    assert (await loyalty.client.post(f"/v1/redemptions/{hold['id']}/capture")).status_code == 200
    other = (await loyalty.client.post("/v1/members/k-2/redemptions", json={"points": 100}, headers=key())).json()
    assert (await loyalty.client.post(f"/v1/redemptions/{other['id']}/release")).status_code == 200

    r = await loyalty.client.get("/v1/kpis", params={"start": today.isoformat(), "end": today.isoformat()})
    assert r.status_code == 200, r.text
    figures = r.json()
    issued, redeemed, reversed_ = 1000 + 2000 + 3, 500, 200
    outstanding = issued - redeemed - reversed_  # 2303
    assert (figures["points_issued"], figures["points_redeemed"], figures["points_reversed"],
            figures["points_expired"]) == (issued, redeemed, reversed_, 0)
    assert figures["redemption_rate"] == "0.1665"  # 500 / 3003 = 0.16650…
    assert (figures["points_liability"], figures["points_liability_value"]) == (outstanding, "23.03")  # 100 pts = 1
    assert figures["currency"] == "CNY" and figures["campaigns"] == [] and figures["campaign_uplift"] is None
    # the day before: nothing moved yet, nothing outstanding
    before = (await loyalty.client.get("/v1/kpis", params={"end": (today - timedelta(days=1)).isoformat()})).json()
    assert (before["points_issued"], before["points_liability"], before["redemption_rate"]) == (0, 0, None)

    async def counted() -> bool:
        found = await scrape(loyalty)
        return [found.get(("tourcrm_loyalty_points_total", m)) for m in ("earned", "redeemed", "reversed", "expired")
                ] == [issued, redeemed, reversed_, 0]
    await eventually(counted, timeout=10)

    await kpis.refresh(loyalty.runtime, utcnow())  # the periodic job's step
    found = await scrape(loyalty)
    assert found[("tourcrm_loyalty_kpi", "points_liability")] == outstanding
    assert found[("tourcrm_loyalty_kpi", "points_liability_value")] == 23.03
    assert found[("tourcrm_loyalty_kpi", "redemption_rate")] == 0.1665

    # 25 months on, every lot has expired: the expiry job's movements count, in their period
    later = utcnow() + timedelta(days=31 * 25)
    async with transaction(loyalty.runtime.sessions) as s:
        assert await expire_points(s, later) == outstanding
    later_day = later.astimezone(loyalty.runtime.settings.tz).date()
    figures = (await loyalty.client.get("/v1/kpis", params={"start": later_day.isoformat(),
                                                            "end": later_day.isoformat()})).json()
    assert (figures["points_expired"], figures["points_issued"], figures["redemption_rate"]) == (outstanding, 0, None)
    assert (figures["points_liability"], figures["points_liability_value"]) == (0, "0.00")
    assert (await scrape(loyalty))[("tourcrm_loyalty_points_total", "expired")] == outstanding
    await assert_ledger_consistent(loyalty)


async def test_kpis_count_the_uplift_of_campaigns_ended_in_the_period(backend: Backend) -> None:
    from tests.loyalty.test_campaign_uplift import groups_of, segment, start_campaign

    loyalty = await backend.service("loyalty")
    today = utcnow().astimezone(loyalty.runtime.settings.tz).date()
    await publish(backend, *[segment(c, "seg-k") for c in ("v-01", "v-02", "v-03", "v-04", "v-05", "v-06")])
    await applied(loyalty, 6)
    await start_campaign(loyalty, "spring-vip", "seg-k")
    groups = await groups_of(loyalty, "spring-vip")
    treated, control = sorted(groups["treated"]), sorted(groups["control"])
    await publish(backend, completed(treated[0], "B-t0", "900.00"), completed(control[0], "B-c0", "300.00"))
    await applied(loyalty, 8)
    period = {"start": today.isoformat(), "end": today.isoformat()}
    assert (await loyalty.client.get("/v1/kpis", params=period)).json()["campaigns"] == []  # still running
    assert (await loyalty.client.post("/v1/campaigns/spring-vip/end")).status_code == 200
    figures = (await loyalty.client.get("/v1/kpis", params=period)).json()
    [campaign] = figures["campaigns"]
    expected = Decimal(900) / len(treated) - Decimal(300) / len(control)  # revenue per member, treated − control
    assert (campaign["campaign_id"], campaign["ended_on"]) == ("spring-vip", today.isoformat())
    assert (campaign["treated_members"], campaign["control_members"]) == (len(treated), len(control))
    assert campaign["uplift"] == figures["campaign_uplift"] == str(expected.quantize(Decimal("0.01")))
    await kpis.refresh(loyalty.runtime, utcnow())
    assert (await scrape(loyalty))[("tourcrm_loyalty_kpi", "campaign_uplift")] == float(campaign["uplift"])
    yesterday = (today - timedelta(days=1)).isoformat()
    assert (await loyalty.client.get("/v1/kpis", params={"start": yesterday, "end": yesterday})).json()["campaigns"] == []


async def test_a_campaign_that_exhausts_its_budget_ends_then_for_the_kpis(backend: Backend) -> None:
    from tests.loyalty.test_campaign_uplift import groups_of, segment

    loyalty = await backend.service("loyalty")
    today = utcnow().astimezone(loyalty.runtime.settings.tz).date()
    await publish(backend, *[segment(c, "seg-t") for c in ("v-01", "v-02", "v-03", "v-04", "v-05", "v-06")])
    await applied(loyalty, 6)
    r = await loyalty.client.post("/v1/campaigns", json={"id": "tight", "name": "tight", "kind": "bonus",
                                                         "bonus_points": 500, "budget": 500, "segment_id": "seg-t",
                                                         "control_pct": "50"})
    assert r.status_code == 201, r.text
    groups = await groups_of(loyalty, "tight")
    first = sorted(groups["treated"])[0]
    await publish(backend, completed(first, "B-tight", "100.00"))
    await applied(loyalty, 7)
    [campaign] = (await loyalty.client.get("/v1/campaigns")).json()["items"]
    assert (campaign["status"], campaign["issued"]) == ("exhausted", 500)
    figures = (await loyalty.client.get("/v1/kpis", params={"start": today.isoformat(), "end": today.isoformat()})).json()
    [ended] = figures["campaigns"]  # ended when its budget ran out
    assert (ended["campaign_id"], ended["ended_on"]) == ("tight", today.isoformat())
    treated, control = len(groups["treated"]), len(groups["control"])
    assert ended["uplift"] == str((Decimal(100) / treated).quantize(Decimal("0.01")))  # control booked nothing
    assert (ended["treated_members"], ended["control_members"]) == (treated, control)


async def test_kpi_periods_bad_input_is_a_problem_naming_the_field(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    for path in ("/v1/kpis", "/v1/reports/win-back"):
        for params, field in [({"start": "2026-05-02", "end": "2026-05-01"}, "start"),
                              ({"start": "0001-01-01"}, "start"), ({"end": "9999-12-31"}, "end"), ({"end": "0001-01-01"}, "end"),
                              ({"start": "May"}, "start"), ({"end": "2026-02-30"}, "end")]:
            r = await loyalty.client.get(path, params=params)
            assert r.status_code == 422, (path, params, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert field in {e["field"] for e in r.json()["errors"]}, r.json()
        async with loyalty.client_as("loyalty:read") as c:
            assert (await c.get(path)).status_code == 403
        async with loyalty.client_as("customer", customer="k-1") as c:
            assert (await c.get(path)).status_code == 403
