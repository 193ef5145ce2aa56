"""Demo contact history and key accounts (profile): calls and visits with customers (some inquiries open a
lead, some schedule a return visit), and a few companies whose staff book with them, with credit terms,
charges and payments."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tourcrm.demo import Demo

CONTACTS = [  # (channel, direction, purpose, summary, outcome)
    ("phone", "outbound", "care", "行程结束后回访，客户对导游很满意", "满意"),
    ("wechat", "inbound", "inquiry", "咨询十月份九寨沟亲子游", "已发报价"),
    ("phone", "inbound", "booking", "电话预订三亚酒店，需要海景房", "已预订"),
    ("email", "inbound", "inquiry", "Asked about a Japan package for two in spring", "quote sent"),
    ("visit", "inbound", "inquiry", "门店咨询云南七日游，老人同行", "考虑中"),
    ("phone", "outbound", "return-visit", "Follow-up call after the Guilin tour", "happy, wants Xi'an next"),
]
COMPANIES = [("上海星途国际贸易有限公司", "trade", "medium", "上海", "上海"),
             ("深圳云帆科技有限公司", "technology", "large", "广东", "深圳"),
             ("杭州禾木文化传媒有限公司", "media", "small", "浙江", "杭州"),
             ("北京远景医药集团", "pharmaceuticals", "enterprise", "北京", "北京")]


async def contacts(demo: Demo) -> None:
    rng = random.Random(f"{demo.plan.seed}:contacts")
    chosen = sorted(rng.sample(sorted(demo.ids), max(1, len(demo.ids) // 5)))

    async def one(n: int) -> None:
        local = random.Random(f"{demo.plan.seed}:contacts:{n}")
        for _ in range(local.randint(1, 2)):
            channel, direction, purpose, summary, outcome = local.choice(CONTACTS)
            body = {"channel": channel, "direction": direction, "purpose": purpose, "summary": summary,
                    "outcome": outcome, "staff": local.choice(["agent-li", "agent-chen", "agent-smith"])}
            if purpose == "inquiry" and local.random() < 0.6:
                body["lead"] = {"interest": summary, "source": channel if channel != "visit" else "walk-in"}
                demo.report.leads += 1
            if local.random() < 0.3:
                body["next_step"] = "再次回访 / call again"
                body["next_step_at"] = datetime.combine(date.today() + timedelta(days=local.randint(2, 20)),
                                                        time(2), timezone.utc).isoformat()
            await demo.call("profile", "POST", f"/v1/customers/{demo.ids[n]}/contacts", json=body)
            demo.report.contacts += 1

    await demo.each("contacts", chosen, one)


async def organisations(demo: Demo) -> None:
    rng = random.Random(f"{demo.plan.seed}:organisations")
    trips_of: dict[int, list[dict]] = {}
    for trip in demo.plan.trips:
        if trip.cancel is None:
            trips_of.setdefault(trip.person, []).append(trip.body)
    people = sorted(trips_of)
    companies = COMPANIES[:max(1, min(len(COMPANIES), len(people) // 5))]
    for i, (name, industry, size, province, city) in enumerate(companies):
        body = {"name": name, "registration_number": f"91{demo.plan.seed % 10_000:04d}DEMO{i:08d}",
                "industry": industry, "size": size, "address": {"province": province, "city": city},
                "account_owner": "agent-wang", "billing_contacts": [{"name": "财务部", "role": "finance"}]}
        organisation = (await demo.call("profile", "POST", "/v1/organisations", json=body)).json()["id"]
        path = f"/v1/organisations/{organisation}"
        await demo.call("profile", "PUT", f"{path}/credit", json={
            "credit_limit": str(rng.choice([50_000, 100_000, 300_000])), "currency": "CNY", "payment_terms_days": 30})
        staff = rng.sample(people, min(len(people), rng.randint(2, 5)))
        for k, n in enumerate(staff):
            role = "booker" if k == 0 else rng.choice(["traveller", "traveller", "approver"])
            await demo.call("profile", "PUT", f"{path}/customers/{demo.ids[n]}", json={"role": role})
            for trip in trips_of[n]:
                await demo.call("profile", "POST", f"{path}/charges", json={
                    "booking_id": trip["booking_id"], "amount": trip["amount"], "currency": "CNY",
                    "booked_on": trip["completed_at"][:10], "customer_id": demo.ids[n]})
                if rng.random() < 0.7:  # the rest still owed, some of it overdue
                    await demo.call("profile", "POST", f"{path}/payments", json={
                        "reference": f"PAY-{trip['booking_id']}", "amount": trip["amount"], "currency": "CNY",
                        "paid_on": trip["travel_end"]})
        demo.report.organisations += 1
