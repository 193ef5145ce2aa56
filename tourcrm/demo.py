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
    marker.write_text(f"{customers} customers, {accepted} bookings, {filed} complaints\n")
    log.info("demo data loaded", extra={"customers": customers, "bookings": accepted})
    return accepted


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
