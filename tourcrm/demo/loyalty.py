"""Demo loyalty: a campaign (before the bookings), every demo customer enrolled, and some members using
points at a checkout — a hold (Idempotency-Key) then a capture, or a release as when a payment fails."""

from __future__ import annotations

import asyncio
import random
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tourcrm.demo import Demo

CAMPAIGN = "demo-sanya-double-points"
SEGMENT_CAMPAIGN = "demo-beach-lovers-bonus"


async def campaign(demo: Demo) -> None:
    today = date.today()
    body = {"id": CAMPAIGN, "name": "三亚夏日双倍积分 / Sanya summer double points", "kind": "multiplier",
            "multiplier": "2", "destinations": ["三亚"], "starts_on": (today - timedelta(days=200)).isoformat(),
            "ends_on": (today + timedelta(days=30)).isoformat()}
    await demo.call("loyalty", "POST", "/v1/campaigns", json=body, ok=(201, 409))  # 409: there from before
    demo.report.campaign = CAMPAIGN


async def members_and_redemptions(demo: Demo) -> None:
    async def enrol(n: int) -> None:
        await demo.call("loyalty", "POST", "/v1/members", json={"customer_id": demo.ids[n]}, retry=True)
        demo.report.members += 1

    await demo.each("loyalty members", sorted(demo.ids), enrol)
    await demo.each("redemptions", demo.plan.redeemers, lambda r: _redeem(demo, *r))


async def _redeem(demo: Demo, n: int, capture: bool) -> None:
    customer_id = demo.ids[n]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + demo.wait_seconds
    while True:  # the points of the bookings arrive through the bus
        available = (await demo.call("loyalty", "GET", f"/v1/members/{customer_id}")).json()["points_available"]
        if available >= 200 or loop.time() > deadline:
            break
        await asyncio.sleep(1)
    if available < 200:
        return
    rng = random.Random(f"{demo.plan.seed}:redeem:{n}")
    points = max(100, int(available * rng.uniform(0.2, 0.6)) // 100 * 100)
    held = await demo.call("loyalty", "POST", f"/v1/members/{customer_id}/redemptions",
                           json={"points": points, "booking_id": f"demo-{n:05d}-next"},
                           headers={"Idempotency-Key": f"demo-{demo.plan.seed}-{n}-hold"})
    outcome = "capture" if capture else "release"
    await demo.call("loyalty", "POST", f"/v1/redemptions/{held.json()['id']}/{outcome}")
    demo.report.redemptions["captured" if capture else "released"] += 1


async def segment_campaign(demo: Demo) -> None:
    """A profile segment (customers who like beaches), evaluated at once so that its members reach loyalty as
    segment-membership-changed, and a bonus campaign aimed at it over the past year that holds out a 20 %
    control group — before the bookings, so that the treated members earn its bonus and the control members
    do not; `finish_segment_campaign` ends it once the bookings are in, and its report shows the uplift."""
    segment = await demo.call("profile", "POST", "/v1/segments", json={
        "name": f"演示：爱海滩的客户 / beach lovers (seed {demo.plan.seed})",
        "rules": [{"field": "interests", "op": "contains", "value": "beach"}]})
    today = date.today()
    await demo.call("loyalty", "POST", "/v1/campaigns", json={
        "id": SEGMENT_CAMPAIGN, "name": "海滩爱好者加赠积分 / beach lovers' bonus", "kind": "bonus",
        "bonus_points": 300, "segment_id": segment.json()["id"], "control_pct": 20,
        "starts_on": (today - timedelta(days=366)).isoformat(), "ends_on": (today + timedelta(days=1)).isoformat()},
        ok=(201, 409))
    await demo.call("profile", "POST", f"/v1/segments/{segment.json()['id']}/evaluate")  # members → loyalty
    demo.report.segment_campaign = SEGMENT_CAMPAIGN


async def finish_segment_campaign(demo: Demo) -> None:
    """End the segment campaign (its report then covers a closed window: treated against control)."""
    await demo.call("loyalty", "POST", f"/v1/campaigns/{SEGMENT_CAMPAIGN}/end", ok=(200, 409))
