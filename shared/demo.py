"""Demo data for embedded mode: customers and completed trips, entered through the public HTTP API."""

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


async def load_demo(settings: Settings, key: str, *, customers: int = 40, seed: int = 7) -> int:
    """Post demo bookings to the profile ingest once (marker: var/demo-loaded); returns how many were accepted."""
    marker = settings.var_dir / "demo-loaded"
    if marker.exists():
        return 0
    rng = random.Random(seed)
    base = f"http://{settings.host}:{settings.for_service('profile').http_port}"
    accepted = 0
    now = datetime.now(timezone.utc)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
        for n in range(customers):
            customer_id = f"demo-{n:04d}"
            for trip in range(rng.randint(1, 4)):
                product = rng.choice(PRODUCTS)
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
                if response.status_code == 404:
                    log.info("demo data skipped: the profile booking ingest is not available")
                    return accepted
                response.raise_for_status()
                accepted += 1
    marker.write_text(f"{accepted} bookings\n")
    log.info("demo data loaded", extra={"bookings": accepted})
    return accepted
