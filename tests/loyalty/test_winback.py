"""Win-back that closes (loyalty's side): customer-at-risk on the bus makes one offer, announced once as
win-back-offered on the loyalty topic; a next booking redeems it; the report gives the win-back rate."""

from __future__ import annotations

import asyncio

from shared.events import LOYALTY, CustomerAtRisk, Envelope
from tests.conftest import Backend, eventually
from tests.loyalty.support import applied, balance, completed, emitted, publish


async def test_at_risk_customer_gets_one_announced_offer_and_the_report_gives_the_win_back_rate(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    seen: list[Envelope] = []

    async def collect(records) -> None:  # noqa: ANN001 - another service listening on the loyalty topic
        seen.extend(Envelope.model_validate_json(r.value) for r in records)

    listener = loyalty.runtime.bus.consumer("winback-listener", [LOYALTY], collect, metrics=loyalty.runtime.metrics)
    await listener.start()
    try:
        await publish(backend, completed("w-1", "B-w1", "100.00"), completed("w-2", "B-w2", "100.00"))
        await applied(loyalty, 2)
        at_risk = [CustomerAtRisk(customer_id=c, score=0.8, reasons=["no trip for a year"]) for c in ("w-1", "w-2")]
        await publish(backend, *at_risk, source="tourcrm/profile")
        await publish(backend, at_risk[0], source="tourcrm/profile")  # again, with a new event id: same offer
        await publish(backend, CustomerAtRisk(customer_id="nobody", score=0.9), source="tourcrm/profile")  # no member
        await applied(loyalty, 6)
        offered = await emitted(loyalty, "win-back-offered")
        assert sorted(e["data"]["customer_id"] for e in offered) == ["w-1", "w-2"]  # once per offer
        assert all(e["data"]["points"] == 300 for e in offered)  # the programme's win-back bonus

        async def announced() -> bool:
            return sorted(e.data["customer_id"] for e in seen if e.type == "win-back-offered") == ["w-1", "w-2"]
        await eventually(announced, timeout=30)

        # w-1 comes back: the offer is redeemed by that booking (and pays its bonus); w-2 does not
        await publish(backend, completed("w-1", "B-w1-back", "100.00"))
        await applied(loyalty, 7)
        assert await balance(loyalty, "w-1") == 100 + 100 + 300
        report = (await loyalty.client.get("/v1/reports/win-back")).json()
        assert (report["offers"], report["redeemed"], report["rate"]) == (2, 1, "0.5000")
        earlier = (await loyalty.client.get("/v1/reports/win-back", params={"end": report["start"],
                                                                             "start": report["start"]})).json()
        assert earlier["offers"] == 0 and earlier["rate"] is None  # 29 days back: before any offer
        await asyncio.sleep(0.2)
        assert len([e for e in seen if e.type == "win-back-offered"]) == 2  # never announced twice
    finally:
        await listener.stop()
