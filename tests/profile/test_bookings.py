"""Booking ingest over HTTP and from the bus → booking history, product catalog, stub files; the 360 view from events."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from shared.bus import Record
from shared.inbox import InboxRecord
from shared.events import (
    BOOKINGS, COMPLAINTS, FEEDBACK, LOYALTY, BookingCompleted, ComplaintFiled, FeedbackSubmitted, MemberEnrolled,
    PointsEarned, TierChanged, new_event,
)
from tests.conftest import Backend, RunningService, eventually
from tests.profile.helpers import PRODUCTS, booking, booking_rows, create, post_booking, wait_bookings


async def test_ingest_feeds_history_catalog_and_stub_files_once_per_booking(backend: Backend) -> None:
    profile = await backend.service("profile")
    known = (await create(profile, name="赵磊", phones=["13600001111"]))["id"]
    event_id = await post_booking(profile, booking("B-1", known, amount="3999.00", product="P-GUILIN"))
    await post_booking(profile, booking("B-2", "from-app-42", amount="1200.50", product="P-XIAN"))  # unknown id: stub
    await wait_bookings(profile, 2)
    # an external producer publishes straight to the topic, and retries B-1 under a new event id
    retry = new_event(BookingCompleted.model_validate(booking("B-1", known, amount="3999.00")), source="booking-web",
                      subject=known)
    renamed = dict(PRODUCTS["P-GUILIN"], name="桂林山水漓江五日游")
    direct = new_event(BookingCompleted.model_validate(booking("B-3", known, amount="800.00") | {"product": renamed}),
                       source="booking-web", subject=known)
    await backend.bus().publish([Record(BOOKINGS, known, retry.to_bytes()), Record(BOOKINGS, known, direct.to_bytes())])
    await wait_bookings(profile, 3)

    assert event_id and retry.id != event_id
    rows = {b.booking_id: b for b in await booking_rows(profile)}
    assert set(rows) == {"B-1", "B-2", "B-3"}
    assert str(rows["B-1"].amount) == "3999.00"
    stub = (await profile.client.get("/v1/customers/from-app-42")).json()
    assert stub["origin"] == "booking" and stub["name"] is None
    product = (await profile.client.get("/v1/products/P-GUILIN")).json()
    assert product == {"id": "P-GUILIN", "name": "桂林山水漓江五日游", "kind": "tour", "destination": "桂林",
                       "tags": ["nature", "scenic"]}
    products = (await profile.client.get("/v1/products", params={"limit": 1})).json()
    assert len(products["items"]) == 1 and products["next_cursor"]

    history = (await profile.client.get(f"/v1/customers/{known}/bookings", params={"limit": 1})).json()
    second = (await profile.client.get(f"/v1/customers/{known}/bookings",
                                       params={"limit": 1, "cursor": history["next_cursor"]})).json()
    assert {history["items"][0]["booking_id"], second["items"][0]["booking_id"]} == {"B-1", "B-3"}
    assert second["next_cursor"] is None
    value = (await profile.client.get(f"/v1/customers/{known}/value")).json()
    assert (value["frequency"], value["monetary"], value["repeat_status"]) == (2, "4799.00", "repeat")

    r = await profile.client.post("/v1/bookings/cancelled", json={"booking_id": "B-3", "customer_id": known,
                                                                   "reason": "行程变更", "refunded_amount": "800.00"})
    assert r.status_code == 202, r.text

    async def cancelled() -> bool:
        return {b.booking_id: b.status for b in await booking_rows(profile)}["B-3"] == "cancelled"
    await eventually(cancelled)
    value = (await profile.client.get(f"/v1/customers/{known}/value")).json()
    assert (value["frequency"], value["monetary"], value["repeat_status"]) == (1, "3999.00", "first-time")


async def test_ingest_rejects_bad_bookings_with_the_field(backend: Backend) -> None:
    profile = await backend.service("profile")
    good = booking("B-x", "c-x")
    for change, field in [({"amount": "-1"}, "amount"), ({"currency": "rmb"}, "currency"),
                          ({"channel": "carrier-pigeon"}, "channel"), ({"party_size": 0}, "party_size"),
                          ({"product": {"id": "P"}}, "product.name"), ({"surprise": 1}, "surprise"),
                          ({"travel_start": "2025-05-10", "travel_end": "2025-05-01"}, "travel_end"),
                          ({"completed_at": "2025-05-01T10:00:00"}, "completed_at"),
                          # what can never apply: issue 14, item 2
                          ({"currency": "ZZZ"}, "currency"), ({"amount": "999999999999.00"}, "amount"),
                          ({"completed_at": "9999-12-31T23:59:59Z"}, "completed_at"),
                          ({"completed_at": "0001-01-01T00:00:00Z"}, "completed_at"),
                          # a catalog entry a recommendation would have to read on every request (item 7)
                          ({"product": good["product"] | {"tags": [f"t{i}" for i in range(51)]}}, "product.tags"),
                          ({"product": good["product"] | {"tags": ["x" * 101]}}, "product.tags.0"),
                          ({"completed_at": (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()},
                           "completed_at")]:
        r = await profile.client.post("/v1/bookings/completed", json=good | change)
        assert r.status_code == 422, (change, r.text)
        assert field in [e["field"] for e in r.json()["errors"]], (change, r.json())
    async with profile.client_as("profile:write") as writer:
        assert (await writer.post("/v1/bookings/completed", json=good)).status_code == 403
    async with profile.client_as("events:publish") as publisher:
        assert (await publisher.post("/v1/bookings/completed", json=good)).status_code == 202


async def test_overview_is_built_from_consumed_events(backend: Backend) -> None:
    profile = await backend.service("profile")
    cid = (await create(profile, name="孙丽", phones=["13500002222"]))["id"]
    await post_booking(profile, booking("O-1", cid, amount="5000.00", product="P-SANYA"))
    now = datetime.now(timezone.utc)
    events = [
        (LOYALTY, MemberEnrolled(customer_id=cid, enrolled_at=now)),
        (LOYALTY, PointsEarned(customer_id=cid, points=5000, balance=5000, entry_id="e1", cause="O-1")),
        (LOYALTY, TierChanged(customer_id=cid, old_tier="regular", new_tier="silver", reason="spend", changed_at=now)),
        (COMPLAINTS, ComplaintFiled(complaint_id="CP-1", customer_id=cid, category="hotel", severity="high",
                                    booking_id="O-1", filed_at=now)),
        (FEEDBACK, FeedbackSubmitted(response_id="R-1", survey_id="S-1", customer_id=cid, nps=4, csat=2.5,
                                     submitted_at=now)),
    ]
    await backend.bus().publish([Record(topic, cid, new_event(data, source="test", subject=cid).to_bytes())
                                 for topic, data in events])

    async def complete() -> bool:
        view = (await profile.client.get(f"/v1/customers/{cid}/overview")).json()
        return bool(view["loyalty"] and view["loyalty"]["tier"] == "silver" and view["complaints"]["open"]
                    and view["satisfaction"]["last_nps"] == 4 and view["bookings"]["count"] == 1)
    await eventually(complete)
    view = (await profile.client.get(f"/v1/customers/{cid}/overview")).json()
    assert view["customer"]["name"] == "孙丽"
    assert view["loyalty"]["points_balance"] == 5000
    assert view["complaints"]["open"][0]["complaint_id"] == "CP-1"
    assert view["satisfaction"] == {"last_nps": 4, "last_csat": 2.5, "detractor": True, "responses": 1}
    assert view["bookings"]["recent"][0]["product"]["name"] == "三亚海景度假酒店"
    reasons = " | ".join(view["value"]["churn"]["reasons"])
    assert "1 open complaint(s)" in reasons and "detractor score 4" in reasons


async def test_loyalty_events_of_one_batch_apply_in_their_order(backend: Backend) -> None:
    """Member events are applied once per batch: the last balance and the last tier win, also for a customer
    profile did not know yet (a stub file is made), and an event after them sees them applied."""
    profile = await backend.service("profile")
    cid = (await create(profile, name="周敏", phones=["13500003333"]))["id"]
    now = datetime.now(timezone.utc)
    events = []
    for who in (cid, "ext-loyal-9"):
        events += [
            (who, MemberEnrolled(customer_id=who, enrolled_at=now, tier="regular")),
            (who, PointsEarned(customer_id=who, points=100, balance=100, entry_id=f"{who}-1", cause="B-1")),
            (who, TierChanged(customer_id=who, old_tier="regular", new_tier="gold", reason="spend", changed_at=now)),
            (who, PointsEarned(customer_id=who, points=150, balance=250, entry_id=f"{who}-2", cause="B-2")),
            (who, TierChanged(customer_id=who, old_tier="gold", new_tier="silver", reason="review", changed_at=now)),
        ]
    await backend.bus().publish([Record(LOYALTY, who, new_event(data, source="test", subject=who).to_bytes())
                                 for who, data in events])

    async def applied() -> bool:
        views = [(await profile.client.get(f"/v1/customers/{who}/overview")).json() for who in (cid, "ext-loyal-9")]
        return all(v.get("loyalty") and v["loyalty"]["points_balance"] == 250 for v in views)
    await eventually(applied)
    for who in (cid, "ext-loyal-9"):
        view = (await profile.client.get(f"/v1/customers/{who}/overview")).json()
        assert (view["loyalty"]["tier"], view["loyalty"]["points_balance"]) == ("silver", 250)


async def test_a_batch_of_bookings_is_checked_item_by_item_and_the_valid_ones_apply_once(backend: Backend) -> None:
    profile = await backend.service("profile")
    good = [booking(f"BB-{n}", f"c-batch-{n % 3}") for n in range(5)]
    items = [{"type": "booking-completed", "data": b} for b in good]
    items.insert(2, {"type": "booking-completed", "data": good[0] | {"currency": "ZZZ", "booking_id": "BB-bad"}})
    items.insert(4, {"type": "booking-teleported", "data": good[1]})
    items.append({"type": "booking-cancelled", "data": {"booking_id": "BB-4", "customer_id": "c-batch-1",
                                                        "reason": "changed plans", "cancelled_at": good[4]["completed_at"]}})
    r = await profile.client.post("/v1/bookings/batch", json={"items": items})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["accepted"], answer["rejected"]) == (6, 2)
    assert [i["status"] for i in answer["items"]] == ["accepted"] * 2 + ["rejected", "accepted", "rejected"] + ["accepted"] * 3
    assert answer["items"][2]["errors"][0]["field"] == "items.2.data.currency"
    assert answer["items"][4]["errors"][0]["field"] == "items.4.type"
    again = await profile.client.post("/v1/bookings/batch", json={"items": items})  # resent after a lost answer
    assert again.json()["accepted"] == 6
    sent = [i["event_id"] for i in answer["items"] + again.json()["items"] if i["event_id"]]
    await eventually(lambda: _applied(profile, sent))
    rows = {b.booking_id: b.status for b in await booking_rows(profile)}
    assert rows == {"BB-0": "completed", "BB-1": "completed", "BB-2": "completed", "BB-3": "completed",
                    "BB-4": "cancelled"}  # each booking once; the bad one nowhere
    value = (await profile.client.get("/v1/customers/c-batch-0/value")).json()
    assert value["frequency"] == 2  # BB-0 and BB-3, once each though sent twice

    too_many = {"items": [{"type": "booking-completed", "data": good[0]}] * 1001}
    r = await profile.client.post("/v1/bookings/batch", json=too_many)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items"
    async with profile.client_as("profile:write") as writer:
        assert (await writer.post("/v1/bookings/batch", json={"items": items[:1]})).status_code == 403


async def _applied(profile: RunningService, event_ids: list[str]) -> bool:
    async with profile.runtime.read_sessions() as s:
        seen = (await s.execute(select(InboxRecord.event_id).where(InboxRecord.event_id.in_(event_ids)))).scalars()
        return len(set(seen)) == len(set(event_ids))
