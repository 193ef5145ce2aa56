"""Earning on booking-completed and reversing on booking-cancelled, through the bus, on both backends."""

from __future__ import annotations

import json

from sqlalchemy import select

from services.loyalty.models import Booking, LedgerEntry, Lot
from shared.bus import Record
from shared.consumer import EventConsumer
from shared.events import BOOKINGS, new_event
from tests.conftest import Backend, eventually
from tests.loyalty.support import (
    applied, assert_ledger_consistent, balance, cancelled, completed, emitted, key, member, publish,
)


async def test_a_booking_earns_once_however_often_it_arrives_even_under_new_event_ids(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    event = completed("c-once", "B-once", "1999.99")
    envelope = new_event(event, source="booking-web", subject="c-once")
    record = Record(BOOKINGS, "c-once", envelope.to_bytes())
    await backend.bus().publish([record, record])  # the same record twice
    await publish(backend, event, event, event)  # and three retries with fresh event ids
    await applied(loyalty, 4)

    view = await member(loyalty, "c-once")
    assert view["tier"] == "regular" and view["points_balance"] == 1999  # 1 point per CNY, floor, ×1
    assert len(await emitted(loyalty, "member-enrolled")) == 1
    earned = await emitted(loyalty, "points-earned")
    assert [(e["data"]["points"], e["data"]["cause"], e["data"]["kind"]) for e in earned] == [(1999, "B-once", "earn")]
    async with loyalty.runtime.read_sessions() as s:
        entries = list((await s.execute(select(LedgerEntry))).scalars())
    assert [(e.kind, e.points, e.cause_type, e.cause_id) for e in entries] == [("earn", 1999, "booking", "B-once")]
    await assert_ledger_consistent(loyalty)


async def test_each_points_earned_of_a_batch_names_its_own_entry_and_each_lot_its_booking(backend: Backend) -> None:
    # a batch's entries are written by one statement and their ids matched to the rows afterwards
    loyalty = await backend.service("loyalty")
    bookings = [completed(f"c-batch-{n % 7}", f"B-batch-{n}", f"{100 + 37 * n}.00") for n in range(40)]
    await publish(backend, *bookings)
    await applied(loyalty, len(bookings))

    async with loyalty.runtime.read_sessions() as s:
        entries = {e.id: e for e in (await s.execute(select(LedgerEntry))).scalars()}
        lots = list((await s.execute(select(Lot))).scalars())
    earned = [e["data"] for e in await emitted(loyalty, "points-earned")]
    assert sorted(e["cause"] for e in earned) == sorted(b.booking_id for b in bookings)
    for event in earned:
        entry = entries[int(event["entry_id"])]
        assert (entry.cause_id, entry.points, entry.customer_id) == (event["cause"], event["points"], event["customer_id"])
    assert len(lots) == len(bookings)
    for lot in lots:
        entry = entries[lot.entry_id]
        assert (entry.cause_id, entry.points, entry.customer_id) == (lot.booking_id, lot.points, lot.customer_id)
    await assert_ledger_consistent(loyalty)


async def test_product_bonuses_tier_multiplier_currency_rate_and_the_cap(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    await publish(
        backend,
        completed("c-bonus", "B-cruise", "1000.00", kind="cruise"),  # +500 for cruises
        completed("c-bonus", "B-eco", "1000.00", tags=["eco"]),  # ×1.2 on base for the eco tag
        completed("c-bonus", "B-usd", "100.00", currency="USD"),  # 7.1 CNY per USD
    )
    await applied(loyalty, 3)
    async with loyalty.runtime.read_sessions() as s:
        earned = {b.booking_id: b.earned for b in (await s.execute(select(Booking))).scalars()}
    assert earned == {"B-cruise": 1500, "B-eco": 1200, "B-usd": 710}
    assert await balance(loyalty, "c-bonus") == 3410

    # the cap, changed by an audited admin call that does not rewrite past entries
    programme = (await loyalty.client.get("/v1/programme")).json()["programme"]
    programme["max_points_per_booking"] = 2000
    r = await loyalty.client.put("/v1/programme", json={"programme": programme, "reason": "cap big trips"})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
    await publish(backend, completed("c-bonus", "B-big", "90000.00"))
    await applied(loyalty, 4)
    view = await member(loyalty, "c-bonus")
    assert view["points_balance"] == 3410 + 2000
    versions = (await loyalty.client.get("/v1/programme/versions")).json()["items"]
    assert versions[0]["reason"] == "cap big trips" and versions[0]["actor"] == "test-all"
    async with loyalty.runtime.read_sessions() as s:
        assert (await s.get(Booking, "B-cruise")).earned == 1500  # untouched by the change
    await assert_ledger_consistent(loyalty)


async def test_cancellation_reverses_exactly_what_the_booking_earned_and_spent_points_become_debt(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    await publish(backend, completed("c-rev", "B-1", "1000.00"), completed("c-rev", "B-2", "500.00"))
    await applied(loyalty, 2)
    assert await balance(loyalty, "c-rev") == 1500

    hold = await loyalty.client.post("/v1/members/c-rev/redemptions", json={"points": 1200, "booking_id": "N-1"},
                                     headers=key())
    assert hold.status_code == 201, hold.text
    assert (await loyalty.client.post(f"/v1/redemptions/{hold.json()['id']}/capture")).status_code == 200
    assert await balance(loyalty, "c-rev") == 300

    await publish(backend, cancelled("c-rev", "B-1"), cancelled("c-rev", "B-1"))  # twice, new ids
    await applied(loyalty, 4)
    view = await member(loyalty, "c-rev")
    assert (view["points_balance"], view["debt"]) == (0, 700)
    statement = (await loyalty.client.get("/v1/members/c-rev/ledger")).json()
    reversal = statement["items"][0]
    assert (reversal["kind"], reversal["points"], reversal["cause"]["id"]) == ("reverse", -300, "B-1")
    assert "700 of 1000 points" in reversal["note"] and "debt" in statement["debt_note"]

    await publish(backend, completed("c-rev", "B-3", "1000.00"))  # future earnings settle the debt
    await applied(loyalty, 5)
    view = await member(loyalty, "c-rev")
    assert (view["points_balance"], view["debt"]) == (300, 0)
    kinds = [(e["kind"], e["points"]) for e in (await loyalty.client.get("/v1/members/c-rev/ledger")).json()["items"]]
    assert kinds[:2] == [("reverse", -700), ("earn", 1000)]
    reversed_ = await emitted(loyalty, "points-reversed")
    assert [e["data"]["points"] for e in reversed_] == [-300, -700]
    await assert_ledger_consistent(loyalty)

    # cancelled before completed: a late booking-completed for it earns nothing
    await publish(backend, cancelled("c-rev", "B-late"), completed("c-rev", "B-late", "5000.00"))
    await applied(loyalty, 7)
    assert await balance(loyalty, "c-rev") == 300


async def test_malformed_events_and_unknown_currencies_are_dead_lettered_without_a_partial_write(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    good = new_event(completed("c-bad", "B-good", "100.00"), source="booking-web", subject="c-bad")
    broken = json.loads(good.to_bytes())
    broken["data"]["amount"] = "-5"
    broken["id"] = "broken-1"
    await backend.bus().publish([
        Record(BOOKINGS, "c-bad", b"{oops"),
        Record(BOOKINGS, "c-bad", json.dumps(broken).encode()),
        Record(BOOKINGS, "c-bad", new_event(completed("c-bad", "B-yen", "100.00", currency="JPY"),
                                            source="booking-web", subject="c-bad").to_bytes()),
        Record(BOOKINGS, "c-bad", good.to_bytes()),
    ])
    await eventually(lambda: _parked(loyalty, 3))
    await applied(loyalty, 4)
    letters = await loyalty.runtime.consumer.dead_letters()
    reasons = " | ".join(letter.error for letter in letters)
    assert "not JSON" in reasons and "amount" in reasons and "no earn rate for currency JPY" in reasons
    assert await balance(loyalty, "c-bad") == 100
    async with loyalty.runtime.read_sessions() as s:
        assert (await s.get(Booking, "B-yen")) is None  # nothing of the failed booking was written
    await assert_ledger_consistent(loyalty)

    # add the rate, replay: the parked booking earns, once
    programme = (await loyalty.client.get("/v1/programme")).json()["programme"]
    programme["rates"]["JPY"] = "0.05"
    assert (await loyalty.client.put("/v1/programme", json={"programme": programme, "reason": "JPY"})).status_code == 200
    outcomes = await loyalty.runtime.consumer.replay()
    assert sorted(outcomes.values()).count("replayed") == 1
    assert await balance(loyalty, "c-bad") == 105


async def test_replaying_the_whole_booking_topic_from_offset_zero_changes_no_balance(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    customers = [f"c-replay-{i}" for i in range(5)]
    events = [completed(c, f"B-{c}-{n}", f"{100 * (n + 1)}.00") for c in customers for n in range(4)]
    events += [cancelled(customers[0], f"B-{customers[0]}-1")]
    await publish(backend, *events)
    await applied(loyalty, len(events))
    before = {c: await balance(loyalty, c) for c in customers}
    # the third trip makes silver (×1.25) at once: 100 + 200 + 300 + 500, less the cancelled 200
    assert before[customers[0]] == 900 and before[customers[1]] == 1100

    # a consumer with a fresh inbox reads the topic again from offset 0 into the same database
    replayer = EventConsumer(name="loyalty-replay", sessions=loyalty.runtime.sessions,
                             subscriptions=loyalty.runtime.spec.subscriptions, metrics=loyalty.runtime.metrics)
    consumer = loyalty.runtime.bus.consumer("loyalty-replay", replayer.topics, replayer.process_batch,
                                            metrics=loyalty.runtime.metrics)
    await consumer.start()
    try:
        async def replayed() -> bool:
            async with loyalty.runtime.read_sessions() as s:
                from shared.inbox import InboxRecord
                rows = (await s.execute(select(InboxRecord).where(InboxRecord.consumer == "loyalty-replay"))).all()
            return len(rows) >= len(events)
        await eventually(replayed)
    finally:
        await consumer.stop()
    after = {c: await balance(loyalty, c) for c in customers}
    assert after == before
    await assert_ledger_consistent(loyalty)


async def _parked(loyalty, n: int) -> bool:  # noqa: ANN001
    return len(await loyalty.runtime.consumer.dead_letters()) >= n
