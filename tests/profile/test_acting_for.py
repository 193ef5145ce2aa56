"""A customer-facing key (the booking website or mobile app acting for its signed-in customer) reaches that
customer's file only: another customer's is a 404, staff operations a 403, and the header cannot be left out."""

from __future__ import annotations

from tests.conftest import Backend
from tests.profile.helpers import booking, post_booking


async def test_a_customer_facing_key_reaches_only_its_customers_file(backend: Backend) -> None:
    profile = await backend.service("profile")
    me = (await profile.client.post("/v1/customers", json={"name": "李雷", "phones": ["13800001111"]})).json()["id"]
    other = (await profile.client.post("/v1/customers", json={"name": "韩梅梅", "phones": ["13900002222"]})).json()["id"]
    await post_booking(profile, booking("B-theirs", other))

    async with profile.client_as("customer", customer=me) as app:
        mine = await app.get(f"/v1/customers/{me}")
        assert mine.status_code == 200 and mine.json()["name"] == "李雷"
        changed = await app.patch(f"/v1/customers/{me}", json={"occupation": "教师"},
                                  headers={"If-Match": mine.headers["etag"]})
        assert changed.status_code == 200, changed.text
        assert (await app.get(f"/v1/customers/{me}/consents")).status_code == 200
        assert (await app.get(f"/v1/customers/{me}/bookings")).status_code == 200
        for method, path, body in [
            ("GET", f"/v1/customers/{other}", None),
            ("PATCH", f"/v1/customers/{other}", {"occupation": "x"}),
            ("GET", f"/v1/customers/{other}/consents", None),
            ("POST", f"/v1/customers/{other}/consents", {"changes": []}),
            ("GET", f"/v1/customers/{other}/bookings", None),
            ("GET", f"/v1/customers/{other}/recommendations", None),
        ]:
            answer = await app.request(method, path, json=body)
            assert answer.status_code == 404, (method, path, answer.text)
            assert "韩梅梅" not in answer.text
        for method, path in [("GET", "/v1/customers"), ("GET", f"/v1/customers/{me}/overview"),
                             ("POST", f"/v1/customers/{me}/merge"), ("GET", "/v1/at-risk"), ("GET", "/v1/segments")]:
            staff_only = await app.request(method, path)
            assert staff_only.status_code == 403, (method, path, staff_only.text)

    async with profile.client_as("customer") as nobody:  # the header left out
        missing = await nobody.get(f"/v1/customers/{me}")
        assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "X-Customer-Id"
    assert (await profile.client.get(f"/v1/customers/{other}")).json()["name"] == "韩梅梅"  # staff: anyone
