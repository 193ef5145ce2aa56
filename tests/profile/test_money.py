"""Money in one currency per figure: the projected lifetime value counts only bookings with a price in the business
currency (a booking without a rate is not projected at the others' average), and a refund keeps its own currency."""

from __future__ import annotations

from datetime import datetime, timezone

from services.profile.jobs import run_nightly
from tests.conftest import Backend, eventually
from tests.profile.helpers import booking, create, post_booking, wait_bookings

NOW = datetime(2025, 6, 30, 4, 0, tzinfo=timezone.utc)


def at(day: str) -> datetime:
    return datetime.fromisoformat(day + "T04:00:00+00:00")


async def test_lifetime_value_projects_priced_bookings_only(backend: Backend) -> None:
    profile = await backend.service("profile")
    cid = (await create(profile, name="多币种客户"))["id"]
    await post_booking(profile, booking("M-1", cid, amount="1000.00", completed_at=at("2025-03-01")))
    await post_booking(profile, booking("M-2", cid, amount="100.00", completed_at=at("2025-05-01")) | {"currency": "USD"})
    await wait_bookings(profile, 2)
    await run_nightly(profile.runtime, NOW)
    value = (await profile.client.get(f"/v1/customers/{cid}/value")).json()
    # no USD rate: spend 1000 CNY, one priced booking a year (tenure < 1 year counts as 1) × 1000 × 3 years = 4000;
    # the USD booking is a trip (frequency 2) but not 1000 CNY of value
    assert (value["frequency"], value["monetary"], value["lifetime_value"], value["unconverted"]) == (
        2, "1000.00", "4000.00", {"USD": "100.00"})
    cfg = (await profile.client.get("/v1/config")).json()
    await profile.client.put("/v1/config", json=cfg | {"exchange_rates": {"USD": "7.10"}})
    await run_nightly(profile.runtime, NOW)
    value = (await profile.client.get(f"/v1/customers/{cid}/value")).json()
    # with the rate: 1000 + 710 = 1710; average 855 × 2 a year × 3 = 5130 → 6840
    assert (value["monetary"], value["lifetime_value"], value["unconverted"]) == ("1710.00", "6840.00", {})


async def test_a_refund_keeps_its_own_currency(backend: Backend) -> None:
    profile = await backend.service("profile")
    cid = (await create(profile, name="退款客户"))["id"]
    await post_booking(profile, booking("R-1", cid, amount="5000.00"))
    await wait_bookings(profile, 1)
    r = await profile.client.post("/v1/bookings/cancelled", json={
        "booking_id": "R-1", "customer_id": cid, "refunded_amount": "600.00", "currency": "USD"})
    assert r.status_code == 202

    async def cancelled() -> bool:
        return (await profile.client.get(f"/v1/customers/{cid}/bookings")).json()["items"][0]["status"] == "cancelled"
    await eventually(cancelled)
    row = (await profile.client.get(f"/v1/customers/{cid}/bookings")).json()["items"][0]
    assert (row["amount"], row["currency"], row["refunded_amount"], row["refund_currency"]) == (
        "5000.00", "CNY", "600.00", "USD")
