"""The embedded demo data goes in through the profile API: customers with Chinese names, then their bookings."""

from __future__ import annotations

from tourcrm.demo import load_demo
from tests.conftest import TEST_KEYS, Backend
from tests.profile.helpers import wait_bookings


async def test_demo_registers_customers_then_posts_their_bookings(backend: Backend, tmp_path) -> None:  # noqa: ANN001
    profile = await backend.service("profile")
    settings = profile.runtime.settings.model_copy(update={"var_dir": tmp_path})
    accepted = await load_demo(settings, TEST_KEYS["all"], customers=5)
    assert accepted >= 5
    assert await load_demo(settings, TEST_KEYS["all"], customers=5) == 0  # once
    await wait_bookings(profile, accepted)
    customers = (await profile.client.get("/v1/customers")).json()["items"]
    assert len(customers) == 5
    for c in customers:
        assert c["name"] and all("\u4e00" <= ch <= "\u9fff" for ch in c["name"])
        overview = (await profile.client.get(f"/v1/customers/{c['id']}/overview")).json()
        assert overview["bookings"]["count"] >= 1 and overview["value"]["value_class"]
