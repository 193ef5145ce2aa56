"""Win-back that closes and why customers leave, against hand-computed figures: the at-risk mark clears when the
customer books again (even while other signals keep the score high), the win-back rate over a period, lapse causes
set by staff or on a return-visit call or suggested from complaints, and lost yearly revenue by cause, value segment
and period in the business currency (other currencies apart, never added in)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from services.profile import care, scoring
from shared.bus import Record
from shared.db import transaction
from shared.events import (
    ComplaintFiled, ComplaintResolved, EventData, FeedbackSubmitted, WinBackOffered, new_event,
)
from tests.conftest import Backend, RunningService, eventually
from tests.profile.helpers import booking, create, post_booking, wait_bookings


def at(day: str) -> datetime:
    return datetime.fromisoformat(day + "T04:00:00+00:00")  # 12:00 in Shanghai


async def publish(backend: Backend, *items: EventData) -> None:
    await backend.bus().publish([Record(d.topic, d.customer_id, new_event(  # type: ignore[attr-defined]
        d, source="test", subject=d.customer_id).to_bytes()) for d in items])  # type: ignore[attr-defined]


def complaint(cid: str, n: int, category: str) -> ComplaintFiled:
    return ComplaintFiled(complaint_id=f"C-{cid}-{n}", customer_id=cid, category=category, severity="medium",
                          filed_at=at("2024-06-01"))


async def value(profile: RunningService, cid: str) -> dict:
    return (await profile.client.get(f"/v1/customers/{cid}/value")).json()


async def test_at_risk_clears_on_a_new_booking_and_the_win_back_rate(backend: Backend) -> None:
    profile = await backend.service("profile")
    ids = {k: (await create(profile, name=f"客户{k}"))["id"] for k in ("W1", "W2", "W3", "W4")}
    for k, cid in ids.items():
        await post_booking(profile, booking(f"{k}-0", cid, completed_at=at("2022-01-01")))
    await wait_bookings(profile, 4)
    cfg = (await profile.client.get("/v1/config")).json()
    assert (await profile.client.put("/v1/config", json=cfg | {"churn_threshold": 0.4})).status_code == 200
    # the nightly scoring marks W4 on 2025-06-15 and W1-W3 on 2026-01-15: 4 years without a trip scores 0.5
    async with transaction(profile.runtime.sessions) as session:
        await scoring.recompute_customers(session, [ids["W4"]], now=at("2025-06-15"))
    async with transaction(profile.runtime.sessions) as session:
        await scoring.recompute_customers(session, [ids["W1"], ids["W2"], ids["W3"]], now=at("2026-01-15"))
    at_risk = {v["customer_id"] for v in (await profile.client.get("/v1/at-risk")).json()["items"]}
    assert at_risk == set(ids.values())

    # loyalty's offer to W2 and the care schedule's win-back task for the same at-risk mark are one task
    w2 = ids["W2"]
    await publish(backend, WinBackOffered(customer_id=w2, offer_id="OFFER-W2", points=300,
                                          expires_at=datetime.now(timezone.utc) + timedelta(days=30)))

    async def offered() -> bool:
        return bool((await profile.client.get("/v1/work-queue", params={"kind": "win-back"})).json()["items"])
    await eventually(offered)
    async with transaction(profile.runtime.sessions) as session:
        await care.schedule_care(session, now=datetime.now(timezone.utc))
    tasks = (await profile.client.get("/v1/work-queue", params={"kind": "win-back"})).json()["items"]
    assert [(t["customer_id"], t["offer_id"]) for t in tasks if t["customer_id"] == w2] == [(w2, "OFFER-W2")]
    assert {t["customer_id"] for t in tasks} == set(ids.values())

    # W1 also has two open complaints and a detractor answer: 0.3 + 0.2 keeps its score over 0.4 after any booking
    w1 = ids["W1"]
    await publish(backend, complaint(w1, 1, "service_quality"), complaint(w1, 2, "price"),
                  FeedbackSubmitted(response_id="R-W1", survey_id="S", customer_id=w1, nps=3, submitted_at=at("2026-02-01")))

    async def signals_in() -> bool:
        view = (await profile.client.get(f"/v1/customers/{w1}/overview")).json()
        return view["complaints"]["total"] == 2 and view["satisfaction"]["responses"] == 1
    await eventually(signals_in)
    assert (await value(profile, w1))["churn"]["at_risk"] is True

    # W1 and W4 book again; W3's booking arrives late but was completed before its mark
    recent = datetime.now(timezone.utc) - timedelta(days=1)
    await post_booking(profile, booking("W1-1", w1, completed_at=recent))
    await post_booking(profile, booking("W4-1", ids["W4"], completed_at=recent))
    await post_booking(profile, booking("W3-1", ids["W3"], completed_at=at("2025-12-01")))
    await wait_bookings(profile, 7)

    async def cleared() -> bool:
        return not any([(await value(profile, ids[k]))["churn"]["at_risk"] for k in ("W1", "W4")])
    await eventually(cleared)
    w1_value = await value(profile, w1)
    assert w1_value["churn"]["score"] >= 0.4 and w1_value["churn"]["at_risk_since"] is None  # cleared by the booking
    assert (await value(profile, ids["W2"]))["churn"]["at_risk"] is True

    # marked in January 2026: W1, W2, W3; booked after the mark: W1 → 1/3
    r = await profile.client.get("/v1/reports/win-back", params={"start": "2026-01-01", "end": "2026-02-01"})
    assert r.status_code == 200, r.text
    assert r.json() == {"start": "2026-01-01", "end": "2026-02-01", "at_risk": 3, "won_back": 1, "rate": 0.3333}
    # from June 2025: W4 too, who booked again → 2/4
    r = await profile.client.get("/v1/reports/win-back", params={"start": "2025-06-01", "end": "2026-02-01"})
    assert (r.json()["at_risk"], r.json()["won_back"], r.json()["rate"]) == (4, 2, 0.5)
    r = await profile.client.get("/v1/reports/win-back", params={"start": "2024-01-01", "end": "2024-12-31"})
    assert (r.json()["at_risk"], r.json()["won_back"], r.json()["rate"]) == (0, 0, None)
    bad = await profile.client.get("/v1/reports/win-back", params={"start": "2026-02-01", "end": "2026-01-01"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "end"
    bad = await profile.client.get("/v1/reports/win-back", params={"end": "2026-01-01"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "start"


# key → bookings [(day, amount, currency)]; hand computation in the test below
LAPSED = {
    "L1": [("2023-01-10", "8000.00", "CNY"), ("2024-01-10", "4000.00", "CNY")],
    "L2": [("2024-03-01", "3000.00", "CNY")],
    "L3": [("2024-02-01", "1000.00", "USD")],
    "L4": [("2024-05-01", "2000.00", "EUR")],
    "L5": [("2024-04-01", "500.00", "CNY")],
    "A": [("2026-11-01", "1000.00", "CNY")],
    "O": [("2023-03-01", "1000.00", "CNY")],
}


async def test_lapse_reasons_and_lost_revenue_by_reason_segment_and_period(backend: Backend) -> None:
    profile = await backend.service("profile")
    cfg = (await profile.client.get("/v1/config")).json()
    assert (await profile.client.put("/v1/config", json=cfg | {"exchange_rates": {"USD": "7.10"}})).status_code == 200
    ids = {k: (await create(profile, name=f"客户{k}"))["id"] for k in LAPSED}
    n = 0
    for k, trips in LAPSED.items():
        for day, amount, currency in trips:
            body = booking(f"{k}-{n}", ids[k], amount=amount, completed_at=at(day)) | {"currency": currency}
            await post_booking(profile, body)
            n += 1
    await wait_bookings(profile, n)
    l4, o = ids["L4"], ids["O"]
    await publish(backend, complaint(l4, 1, "price"), complaint(o, 1, "service_quality"),
                  ComplaintResolved(complaint_id=f"C-{o}-1", customer_id=o, category="service_quality",
                                    severity="medium", sla_met=False, resolved_at=at("2024-06-05")))

    async def complaints_in() -> bool:
        return all([(await profile.client.get(f"/v1/customers/{c}/lapse-reason")).json()["suggested"]
                    for c in (l4, o)]) and (await profile.client.get(f"/v1/customers/{o}/lapse-reason")).json()[
            "suggested"]["cause"] == "response-to-failure"
    await eventually(complaints_in)
    async with transaction(profile.runtime.sessions) as session:
        await scoring.recompute_all(session)  # value classes over the whole population

    # causes: L1 and L3 set by staff; L2 learnt on a return-visit call; L4 only suggested (a price complaint)
    for k, cause in (("L1", "price"), ("L3", "price")):
        r = await profile.client.put(f"/v1/customers/{ids[k]}/lapse-reason", json={"cause": cause, "note": "嫌贵"})
        assert r.status_code == 200 and (r.json()["cause"], r.json()["source"]) == (cause, "staff")
    task = (await profile.client.post("/v1/care-tasks", json={
        "customer_id": ids["L2"], "due_at": datetime.now(timezone.utc).isoformat()})).json()
    r = await profile.client.post(f"/v1/care-tasks/{task['id']}/complete", json={
        "outcome": "已改用别家旅行社", "channel": "phone", "lapse_reason": "competitor"})
    assert r.status_code == 200, r.text
    got = (await profile.client.get(f"/v1/customers/{ids['L2']}/lapse-reason")).json()
    assert (got["reason"]["cause"], got["reason"]["source"], got["reason"]["note"]) == (
        "competitor", "return-visit", "已改用别家旅行社")
    got = (await profile.client.get(f"/v1/customers/{l4}/lapse-reason")).json()
    assert got["reason"] is None
    assert got["suggested"] == {"cause": "price", "complaint_ids": [f"C-{l4}-1"], "basis": "complaint category"}
    bad = await profile.client.put(f"/v1/customers/{l4}/lapse-reason", json={"cause": "weather"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cause"

    # Lost in 2025 (a year without a booking; lapse date = last booking + 365 days):
    #   L1 2025-01-09: 12000 over exactly one year (2023-01-10 → 2024-01-10) = 12000.00 a year, price
    #   L3 2025-01-31: 1000 USD × 7.10 = 7100.00, price;  L2 2025-03-01: 3000.00, competitor
    #   L5 2025-04-01: 500.00, no cause;  L4 2025-05-01: 2000 EUR without a rate → unconverted, price (suggested)
    #   O lapsed 2024-02-29 (outside the period); A booked last month (not lost).
    # Value classes (monetary 12000, 7100, 3000, 1000, 1000, 500, 0 of 24600; richer share < .5/.8/.95):
    #   L1 0, L3 .488 → most-valuable; L2 .776 → key; A, O .898 → ordinary; L5 .980, L4 (0) → small.
    r = await profile.client.get("/v1/reports/lapses", params={"start": "2025-01-01", "end": "2026-01-01"})
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["currency"], report["lapse_after_days"], report["customers"]) == ("CNY", 365, 5)
    assert (report["lost_yearly_revenue"], report["unconverted"]) == ("22600.00", {"EUR": "2000.00"})

    def groups(name: str) -> list[tuple]:
        return [(g["key"], g["customers"], g["suggested"], g["lost_yearly_revenue"], g["unconverted"])
                for g in report[name]]
    assert groups("by_reason") == [("price", 3, 1, "19100.00", {"EUR": "2000.00"}),
                                   ("competitor", 1, 0, "3000.00", {}), ("unknown", 1, 0, "500.00", {})]
    assert groups("by_segment") == [("most-valuable", 2, 0, "19100.00", {}), ("key", 1, 0, "3000.00", {}),
                                    ("small", 2, 1, "500.00", {"EUR": "2000.00"})]
    assert groups("by_period") == [("2025-01", 2, 0, "19100.00", {}), ("2025-03", 1, 0, "3000.00", {}),
                                   ("2025-04", 1, 0, "500.00", {}), ("2025-05", 1, 1, "0.00", {"EUR": "2000.00"})]
    quarters = (await profile.client.get("/v1/reports/lapses", params={
        "start": "2025-01-01", "end": "2026-01-01", "period": "quarter"})).json()["by_period"]
    assert [(g["key"], g["customers"], g["lost_yearly_revenue"]) for g in quarters] == [
        ("2025-Q1", 3, "22100.00"), ("2025-Q2", 2, "500.00")]
    # only the members of a profile segment: the most valuable
    seg = (await profile.client.post("/v1/segments", json={"name": "最有价值", "rules": [
        {"field": "value_class", "op": "eq", "value": "most-valuable"}]})).json()["id"]
    mine = (await profile.client.get("/v1/reports/lapses", params={
        "start": "2025-01-01", "end": "2026-01-01", "segment_id": seg})).json()
    assert (mine["customers"], mine["lost_yearly_revenue"]) == (2, "19100.00")
    # 2024 holds O only, whose badly handled complaint suggests a poor response to the failure
    old = (await profile.client.get("/v1/reports/lapses", params={"start": "2024-01-01", "end": "2025-01-01"})).json()
    assert [(g["key"], g["customers"], g["suggested"], g["lost_yearly_revenue"]) for g in old["by_reason"]] == [
        ("response-to-failure", 1, 1, "1000.00")]
    for params, field in (({"start": "2025-01-01", "end": "2025-01-01"}, "end"),
                          ({"start": "2025-01-01", "end": "2026-01-01", "period": "week"}, "period"),
                          ({"start": "last year", "end": "2026-01-01"}, "start")):
        bad = await profile.client.get("/v1/reports/lapses", params=params)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == field, bad.text
    assert (await profile.client.get("/v1/reports/lapses", params={
        "start": "2025-01-01", "end": "2026-01-01", "segment_id": "nope"})).status_code == 404
