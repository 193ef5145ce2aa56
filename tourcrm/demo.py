"""Demo data for embedded mode: customers (Chinese names) and their completed trips, entered through the public HTTP API."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta, timezone

import httpx

from shared.settings import Settings

log = logging.getLogger(__name__)

PRODUCTS = [
    {"id": "P-GUILIN-5D", "name": "桂林山水五日游", "kind": "tour", "destination": "桂林", "tags": ["nature", "scenic"]},
    {"id": "P-XIAN-4D", "name": "西安古都文化四日游", "kind": "tour", "destination": "西安", "tags": ["history", "culture"]},
    {"id": "P-SANYA-HOTEL", "name": "三亚海景度假酒店", "kind": "hotel", "destination": "三亚", "tags": ["beach", "family"]},
    {"id": "P-JIUZHAI-6D", "name": "九寨沟黄龙六日游", "kind": "tour", "destination": "九寨沟", "tags": ["nature", "hiking"]},
    {"id": "P-BEIJING-3D", "name": "北京故宫长城三日游", "kind": "tour", "destination": "北京", "tags": ["history", "culture"]},
    {"id": "P-CHENGDU-FOOD", "name": "成都美食之旅", "kind": "tour", "destination": "成都", "tags": ["food", "culture"]},
]


INTERESTS = ["nature", "history", "culture", "beach", "food", "family"]
CITIES = [("广东", "广州"), ("上海", "上海"), ("北京", "北京"), ("浙江", "杭州"), ("四川", "成都"), ("江苏", "南京")]


def _customer(n: int, rng: random.Random, fake) -> dict:  # noqa: ANN001
    province, city = rng.choice(CITIES)
    consents = [{"channel": "sms", "purpose": "service", "status": "granted", "source": "demo"}]
    if rng.random() < 0.7:
        consents.append({"channel": rng.choice(["sms", "wechat", "email"]), "purpose": "marketing",
                         "status": "granted", "source": "demo"})
    if rng.random() < 0.6:
        consents.append({"channel": "app-push", "purpose": "profiling", "status": "granted", "source": "demo"})
    return {
        "name": fake.name(),
        "gender": rng.choice(["female", "male"]),
        "birth_date": f"{rng.randint(1955, 2002)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "phones": [f"13{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}"],
        "emails": [f"demo{n:04d}@example.com"],
        "address": {"province": province, "city": city},
        "preferred_channel": rng.choice(["sms", "wechat"]),
        "preferred_language": "zh-CN",
        "preferences": {"interests": rng.sample(INTERESTS, 2), "budget_band": rng.choice(["standard", "premium"])},
        "external_ids": [{"source": "booking-site", "id": f"demo-{n:04d}"}],
        "consents": consents,
    }


async def load_demo(settings: Settings, key: str, *, customers: int = 40, seed: int = 7) -> int:
    """Register demo customers (Chinese names) through the profile API, then post their bookings to the
    profile ingest; once (marker: var/demo-loaded). Returns how many bookings were accepted."""
    from faker import Faker

    marker = settings.var_dir / "demo-loaded"
    if marker.exists():
        return 0
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    base = settings.url_of("profile")
    accepted = 0
    trips: list[tuple[str, str, dict]] = []
    now = datetime.now(timezone.utc)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
        for n in range(customers):
            registered = await client.post("/v1/customers/resolve", json=_customer(n, rng, fake))
            if registered.status_code == 404:
                log.info("demo data skipped: the profile API is not available")
                return accepted
            registered.raise_for_status()
            customer_id = registered.json()["id"]
            for trip in range(rng.randint(1, 4)):
                product = rng.choice(PRODUCTS)
                trips.append((customer_id, f"demo-{n:04d}-{trip}", product))
                start = now - timedelta(days=rng.randint(10, 700))
                body = {
                    "booking_id": f"demo-{n:04d}-{trip}",
                    "customer_id": customer_id,
                    "channel": rng.choice(["web", "app"]),
                    "product": product,
                    "amount": f"{rng.randint(800, 12000)}.00",
                    "currency": settings.currency,
                    "party_size": rng.randint(1, 4),
                    "travel_start": start.date().isoformat(),
                    "travel_end": (start + timedelta(days=4)).date().isoformat(),
                    "completed_at": (start - timedelta(days=20)).isoformat(),
                }
                response = await client.post("/v1/bookings/completed", json=body)
                response.raise_for_status()
                accepted += 1
    filed = await load_demo_complaints(settings, key, trips, rng)
    answered = await load_feedback_demo(settings, key, bookings=accepted)
    marker.write_text(f"{customers} customers, {accepted} bookings, {filed} complaints, {answered} surveys answered\n")
    log.info("demo data loaded", extra={"customers": customers, "bookings": accepted})
    return accepted


# --- feedback: answered surveys with comments ----------------------------------------------------------

DEMO_COMMENTS = {
    "happy": ["导游讲解很专业，行程安排合理，物超所值！", "酒店干净舒适，早餐丰盛，下次还会选择你们。",
              "风景太美了，领队很贴心，全家都玩得很开心。", "Our guide was knowledgeable and the hotels were spotless. Highly recommend."],
    "mixed": ["风景很美，但是购物店有点多。", "酒店不错，就是离景区太远了。", "Lovely scenery, but the schedule was a bit rushed."],
    "unhappy": ["导游态度恶劣，全程强制购物，非常失望。", "房间有霉味，空调也坏了，没人管。",
                "The bus was late every day and the guide was rude. Not worth the money."],
}


async def load_feedback_demo(settings: Settings, key: str, *, bookings: int, seed: int = 11,
                             wait_seconds: float = 30) -> int:
    """Answer most of the post-trip surveys the demo trips brought (through the feedback API, as the app
    would); returns how many were answered. Skipped when the feedback service is not running."""
    import asyncio

    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=settings.url_of("feedback"), headers={"Authorization": f"Bearer {key}"},
                                 timeout=10) as client:
        try:
            for _ in range(int(wait_seconds * 2)):  # the bookings reach feedback through the bus
                listed = (await client.get("/v1/surveys/invitations", params={"limit": 500})).json()["items"]
                if len(listed) >= min(bookings, 500):
                    break
                await asyncio.sleep(0.5)
            await client.post("/v1/surveys/dispatch")
            sent = (await client.get("/v1/surveys/invitations", params={"status": "sent", "limit": 500})).json()["items"]
        except (httpx.HTTPError, KeyError, ValueError):
            log.info("feedback demo skipped: the feedback API is not available")
            return 0
        answered = 0
        for invitation in sent:
            if rng.random() < 0.25:
                continue  # some never answer
            mood = rng.choices(["happy", "mixed", "unhappy"], weights=[6, 3, 1])[0]
            nps = {"happy": rng.randint(9, 10), "mixed": rng.randint(7, 8), "unhappy": rng.randint(0, 5)}[mood]
            csat = {"happy": 5, "mixed": rng.randint(3, 4), "unhappy": rng.randint(1, 2)}[mood]
            form = (await client.get(f"/v1/surveys/invitations/{invitation['token']}")).json()
            answers = {}
            for q in form.get("questions", []):
                if q["type"] == "nps":
                    answers[q["id"]] = nps
                elif q["type"] in ("csat", "rating"):
                    answers[q["id"]] = max(1, min(5, csat + rng.choice([-1, 0, 0, 1])))
                elif q["type"] == "text" and rng.random() < 0.8:
                    answers[q["id"]] = rng.choice(DEMO_COMMENTS[mood])
            r = await client.post(f"/v1/surveys/invitations/{invitation['token']}/responses", json={"answers": answers})
            answered += r.status_code == 201
    log.info("feedback demo loaded", extra={"answered": answered})
    return answered


# --- complaints: one or more in every state of the handbook flow --------------------------------------

COMPLAINTS = [
    ("phone", "during", "导游强制购物，不去购物店就不走", "service_quality"),
    ("mobile_app", "during", "酒店房间与描述不符，没有海景", "product_not_as_described"),
    ("email", "after", "退款两周了还没到账", "price"),
    ("web_form", "before", "客服一直没人回复我的改期申请", "slow_response"),
    ("tour_guide", "during", "游客在景区摔伤，已送医院", "safety_incident"),
    ("social_media", "after", "行程临时变更没有提前告知", "communication"),
    ("third_party", "after", "门票价格比官网贵", "price"),
    ("in_person", "after", "餐食卫生差", "service_quality"),
    ("phone", "after", "行李在转机时丢失", "other"),
]
WALK: list[tuple[str, dict]] = [
    ("transitions", {"to": "classified"}), ("transitions", {"to": "investigating"}),
    ("solutions", {"kind": "goodwill_points", "points": 500, "description": "致歉积分"}),
    ("transitions", {"to": "solution_proposed"}), ("transitions", {"to": "customer_agreed"}),
    ("transitions", {"to": "executing"}),
    ("transitions", {"to": "resolved", "root_cause": "supplier", "preventive_action": "供应商整改"}),
    ("transitions", {"to": "follow_up"}), ("transitions", {"to": "closed"}),
]
STOPS = ["received", "classified", "investigating", "solution_proposed", "customer_agreed", "executing",
         "resolved", "follow_up", "closed"]


async def load_demo_complaints(settings: Settings, key: str, trips: list[tuple[str, str, dict]],
                               rng: random.Random) -> int:
    """Complaints about some of the demo trips through the complaints API, walked to every state of the
    flow (one reopened); skipped when the complaints service is not running."""
    if not trips:
        return 0
    filed = 0
    try:
        async with httpx.AsyncClient(base_url=settings.url_of("complaints"),
                                     headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
            for n, stop in enumerate(STOPS + ["investigating"]):
                customer_id, booking_id, product = rng.choice(trips)
                channel, phase, summary, category = COMPLAINTS[n % len(COMPLAINTS)]
                r = await client.post("/v1/complaints", json={
                    "customer_id": customer_id, "channel": channel, "trip_phase": phase, "booking_id": booking_id,
                    "product_id": product["id"], "destination": product["destination"], "summary": summary,
                    "category": category})
                if r.status_code == 404:
                    return filed
                r.raise_for_status()
                filed += 1
                await _walk(client, r.json()["id"], stop, reopen=n == len(STOPS))
    except httpx.TransportError:
        log.info("demo complaints skipped: the complaints API is not available")
    return filed


async def _walk(client: httpx.AsyncClient, complaint_id: str, stop: str, *, reopen: bool) -> None:
    state = "received"
    for step, body in WALK if not reopen else WALK[:7]:
        if state == stop and not reopen:
            return
        headers = {"Idempotency-Key": f"demo-{complaint_id}-{len(body)}"} if step == "solutions" else {}
        r = await client.post(f"/v1/complaints/{complaint_id}/{step}", json=body, headers=headers)
        r.raise_for_status()
        state = r.json().get("state", state)
    if reopen:
        r = await client.post(f"/v1/complaints/{complaint_id}/transitions",
                              json={"to": "investigating", "reason": "客户对处理结果仍不满意"})
        r.raise_for_status()
