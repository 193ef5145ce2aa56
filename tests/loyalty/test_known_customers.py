"""Loyalty enrols only customers profile knows (issue 14): its copy of profile's customer ids follows
customer-registered, bookings (validated by profile's ingest), merges and erasures. On both backends."""

from __future__ import annotations

from shared.events import CustomerErased, CustomersMerged
from tests.conftest import Backend, RunningService, eventually
from tests.loyalty.support import applied, completed, publish, registered


async def enrol(loyalty: RunningService, customer: str) -> int:
    return (await loyalty.client.post("/v1/members", json={"customer_id": customer})).status_code


async def known(loyalty: RunningService, customer: str) -> list:
    export = (await loyalty.client.get(f"/v1/privacy/customers/{customer}")).json()
    return export["sections"]["known_customer"]


async def test_enrolment_refuses_a_customer_profile_does_not_know(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    r = await loyalty.client.post("/v1/members", json={"customer_id": "c-ghost"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "customer_id"
    assert (await loyalty.client.get("/v1/members/c-ghost")).status_code == 404
    await registered(backend, loyalty, "c-ghost")
    assert await enrol(loyalty, "c-ghost") == 201
    assert await enrol(loyalty, "c-ghost") == 200
    family = await loyalty.client.post("/v1/members", json={"customer_id": "c-ghost2", "member_type": "family"})
    assert family.status_code == 422 and family.json()["errors"][0]["field"] == "customer_id"


async def test_a_booking_makes_its_customer_known_and_merges_and_erasures_follow_profile(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    await publish(backend, completed("c-booked", "B-kn", "100.00"))
    await registered(backend, loyalty, "c-old", "c-erase")
    await applied(loyalty, 3)
    assert [row["customer_id"] for row in await known(loyalty, "c-booked")] == ["c-booked"]
    # the survivor of a merge is known; the merged id is no more
    await publish(backend, CustomersMerged(customer_id="c-new", merged_ids=["c-old"]), source="tourcrm/profile")
    await publish(backend, CustomerErased(customer_id="c-erase", request_id="ER-9"), source="tourcrm/profile")
    await applied(loyalty, 5)
    assert await known(loyalty, "c-old") == [] and await known(loyalty, "c-erase") == []
    assert await enrol(loyalty, "c-new") == 201
    assert await enrol(loyalty, "c-old") == 422
    assert await enrol(loyalty, "c-erase") == 422


async def test_a_customer_profile_creates_can_be_enrolled_once_the_event_arrives(backend: Backend) -> None:
    profile = await backend.service("profile")
    loyalty = await backend.service("loyalty")
    created = await profile.client.post("/v1/customers", json={"name": "李雷", "phones": ["13800001111"]})
    assert created.status_code == 201, created.text
    customer = created.json()["id"]

    async def enrolled() -> bool:
        return await enrol(loyalty, customer) == 201

    await eventually(enrolled)  # 422 until customer-registered reached loyalty, then 201
    assert (await loyalty.client.get(f"/v1/members/{customer}")).json()["customer_id"] == customer
