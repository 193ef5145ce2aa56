"""Privacy protocol: export, merge (nothing lost, nothing doubled) and erasure, on both backends."""

from __future__ import annotations

from shared.events import LOYALTY, CustomerErased, CustomersMerged
from tests.conftest import Backend
from tests.loyalty.support import applied, assert_ledger_consistent, balance, completed, emitted, key, member, publish


async def test_merge_moves_points_lots_holds_and_history_to_the_surviving_id_once(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    await publish(backend, completed("c-keep", "B-k", "1000.00"), completed("c-dup", "B-d", "600.00"))
    await applied(loyalty, 2)
    hold = (await loyalty.client.post("/v1/members/c-dup/redemptions", json={"points": 200}, headers=key())).json()
    merged = CustomersMerged(customer_id="c-keep", merged_ids=["c-dup"])
    await publish(backend, merged, merged, source="tourcrm/profile")  # a re-sent merge changes nothing
    await applied(loyalty, 4)
    view = await member(loyalty, "c-keep")
    assert (view["points_balance"], view["points_held"]) == (1600, 200)
    assert (await member(loyalty, "c-dup"))["customer_id"] == "c-keep"  # the old id resolves to the survivor
    assert (await loyalty.client.post(f"/v1/redemptions/{hold['id']}/capture")).status_code == 200
    assert await balance(loyalty, "c-keep") == 1400
    await publish(backend, completed("c-dup", "B-d2", "100.00"), completed("c-dup", "B-d", "600.00"))
    await applied(loyalty, 6)
    assert await balance(loyalty, "c-keep") == 1500  # later bookings of the old id land on the survivor; no re-earn
    causes = sorted(e["cause"]["id"] for e in (await loyalty.client.get("/v1/members/c-keep/ledger")).json()["items"])
    assert causes == sorted(["B-k", "B-d", "B-d2", hold["id"]])
    await assert_ledger_consistent(loyalty)


async def test_export_then_erase_forfeits_and_anonymises_and_reports_back(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    await publish(backend, completed("c-gone", "B-g", "800.00"))
    await applied(loyalty, 1)
    async with loyalty.client_as("loyalty:admin") as admin:
        assert (await admin.get("/v1/privacy/customers/c-gone")).status_code == 403
    export = (await loyalty.client.get("/v1/privacy/customers/c-gone")).json()
    assert (export["service"], export["customer_id"]) == ("loyalty", "c-gone")
    export = export["sections"]  # shared.privacy: every section a list of rows
    assert [m["points_balance"] for m in export["member"]] == [800]
    assert [b["booking_id"] for b in export["bookings"]] == ["B-g"]
    assert [(e["points"], e["cause_id"]) for e in export["ledger"]] == [(800, "B-g")]
    erased = CustomerErased(customer_id="c-gone", request_id="ER-1")
    await publish(backend, erased, source="tourcrm/profile")
    await applied(loyalty, 2)
    export = (await loyalty.client.get("/v1/privacy/customers/c-gone")).json()["sections"]
    assert export["member"] == [] and export["ledger"] == [] and export["bookings"] == []
    assert all(rows == [] for rows in export.values()), export
    assert (await loyalty.client.get("/v1/members/c-gone")).status_code == 404
    [report] = await emitted(loyalty, "customer-data-erased")
    assert report["data"] == {**report["data"], "service": "loyalty", "customer_id": "c-gone", "request_id": "ER-1"}
    from sqlalchemy import select
    from shared.outbox import OutboxRecord
    async with loyalty.runtime.read_sessions() as s:
        topic = (await s.execute(select(OutboxRecord.topic).where(OutboxRecord.type == "customer-data-erased"))).scalar_one()
    assert topic == LOYALTY
    liability = (await loyalty.client.get("/v1/reports/liability")).json()
    assert liability["outstanding_points"] == 0  # the balance was forfeited by an entry, not deleted
    await assert_ledger_consistent(loyalty)


async def test_an_erasure_inside_a_consumer_batch_loses_no_campaign_count_of_later_bookings(backend: Backend) -> None:
    """One batch earns a campaign bonus, erases another customer, then earns the campaign again: the campaign's
    `issued` counts both awards (an erasure that detached the batch's campaign rows lost the second)."""
    from sqlalchemy import func, select

    from services.loyalty.models import Campaign, CampaignAward
    from shared.bus import Record
    from shared.events import new_event

    loyalty = await backend.service("loyalty")
    r = await loyalty.client.post("/v1/campaigns", json={"id": "erase-batch", "name": "x", "kind": "bonus",
                                                         "bonus_points": 100, "budget": 100_000})
    assert r.status_code == 201, r.text
    await publish(backend, completed("c-erase-b", "B-eb0", "100.00"))
    await applied(loyalty, 1)

    def record(data, source: str = "booking-web") -> Record:  # noqa: ANN001
        return Record(data.topic, data.customer_id, new_event(data, source=source, subject=data.customer_id).to_bytes())

    await loyalty.runtime.consumer.process_batch([
        record(completed("c-erase-a", "B-ea", "100.00")),
        record(CustomerErased(customer_id="c-erase-b", request_id="ER-batch"), source="tourcrm/profile"),
        record(completed("c-erase-c", "B-ec", "100.00")),
    ])
    async with loyalty.runtime.read_sessions() as s:
        issued = (await s.execute(select(Campaign.issued).where(Campaign.id == "erase-batch"))).scalar_one()
        awarded = (await s.execute(select(func.sum(CampaignAward.points))
                                   .where(CampaignAward.campaign_id == "erase-batch"))).scalar_one()
    assert (issued, awarded) == (300, 300)
    assert await balance(loyalty, "c-erase-c") == 200
    await assert_ledger_consistent(loyalty)
