"""Demo complaints through the complaints API, walked to every state of the handbook flow: one reopened
after its resolution, one critical during-trip complaint left unanswered for the SLA job to escalate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tourcrm.demo.plan import ComplaintPlan

if TYPE_CHECKING:
    from tourcrm.demo import Demo

WALK: list[tuple[str, dict]] = [  # (route under the complaint, body), in the order of the flow
    ("transitions", {"to": "classified"}), ("transitions", {"to": "investigating"}),
    ("solutions", {"kind": "goodwill_points", "points": 500, "description": "致歉积分 / goodwill points"}),
    ("transitions", {"to": "solution_proposed"}), ("transitions", {"to": "customer_agreed"}),
    ("transitions", {"to": "executing"}),
    ("transitions", {"to": "resolved", "root_cause": "supplier", "preventive_action": "供应商整改"}),
    ("transitions", {"to": "follow_up"}), ("transitions", {"to": "closed"}),
]
REOPEN = {"to": "investigating", "reason": "客户对处理结果仍不满意"}


async def file_and_walk(demo: Demo) -> None:
    async def one(item: tuple[int, ComplaintPlan]) -> None:
        number, complaint = item
        trip = demo.plan.trips[complaint.trip]
        channel, phase, summary, category = complaint.text
        product = trip.body["product"]
        body = {"customer_id": demo.ids[trip.person], "channel": channel, "trip_phase": phase,
                "booking_id": trip.body["booking_id"], "product_id": product["id"],
                "destination": product["destination"], "summary": summary, "category": category}
        if complaint.escalate:
            body["severity"] = "critical"
        filed = (await demo.call("complaints", "POST", "/v1/complaints", json=body)).json()
        state = filed["state"]
        path = f"/v1/complaints/{filed['id']}"
        for step, payload in WALK[:7] if complaint.reopen else WALK:
            if state == complaint.stop and not complaint.reopen:
                break
            headers = {"Idempotency-Key": f"demo-{demo.plan.seed}-{number}-solution"} if step == "solutions" else {}
            answer = await demo.call("complaints", "POST", f"{path}/{step}", json=payload, headers=headers)
            state = answer.json().get("state", state)
        if complaint.reopen:
            state = (await demo.call("complaints", "POST", f"{path}/transitions", json=REOPEN)).json()["state"]
            demo.report.reopened += 1
        demo.report.escalating += complaint.escalate
        demo.report.complaints[state] += 1

    await demo.each("complaints", list(enumerate(demo.plan.complaints)), one)
