"""A customer-facing key (the booking website or app acting for its signed-in customer) redeems, captures and
reads only its own customer's points: another member's are a 404, admin work a 403."""

from __future__ import annotations

from tests.conftest import Backend
from tests.loyalty.support import applied, balance, completed, publish


async def test_a_customer_facing_key_moves_only_its_customers_points(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    await publish(backend, completed("c-me", "B-me", "5000.00"), completed("c-victim", "B-v", "5000.00"))
    await applied(loyalty, 2)
    assert await balance(loyalty, "c-me") == await balance(loyalty, "c-victim") == 5000
    staff_hold = (await loyalty.client.post("/v1/members/c-victim/redemptions", json={"points": 100},
                                            headers={"Idempotency-Key": "staff-1"})).json()

    async with loyalty.client_as("customer", customer="c-me") as app:
        assert (await app.get("/v1/members/c-me")).status_code == 200
        mine = await app.post("/v1/members/c-me/redemptions", json={"points": 100}, headers={"Idempotency-Key": "k1"})
        assert mine.status_code == 201, mine.text
        assert (await app.post(f"/v1/redemptions/{mine.json()['id']}/capture")).status_code == 200
        for method, path, body in [
            ("GET", "/v1/members/c-victim", None),
            ("GET", "/v1/members/c-victim/ledger", None),
            ("POST", "/v1/members/c-victim/redemptions", {"points": 100}),
            ("GET", f"/v1/redemptions/{staff_hold['id']}", None),
            ("POST", f"/v1/redemptions/{staff_hold['id']}/capture", None),
            ("POST", f"/v1/redemptions/{staff_hold['id']}/release", None),
            ("POST", "/v1/members", {"customer_id": "c-victim"}),
            ("POST", "/v1/referrals", {"customer_id": "c-victim"}),
        ]:
            answer = await app.request(method, path, json=body, headers={"Idempotency-Key": f"x-{path}"})
            assert answer.status_code == 404, (method, path, answer.text)
        for method, path in [("POST", "/v1/members/c-me/adjustments"), ("GET", "/v1/reports/liability"),
                             ("PUT", "/v1/programme")]:
            assert (await app.request(method, path, json={})).status_code == 403, path
    victim = (await loyalty.client.get("/v1/members/c-victim")).json()
    assert victim["points_balance"] == 5000  # the staff hold is still held, nothing captured by the intruder
    assert (await loyalty.client.get(f"/v1/redemptions/{staff_hold['id']}")).json()["status"] == "held"
