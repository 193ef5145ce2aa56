"""GET /v1/kpis and the tourcrm_profile_kpi gauges against figures computed by hand on a small dataset: retention and
churn, repeat purchase, average and lifetime value, new vs returning, referral share; a segment filter; money in
the business currency with amounts without a rate reported apart, never summed."""

from __future__ import annotations

from datetime import datetime

from services.profile import jobs
from tests.conftest import Backend, eventually
from tests.profile.accounts_support import problem_fields
from tests.profile.helpers import booking, create, post_booking, wait_bookings


def at(day: str) -> datetime:
    return datetime.fromisoformat(day + "T04:00:00+00:00")  # noon in Shanghai


# customer → (acquisition source, tags, [(day, amount, currency)])
DATASET = {
    "A": (None, ["corp"], [("2024-11-10", "1000.00", "CNY"), ("2025-02-01", "2000.00", "CNY"), ("2025-03-01", "3000.00", "CNY")]),
    "B": (None, ["corp"], [("2024-12-01", "1500.00", "CNY")]),
    "C": (None, [], [("2024-06-01", "500.00", "CNY"), ("2025-01-15", "1000.00", "CNY")]),
    "D": ("referral", ["corp"], [("2025-02-10", "4000.00", "CNY")]),
    "E": ("referral", [], [("2025-03-10", "100.00", "USD")]),
    "F": ("advertising", [], [("2025-03-20", "2000.00", "CNY")]),  # cancelled below
    "G": (None, [], [("2024-12-20", "800.00", "CNY"), ("2025-04-05", "600.00", "CNY")]),
    "H": ("advertising", [], [("2025-02-15", "1200.00", "CNY")]),
}


async def _load(profile) -> dict[str, str]:  # noqa: ANN001
    ids, count = {}, 0
    for key, (source, tags, trips) in DATASET.items():
        fields = {"name": f"客户{key}", "tags": tags, **({"acquisition_source": source} if source else {})}
        ids[key] = (await create(profile, **fields))["id"]
        for n, (day, amount, currency) in enumerate(trips):
            await post_booking(profile, {**booking(f"{key}-{n}", ids[key], amount=amount, completed_at=at(day)),
                                         "currency": currency})
            count += 1
    await wait_bookings(profile, count)
    r = await profile.client.post("/v1/bookings/cancelled", json={"booking_id": "F-0", "customer_id": ids["F"],
                                                                 "reason": "changed plans"})
    assert r.status_code == 202

    async def cancelled() -> bool:
        page = (await profile.client.get(f"/v1/customers/{ids['F']}/bookings")).json()
        return page["items"][0]["status"] == "cancelled"
    await eventually(cancelled)
    return ids


