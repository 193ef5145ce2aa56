"""RFM, lifetime value, repeat/loyalty status, value class and quadrant against a hand-computed dataset;
churn risk (monotone in recency, once per episode); segments; recommendations; customer care."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from services.profile import analytics, care, jobs, scoring
from shared.bus import Record
from shared.db import transaction, utcnow
from shared.events import FEEDBACK, FeedbackSubmitted, new_event
from tests.conftest import Backend, eventually
from tests.profile.helpers import booking, create, outbox_events, post_booking, wait_bookings

NOW = datetime(2025, 6, 30, 4, 0, tzinfo=timezone.utc)  # 12:00 in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: str) -> datetime:
    return datetime.fromisoformat(day + "T04:00:00+00:00")


# customer → [(date, amount)]; see the hand computation in test_value_against_a_hand_computed_dataset
DATASET = {
    "A": [("2024-09-01", "2000.00"), ("2024-12-01", "3000.00"), ("2025-03-01", "4000.00"), ("2025-06-01", "5000.00")],
    "B": [("2024-05-01", "3000.00"), ("2025-05-01", "3000.00")],
    "C": [("2023-01-10", "8000.00")],
    "D": [("2025-02-20", "500.00"), ("2025-04-20", "500.00"), ("2025-06-20", "500.00")],
    "E": [("2025-06-25", "500.00")],
}


async def test_value_against_a_hand_computed_dataset(backend: Backend) -> None:
    profile = await backend.service("profile")
    ids = {}
    for key, trips in DATASET.items():
        ids[key] = (await create(profile, name=f"客户{key}"))["id"]
        for n, (day, amount) in enumerate(trips):
            await post_booking(profile, booking(f"{key}-{n}", ids[key], amount=amount, completed_at=at(day)))
    await wait_bookings(profile, 11)
    async with transaction(profile.runtime.sessions) as session:
        assert await scoring.recompute_all(session, now=NOW, tz=SHANGHAI) == 5
    got = {k: (await profile.client.get(f"/v1/customers/{cid}/value")).json() for k, cid in ids.items()}

    # Total value 30,000. Sorted by value: A 14000 | C 8000 | B 6000 | D 1500 | E 500.
    # Share of value held by richer customers: A 0, C .467, B .733, D .933, E .983 → with thresholds .5/.8/.95:
    # A, C most valuable; B key; D ordinary; E small.
    # Recency (Shanghai dates to 2025-06-30): A 29, B 60, C 902, D 10, E 5.
    # Rhythm (mean gap): A 273/3 = 91, B 365, D 120/2 = 60; loyal when recency ≤ 1.5 × rhythm; one trip: new within 365 days.
    # R by last booking (C<B<A<D<E) 1..5; F over [1,1,2,3,4]: C,E 1, B 3, D 4, A 5; M over [500,1500,6000,8000,14000].
    # LTV = spend + average order × trips per year (tenure ≥ 1 year) × 3:
    #   A 14000 + 3500×4×3 = 56000; B tenure 425/365 → 6000 + 3000×(730/425)×3 = 21458.82;
    #   C tenure 902/365 → 8000 + 8000×(365/902)×3 = 17711.75; D 1500 + 500×3×3 = 6000; E 500 + 500×3 = 2000.
    expected = {
        "A": dict(recency_days=29, frequency=4, monetary="14000.00", rfm={"r": 3, "f": 5, "m": 5}, rhythm_days=91.0,
                  lifetime_value="56000.00", repeat_status="frequent", loyalty_status="loyal",
                  value_class="most-valuable", quadrant="large-high"),
        "B": dict(recency_days=60, frequency=2, monetary="6000.00", rfm={"r": 2, "f": 3, "m": 3}, rhythm_days=365.0,
                  lifetime_value="21458.82", repeat_status="repeat", loyalty_status="loyal",
                  value_class="key", quadrant="large-high"),
        "C": dict(recency_days=902, frequency=1, monetary="8000.00", rfm={"r": 1, "f": 1, "m": 4}, rhythm_days=None,
                  lifetime_value="17711.75", repeat_status="first-time", loyalty_status="wavering",
                  value_class="most-valuable", quadrant="large-low"),
        "D": dict(recency_days=10, frequency=3, monetary="1500.00", rfm={"r": 4, "f": 4, "m": 2}, rhythm_days=60.0,
                  lifetime_value="6000.00", repeat_status="repeat", loyalty_status="loyal",
                  value_class="ordinary", quadrant="small-high"),
        "E": dict(recency_days=5, frequency=1, monetary="500.00", rfm={"r": 5, "f": 1, "m": 1}, rhythm_days=None,
                  lifetime_value="2000.00", repeat_status="first-time", loyalty_status="new",
                  value_class="small", quadrant="small-low"),
    }
    for key, fields in expected.items():
        assert {f: got[key][f] for f in fields} == fields, key
    assert got["C"]["treatment"].startswith("build loyalty")
    # churn: C has gone 902 days on a 365-day default rhythm: 0.5 × (902/365)/3 = 0.4119
    assert got["C"]["churn"]["score"] == 0.4119
    assert got["C"]["churn"]["reasons"] == ["no booking for 902 days, 2.5x their usual 365-day rhythm"]

    # thresholds are configurable: with .3/.6/.9 only A is most valuable and C becomes key
    cfg = (await profile.client.get("/v1/config")).json()
    r = await profile.client.put("/v1/config", json=cfg | {"value_class_thresholds": [0.3, 0.6, 0.9]})
    assert r.status_code == 200, r.text
    bad = await profile.client.put("/v1/config", json=cfg | {"value_class_thresholds": [0.9, 0.6, 0.3]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "value_class_thresholds"
    async with transaction(profile.runtime.sessions) as session:
        await scoring.recompute_all(session, now=NOW, tz=SHANGHAI)
    classes = {k: (await profile.client.get(f"/v1/customers/{cid}/value")).json()["value_class"] for k, cid in ids.items()}
    assert classes == {"A": "most-valuable", "C": "key", "B": "ordinary", "D": "small", "E": "small"}

    # segments over value, loyalty and profile fields; live membership with a cursor
    r = await profile.client.post("/v1/segments", json={"name": "大客户", "rules": [
        {"field": "value_class", "op": "in", "value": ["most-valuable", "key"]}]})
    assert r.status_code == 201, r.text
    big = r.json()["id"]
    r = await profile.client.post("/v1/segments", json={"name": "忠诚回头客", "rules": [
        {"field": "loyalty_status", "op": "eq", "value": "loyal"}, {"field": "frequency", "op": "gte", "value": 3}]})
    loyal = r.json()["id"]
    assert (await profile.client.get(f"/v1/segments/{big}")).json()["size"] == 2
    page = (await profile.client.get(f"/v1/segments/{loyal}/members", params={"limit": 1})).json()
    rest = (await profile.client.get(f"/v1/segments/{loyal}/members", params={"cursor": page["next_cursor"]})).json()
    assert {m["customer_id"] for m in page["items"] + rest["items"]} == {ids["A"], ids["D"]}
    # export for a campaign: only members who consented to marketing, with the consented channel's contacts
    await profile.client.patch(f"/v1/customers/{ids['A']}", json={"phones": ["13800000000"]}, headers={"If-Match": '"v1"'})
    await profile.client.post(f"/v1/customers/{ids['A']}/consents", json={"changes": [
        {"channel": "sms", "purpose": "marketing", "status": "granted"}]})
    await profile.client.post(f"/v1/customers/{ids['C']}/consents", json={"changes": [
        {"channel": "sms", "purpose": "marketing", "status": "denied"}]})
    export = (await profile.client.get(f"/v1/segments/{big}/export", params={"purpose": "marketing"})).json()
    assert [(i["customer_id"], i["channels"], i["phones"]) for i in export["items"]] == [(ids["A"], ["sms"], ["+8613800000000"])]
    assert export["excluded_without_consent"] == 1
    bad = await profile.client.post("/v1/segments", json={"name": "x", "rules": [{"field": "frequency", "op": "gt", "value": "many"}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "rules.0.value"
    bad = await profile.client.post("/v1/segments", json={"name": "x", "rules": [{"field": "shoe_size", "op": "eq", "value": 1}]})
    assert bad.status_code == 422


def test_churn_score_is_monotone_in_recency() -> None:
    today = date(2025, 6, 30)
    for rhythm in (None, 30.0, 180.0, 400.0):
        for signals in (analytics.Signals(), analytics.Signals(open_complaints=1, last_nps=3)):
            scores = [analytics.churn(3, days, rhythm, signals, today)[0] for days in range(0, 2000, 7)]
            assert scores == sorted(scores)
            assert scores[-1] > scores[0]


async def test_customer_at_risk_once_per_episode(backend: Backend) -> None:
    profile = await backend.service("profile")
    cid = (await create(profile, name="周强"))["id"]
    await post_booking(profile, booking("R-1", cid, completed_at=datetime(2019, 5, 1, tzinfo=timezone.utc)))
    await wait_bookings(profile, 1)  # recency far past any rhythm: 0.5

    async def feedback(n: int, nps: int) -> None:
        data = FeedbackSubmitted(response_id=f"R{n}", survey_id="S", customer_id=cid, nps=nps,
                                 submitted_at=datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(days=n))
        await backend.bus().publish([Record(FEEDBACK, cid, new_event(data, source="test", subject=cid).to_bytes())])

    async def churn() -> dict:
        return (await profile.client.get(f"/v1/customers/{cid}/value")).json()["churn"]

    async def score_is(value: float) -> bool:
        return (await churn())["score"] == value

    await feedback(1, 3)  # detractor: 0.7 ≥ 0.6 → at risk
    await eventually(lambda: score_is(0.7))
    await feedback(2, 2)  # still at risk: no second event
    await eventually(lambda: _applied(profile, "R2"))
    async with transaction(profile.runtime.sessions) as session:
        await scoring.recompute_all(session, tz=SHANGHAI)
    assert len(await outbox_events(profile, "customer-at-risk", cid)) == 1
    at_risk = (await profile.client.get("/v1/at-risk")).json()["items"]
    assert [i["customer_id"] for i in at_risk] == [cid]
    # an at-risk customer gets a win-back care task, once per episode
    for _ in range(2):
        async with transaction(profile.runtime.sessions) as session:
            await care.schedule_care(session, now=datetime(2025, 12, 1, tzinfo=timezone.utc), tz=SHANGHAI)
    tasks = (await profile.client.get(f"/v1/customers/{cid}/care-tasks")).json()["items"]
    assert [t["kind"] for t in tasks] == ["win-back"]
    await feedback(3, 9)  # promoter: back to 0.5, the episode ends
    await eventually(lambda: score_is(0.5))
    assert (await churn())["at_risk"] is False
    await feedback(4, 5)  # a new episode
    await eventually(lambda: score_is(0.7))
    events = await outbox_events(profile, "customer-at-risk", cid)
    assert len(events) == 2
    assert "detractor score 5" in events[1]["data"]["reasons"]


async def _applied(profile, response_id: str) -> bool:  # noqa: ANN001
    from services.profile.models import FeedbackView

    async with profile.runtime.read_sessions() as s:
        return await s.get(FeedbackView, response_id) is not None


async def test_recommendations_follow_interests_history_and_co_booking_with_consent(backend: Backend) -> None:
    profile = await backend.service("profile")
    profiling = [{"channel": "app-push", "purpose": "profiling", "status": "granted"}]
    nature = (await create(profile, name="山水控", preferences={"interests": ["nature"]}, consents=profiling))["id"]
    history = (await create(profile, name="历史迷", preferences={"interests": ["history"]}, consents=profiling))["id"]
    traveller = (await create(profile, name="吃货", consents=profiling))["id"]
    no_consent = (await create(profile, name="不同意", preferences={"interests": ["nature"]}))["id"]
    peers = [(await create(profile, name=f"同行{i}"))["id"] for i in range(2)]
    n = 0
    for cid, products in [(peers[0], ["P-GUILIN", "P-CHENGDU"]), (peers[1], ["P-GUILIN", "P-CHENGDU", "P-SANYA"]),
                          (traveller, ["P-GUILIN"]), (history, ["P-XIAN"]),
                          ("seed", ["P-JIUZHAI", "P-BEIJING"])]:
        for product in products:
            n += 1
            await post_booking(profile, booking(f"RB-{n}", cid, product=product))
    await wait_bookings(profile, n)
    got = (await profile.client.get(f"/v1/customers/{no_consent}/recommendations")).json()
    assert got["items"] == []  # popularity is counted by the periodic job, not by a read
    assert await jobs.run_popularity(profile.runtime, utcnow()) == 6  # products with buyers now

    async def recs(cid: str) -> dict:
        r = await profile.client.get(f"/v1/customers/{cid}/recommendations")
        assert r.status_code == 200, r.text
        return r.json()

    got = await recs(nature)
    assert got["personalised"] is True
    top = {i["product"]["id"]: i["reasons"] for i in got["items"]}
    assert set(list(top)[:2]) == {"P-GUILIN", "P-JIUZHAI"}
    assert top["P-GUILIN"][0] == "matches your interest in nature"
    assert "P-XIAN" not in top and "P-BEIJING" not in top

    got = await recs(history)
    ids = [i["product"]["id"] for i in got["items"]]
    assert ids[0] == "P-BEIJING" and "P-XIAN" not in ids  # just booked: excluded
    assert "matches your interest in history" in got["items"][0]["reasons"]

    got = await recs(traveller)
    items = {i["product"]["id"]: i["reasons"] for i in got["items"]}
    assert "P-GUILIN" not in items
    assert items["P-CHENGDU"] == ["travellers like you also booked it (2)"]
    assert list(items)[0] == "P-CHENGDU"

    got = await recs(no_consent)
    assert got["personalised"] is False and got["note"]
    assert [(i["product"]["id"], i["reasons"]) for i in got["items"][:2]] == [
        ("P-CHENGDU", ["popular with travellers (2 booked it)"]), ("P-GUILIN", ["popular with travellers (3 booked it)"])
    ][::-1]


async def test_care_tasks_honour_consent_quiet_hours_and_run_once(backend: Backend) -> None:
    profile = await backend.service("profile")
    now = datetime(2025, 6, 30, 4, 0, tzinfo=timezone.utc)  # 12:00 Shanghai
    glad = (await create(profile, name="生日快乐", birth_date="1990-07-02", preferred_channel="wechat",
                         consents=[{"channel": "sms", "purpose": "marketing", "status": "granted"},
                                   {"channel": "wechat", "purpose": "marketing", "status": "granted"}]))["id"]
    silent = (await create(profile, name="不打扰", birth_date="1985-07-01"))["id"]
    traveller = (await create(profile, name="刚回来", consents=[
        {"channel": "email", "purpose": "service", "status": "granted"}]))["id"]
    await post_booking(profile, booking("CT-1", traveller, completed_at=datetime(2024, 6, 20, tzinfo=timezone.utc),
                                        travel_end=date(2025, 6, 27)))
    await wait_bookings(profile, 1)

    async with transaction(profile.runtime.sessions) as session:
        created = await care.schedule_care(session, now=now, tz=SHANGHAI)
    async with transaction(profile.runtime.sessions) as session:
        assert await care.schedule_care(session, now=now, tz=SHANGHAI) == 0  # once per occasion
    # birthdays of glad (07-02) and silent (07-01), the traveller's thanks (trip ended 06-27 + 3 days),
    # and the anniversary of the traveller's first trip (travel started 06-23 → next 2026-06-23 is too far: none)
    assert created == 3
    kinds = {t["kind"]: t for t in (await profile.client.get(f"/v1/customers/{traveller}/care-tasks")).json()["items"]}
    assert kinds["post-trip-thanks"]["due_at"] == "2025-06-30T02:00:00+00:00"  # 10:00 Shanghai

    quiet = datetime(2025, 6, 30, 14, 0, tzinfo=timezone.utc)  # 22:00 Shanghai
    async with transaction(profile.runtime.sessions) as session:
        assert (await care.emit_due_care(session, now=quiet, tz=SHANGHAI))["emitted"] == 0
    async with transaction(profile.runtime.sessions) as session:
        assert (await care.emit_due_care(session, now=now, tz=SHANGHAI))["emitted"] == 1  # the thanks
    later = datetime(2025, 7, 2, 3, 0, tzinfo=timezone.utc)  # 11:00 Shanghai, both birthdays due
    async with transaction(profile.runtime.sessions) as session:
        counts = await care.emit_due_care(session, now=later, tz=SHANGHAI)
    assert counts == {"emitted": 1, "skipped": 1, "deferred": 0}
    due = {e["data"]["customer_id"]: e["data"] for e in await outbox_events(profile, "care-task-due")}
    assert due[traveller]["kind"] == "post-trip-thanks" and due[traveller]["channel"] == "email"
    assert due[glad]["kind"] == "birthday" and due[glad]["channel"] == "wechat"
    assert silent not in due
    skipped = (await profile.client.get(f"/v1/customers/{silent}/care-tasks")).json()["items"]
    assert skipped[0]["status"] == "skipped" and "no channel consented" in skipped[0]["note"]
    listed = (await profile.client.get("/v1/care-tasks", params={"status": "emitted"})).json()["items"]
    assert len(listed) == 2


async def test_monetary_value_counts_the_business_currency_and_reports_amounts_without_a_rate(backend: Backend) -> None:
    """100 CNY + 100 USD are not 200 of anything: without a USD rate the monetary value is the 100 CNY (the business
    currency) and the 100 USD is reported unconverted; with the configured rate 7.10 it counts as 710 CNY."""
    from services.profile.jobs import run_nightly

    profile = await backend.service("profile")
    cid = (await create(profile, name="多币种客户"))["id"]
    await post_booking(profile, booking("FX-1", cid, amount="100.00", completed_at=at("2025-06-01")))
    await post_booking(profile, booking("FX-2", cid, amount="100.00", completed_at=at("2025-06-10")) | {"currency": "USD"})
    await wait_bookings(profile, 2)
    await run_nightly(profile.runtime, NOW)
    value = (await profile.client.get(f"/v1/customers/{cid}/value")).json()
    assert (value["frequency"], value["monetary"], value["unconverted"]) == (2, "100.00", {"USD": "100.00"})
    assert value["currency"] == "CNY"

    cfg = (await profile.client.get("/v1/config")).json()
    bad = await profile.client.put("/v1/config", json=cfg | {"exchange_rates": {"USD": "-1"}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("exchange_rates")
    r = await profile.client.put("/v1/config", json=cfg | {"exchange_rates": {"USD": "7.10"}})
    assert r.status_code == 200, r.text
    await run_nightly(profile.runtime, NOW)
    value = (await profile.client.get(f"/v1/customers/{cid}/value")).json()
    assert (value["monetary"], value["unconverted"]) == ("810.00", {})
    overview = (await profile.client.get(f"/v1/customers/{cid}/overview")).json()
    assert overview["value"]["monetary"] == "810.00"
