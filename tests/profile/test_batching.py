"""Values are recomputed once per consumed batch (scoring.recompute_touched, the after_batch hook), not per event:
batching must change no result. Many bookings for many customers, cancellations and retries in the same batches
as their bookings, consumed in batches of 40; then the batch recompute is compared with the nightly
recompute_all and with one-by-one recompute_customer calls."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from services.profile import bookings, scoring
from services.profile.models import Booking, Customer, CustomerValue
from shared.bus import Record
from shared.events import BOOKINGS, BookingCancelled, BookingCompleted, new_event
from tests.conftest import Backend, eventually
from tests.profile.helpers import PRODUCTS, booking, booking_rows
from tests.profile.test_value import NOW, SHANGHAI

FACTS = ("frequency", "monetary", "first_booking_at", "last_booking_at", "rhythm_days", "repeat_status")
SCORES = ("r_score", "f_score", "m_score", "value_class")
ALL = (*FACTS, *SCORES, "recency_days", "lifetime_value", "loyalty_status", "quadrant", "churn_score",
       "churn_reasons", "at_risk")


def snapshot(rows: dict[str, CustomerValue], ids: list[str], fields: tuple[str, ...] = ALL) -> dict[str, dict[str, Any]]:
    def norm(value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)  # SQLite hands back naive UTC
        return value.quantize(Decimal("0.01")) if isinstance(value, Decimal) else value
    return {cid: {f: norm(getattr(rows[cid], f)) for f in fields} for cid in ids}


async def value_rows(session) -> dict[str, CustomerValue]:  # noqa: ANN001
    return {r.customer_id: r for r in (await session.execute(select(CustomerValue))).scalars()}


async def test_batched_recompute_matches_recompute_all_and_one_by_one(backend: Backend) -> None:
    profile = await backend.service("profile", consumer_batch_size=40)
    rng = random.Random(20251123)
    ids = [f"bt-{n:02d}" for n in range(50)]
    records: list[Record] = []
    cancelled: list[str] = []
    for n in range(400):
        cid = ids[min(rng.randrange(50), rng.randrange(50))]  # some customers book much more than others
        body = booking(f"BT-{n}", cid, amount=f"{rng.randint(100, 20000)}.00", product=rng.choice(list(PRODUCTS)),
                       completed_at=NOW - timedelta(days=rng.randint(1, 900), minutes=n))
        event = new_event(BookingCompleted.model_validate(body), source="test", subject=cid)
        records.append(Record(BOOKINGS, cid, event.to_bytes()))
        if n % 9 == 0:  # a producer's retry under a new event id, usually in the same batch
            retry = new_event(BookingCompleted.model_validate(body), source="test", subject=cid)
            records.append(Record(BOOKINGS, cid, retry.to_bytes()))
        if n % 13 == 0:  # cancelled, usually in the same batch as the booking
            cancelled.append(body["booking_id"])
            cancel = new_event(BookingCancelled(booking_id=body["booking_id"], customer_id=cid, reason="变更",
                                                refunded_amount=Decimal(body["amount"])), source="test", subject=cid)
            records.append(Record(BOOKINGS, cid, cancel.to_bytes()))
    publisher = backend.bus()
    for i in range(0, len(records), 100):
        await publisher.publish(records[i:i + 100])

    async def consumed() -> bool:
        rows = await booking_rows(profile)
        return len(rows) == 400 and sum(b.status == "cancelled" for b in rows) == len(cancelled)
    await eventually(consumed, timeout=60)

    buyers = sorted({b.customer_id for b in await booking_rows(profile)})
    async with profile.runtime.sessions() as session:
        consumer = snapshot(await value_rows(session), buyers, (*FACTS, *SCORES))
        # the nightly batch: everyone against everyone, the reference
        await scoring.recompute_all(session, now=NOW, tz=SHANGHAI)
        reference = snapshot(await value_rows(session), buyers)
        await session.rollback()
    # what the consumer stored: the facts are exact, whatever the batches were
    assert {c: {f: v[f] for f in FACTS} for c, v in consumer.items()} == \
        {c: {f: v[f] for f in FACTS} for c, v in reference.items()}
    live = [b for b in await booking_rows(profile) if b.status == "completed"]
    assert sum(v["frequency"] for v in consumer.values()) == len(live)

    # one batch that touched everyone: the after_batch hook's result is the nightly one
    async with profile.runtime.sessions() as session:
        scoring.touch(session, *buyers)
        await scoring.recompute_touched(session)
        hooked = snapshot(await value_rows(session), buyers, (*FACTS, *SCORES))
        await session.rollback()
    assert hooked == {c: {f: v[f] for f in (*FACTS, *SCORES)} for c, v in reference.items()}

    # the batch function on every customer, on a subset, and one by one: all equal to the reference
    async with profile.runtime.sessions() as session:
        await scoring.recompute_customers(session, buyers, now=NOW, tz=SHANGHAI)
        assert snapshot(await value_rows(session), buyers) == reference
        await session.rollback()
    subset = buyers[::3]
    async with profile.runtime.sessions() as session:
        await scoring.recompute_customers(session, subset, now=NOW, tz=SHANGHAI)
        assert snapshot(await value_rows(session), subset) == {c: reference[c] for c in subset}
        await session.rollback()
    async with profile.runtime.sessions() as session:
        for cid in reversed(buyers):
            await scoring.recompute_customer(session, cid, now=NOW, tz=SHANGHAI)
        assert snapshot(await value_rows(session), buyers) == reference
        await session.rollback()
    # a population with spread: the comparison is not trivially all-equal scores
    assert {v["value_class"] for v in reference.values()} >= {"most-valuable", "key", "small"}
    assert len({v["r_score"] for v in reference.values()}) == 5


async def test_a_failing_event_in_a_batch_is_dead_lettered_and_the_rest_valued(backend: Backend,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """On the fast path bookings are deferred to the end of the batch; when one event fails, the consumer redoes
    the batch one event at a time, in savepoints, where bookings are written at once: that event is parked with
    nothing of it left (not its stub file, not a value row), the others land and are valued."""
    real = bookings.record_booking

    async def record_booking(session, data, **kw):  # noqa: ANN001, ANN003, ANN202
        await real(session, data, **kw)  # adds a stub file, the booking, and notes the customer
        if data.booking_id == "BG-bad":
            raise RuntimeError("refused")
        return True
    real_defer = bookings.defer_booking

    def defer_booking(session, data, **kw):  # noqa: ANN001, ANN003, ANN202
        real_defer(session, data, **kw)
        if data.booking_id == "BG-bad":
            raise RuntimeError("refused")
    monkeypatch.setattr(bookings, "record_booking", record_booking)
    monkeypatch.setattr(bookings, "defer_booking", defer_booking)
    profile = await backend.service("profile", consumer_batch_size=100)
    good = [booking(f"BG-{n}", f"bg-{n % 3}", amount="500.00") for n in range(6)]
    bad = booking("BG-bad", "bg-new", amount="700.00")
    events = [new_event(BookingCompleted.model_validate(b), source="test", subject=b["customer_id"])
              for b in [*good[:3], bad, *good[3:]]]
    await backend.bus().publish([Record(BOOKINGS, e.subject, e.to_bytes()) for e in events])

    async def parked() -> bool:
        return bool(await profile.runtime.consumer.dead_letters())
    await eventually(parked, timeout=30)
    assert [d.event_id for d in await profile.runtime.consumer.dead_letters()] == [events[3].id]
    async with profile.runtime.read_sessions() as session:
        rows = await value_rows(session)
        assert await session.get(Booking, "BG-bad") is None
        assert await session.get(Customer, "bg-new") is None
    assert "bg-new" not in rows
    assert {cid: (rows[cid].frequency, str(rows[cid].monetary), rows[cid].repeat_status)
            for cid in ("bg-0", "bg-1", "bg-2")} == {c: (2, "1000.00", "repeat") for c in ("bg-0", "bg-1", "bg-2")}
    assert len(await booking_rows(profile)) == 6