async def test_kpis_equal_the_hand_computed_figures(backend: Backend) -> None:
    profile = await backend.service("profile")
    await _load(profile)
    r = await profile.client.get("/v1/kpis", params={"from": "2025-01-01", "to": "2025-04-01"})
    assert r.status_code == 200, r.text
    # Period 2025-01-01 .. 2025-04-01 (90 days); the previous one 2024-10-03 .. 2025-01-01.
    # Previous active: A, B, G (C's June booking is older). Active now: A, C, D, E, H (F cancelled; G's is after).
    # Retained: A → 1/3; churned B, G → 2/3. Two bookings in the period: A only → 1/5.
    # Value in the period (CNY): A 5000 + C 1000 + D 4000 + H 1200 = 11200 over the 4 priced customers = 2800;
    # E's 100 USD has no rate: apart, not summed. Lifetime to the end: A 6000, C 1500, D 4000, H 1200 → 12700 / 4 = 3175.
    # New (first booking in the period): D, E, H; returning: A, C. Referral among the new: D, E → 2/3.
    assert r.json() == {
        "start": "2025-01-01", "end": "2025-04-01", "previous_start": "2024-10-03", "segment_id": None,
        "currency": "CNY", "active_customers": 5, "previous_active_customers": 3,
        "retention_rate": 0.3333, "churn_rate": 0.6667, "repeat_purchase_rate": 0.2,
        "average_customer_value": "2800.00", "lifetime_value": "3175.00", "new_customers": 3,
        "returning_customers": 2, "referral_share": 0.6667, "unconverted": {"USD": "100.00"},
        "lifetime_unconverted": {"USD": "100.00"},
    }

    segment = (await profile.client.post("/v1/segments", json={"name": "corporate", "rules": [
        {"field": "tags", "op": "contains", "value": "corp"}]})).json()
    r = await profile.client.get("/v1/kpis", params={"from": "2025-01-01", "to": "2025-04-01", "segment": segment["id"]})
    # Only A, B, D: previous {A, B}, now {A, D}; A retained → 1/2; value (5000 + 4000) / 2; lifetime (6000 + 4000) / 2.
    assert {k: v for k, v in r.json().items() if k not in ("start", "end", "previous_start", "currency")} == {
        "segment_id": segment["id"], "active_customers": 2, "previous_active_customers": 2, "retention_rate": 0.5,
        "churn_rate": 0.5, "repeat_purchase_rate": 0.5, "average_customer_value": "4500.00",
        "lifetime_value": "5000.00", "new_customers": 1, "returning_customers": 1, "referral_share": 1.0,
        "unconverted": {}, "lifetime_unconverted": {},
    }

    # with a USD rate, E's booking counts in CNY: (11200 + 710) / 5 = 2382; lifetime (12700 + 710) / 5 = 2682
    config = (await profile.client.get("/v1/config")).json()
    await profile.client.put("/v1/config", json={**config, "exchange_rates": {"USD": "7.10"}})
    r = (await profile.client.get("/v1/kpis", params={"from": "2025-01-01", "to": "2025-04-01"})).json()
    assert (r["average_customer_value"], r["lifetime_value"], r["unconverted"], r["lifetime_unconverted"]) == (
        "2382.00", "2682.00", {}, {})


async def test_kpi_gauges_for_the_ops_dashboard(backend: Backend) -> None:
    profile = await backend.service("profile")
    await _load(profile)
    # the trailing year to 2025-03-31 (business date): 2024-04-01 .. 2025-04-01; nobody booked the year before.
    # Active: A, B, C, D, E, G, H, all new. Two or more bookings: A, C → 2/7. Priced value: A 6000, B 1500, C 1500,
    # D 4000, G 800, H 1200 = 15000 over 6 → 2500. Referral: D, E of 7 new.
    await jobs.run_kpi_gauges(profile.runtime, at("2025-03-31"))
    metrics = (await profile.client.get("/metrics")).text
    expected = {"repeat_purchase_rate": 0.2857, "average_customer_value": 2500.0, "lifetime_value": 2500.0,
                "new_customers": 7.0, "returning_customers": 0.0, "referral_share": 0.2857}
    for kpi, value in expected.items():
        assert f'tourcrm_profile_kpi{{kpi="{kpi}"}} {value}' in metrics, kpi
    assert 'tourcrm_profile_kpi{kpi="retention_rate"} NaN' in metrics  # no previous customers: no rate, not 0


async def test_bad_periods_name_the_field(backend: Backend) -> None:
    profile = await backend.service("profile")
    assert problem_fields(await profile.client.get("/v1/kpis", params={"from": "2025-04-01", "to": "2025-01-01"})) == ["to"]
    assert "from" in problem_fields(await profile.client.get("/v1/kpis", params={"from": "April", "to": "2025-01-01"}))
    assert "to" in problem_fields(await profile.client.get("/v1/kpis", params={"from": "2025-01-01"}))
    assert problem_fields(await profile.client.get("/v1/kpis", params={"from": "0001-01-01", "to": "0001-02-01"})) == ["from"]
    assert problem_fields(await profile.client.get("/v1/kpis", params={"from": "2025-01-01", "to": "9999-12-31"})) == ["to"]
    missing = await profile.client.get("/v1/kpis", params={"from": "2025-01-01", "to": "2025-02-01", "segment": "nope"})
    assert missing.status_code == 404
