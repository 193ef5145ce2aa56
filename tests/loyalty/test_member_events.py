"""Member events (会员活动): staff create a member day or trip; members register once, within capacity and if
their tier is eligible; attendance awards the points once through the ledger. On both backends."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from shared.db import utcnow
from shared.events import CustomerErased, CustomersMerged
from tests.conftest import Backend, RunningService
from tests.loyalty.support import (
    applied, assert_ledger_consistent, balance, emitted, member, publish, registered,
)
from tests.loyalty.test_checkout import gold_member

SOON = (utcnow() + timedelta(days=20)).date().isoformat()


async def new_event(loyalty: RunningService, **changes: object) -> dict:
    body = {"name": "金卡会员日 · 漓江夜游", "kind": "member_day", "held_on": SOON, "capacity": 2,
            "tiers": ["gold", "platinum"], "attendance_points": 300, **changes}
    r = await loyalty.client.post("/v1/member-events", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def enrolled(backend: Backend, loyalty: RunningService, *customers: str) -> None:
    await registered(backend, loyalty, *customers)
    for customer in customers:
        assert (await loyalty.client.post("/v1/members", json={"customer_id": customer})).status_code == 201


async def test_members_register_once_within_capacity_and_tier_and_attendance_pays_once(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    event = await new_event(loyalty)
    assert (event["registered"], event["places_left"], event["tiers"]) == (0, 2, ["gold", "platinum"])
    for customer in ("g-1", "g-2", "g-3"):
        await gold_member(backend, loyalty, customer)
    await enrolled(backend, loyalty, "r-1")
    path = f"/v1/member-events/{event['id']}"

    refused = await loyalty.client.post(f"{path}/registrations", json={"customer_id": "r-1"})
    assert (refused.status_code, refused.json()["code"]) == (409, "not_eligible")
    first = await loyalty.client.post(f"{path}/registrations", json={"customer_id": "g-1"})
    assert (first.status_code, first.json()["status"]) == (201, "registered"), first.text
    again = await loyalty.client.post(f"{path}/registrations", json={"customer_id": "g-1"})
    assert (again.status_code, again.json()) == (200, first.json())  # once: no second place taken
    assert (await loyalty.client.post(f"{path}/registrations", json={"customer_id": "g-2"})).status_code == 201
    full = await loyalty.client.post(f"{path}/registrations", json={"customer_id": "g-3"})
    assert (full.status_code, full.json()["code"]) == (409, "event_full")
    assert full.headers["content-type"].startswith("application/problem+json")
    view = (await loyalty.client.get(path)).json()
    assert (view["registered"], view["places_left"]) == (2, 0)

    before = await balance(loyalty, "g-1")
    attended = await loyalty.client.post(f"{path}/attendance", json={"customer_id": "g-1"})
    assert attended.status_code == 200, attended.text
    assert (attended.json()["status"], attended.json()["points"]) == ("attended", 300)
    repeat = await loyalty.client.post(f"{path}/attendance", json={"customer_id": "g-1"})
    assert (repeat.status_code, repeat.json()) == (200, attended.json())
    assert await balance(loyalty, "g-1") == before + 300  # once, never doubled
    statement = (await loyalty.client.get("/v1/members/g-1/ledger")).json()["items"]
    assert [(e["points"], e["cause"]) for e in statement if e["cause"]["type"] == "member_event"] == [
        (300, {"type": "member_event", "id": event["id"]})]
    assert [e["data"]["points"] for e in await emitted(loyalty, "points-earned")
            if e["data"]["cause"] == event["id"]] == [300]
    absent = await loyalty.client.post(f"{path}/attendance", json={"customer_id": "g-3"})
    assert (absent.status_code, absent.json()["code"]) == (409, "not_registered")
    assert await balance(loyalty, "g-3") == 0
    await assert_ledger_consistent(loyalty)


async def test_the_last_place_goes_to_one_member_only(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    event = await new_event(loyalty, capacity=1, tiers=[])
    customers = [f"m-{i}" for i in range(5)]
    await enrolled(backend, loyalty, *customers)
    answers = await asyncio.gather(*[loyalty.client.post(f"/v1/member-events/{event['id']}/registrations",
                                                         json={"customer_id": c}) for c in customers])
    assert sorted(a.status_code for a in answers) == [201] + [409] * 4, [a.text for a in answers]
    assert (await loyalty.client.get(f"/v1/member-events/{event['id']}")).json()["registered"] == 1


async def test_member_events_refuse_bad_input_naming_the_field(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    past = (utcnow() - timedelta(days=3)).date().isoformat()
    for body, field in [({"capacity": 0}, "capacity"), ({"capacity": 2**40}, "capacity"), ({"tiers": ["emperor"]}, "tiers"),
                        ({"tiers": ["gold", "gold"]}, "tiers"), ({"held_on": past}, "held_on"),
                        ({"held_on": "9999-99-99"}, "held_on"), ({"attendance_points": -5}, "attendance_points"),
                        ({"name": "x" * 201}, "name"), ({"kind": "party"}, "kind")]:
        r = await loyalty.client.post("/v1/member-events", json={
            "name": "trip", "held_on": SOON, "capacity": 5, **body})
        assert r.status_code == 422, (body, r.text)
        assert any(field in str(e.get("field", "")) for e in r.json()["errors"]), (body, r.json())
    assert (await loyalty.client.get("/v1/member-events/nope")).status_code == 404
    r = await loyalty.client.post("/v1/member-events/nope/registrations", json={"customer_id": "x"})
    assert r.status_code == 404
    assert (await loyalty.client.get("/v1/member-events", params={"cursor": "junk"})).status_code == 400


async def test_a_customer_facing_key_registers_its_customer_and_lists_events(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    first = await new_event(loyalty, tiers=[], held_on=SOON)
    later = await new_event(loyalty, tiers=[], held_on=(utcnow() + timedelta(days=40)).date().isoformat())
    await enrolled(backend, loyalty, "c-app", "c-else")
    async with loyalty.client_as("customer", customer="c-app") as app:
        page = (await app.get("/v1/member-events", params={"limit": 1})).json()
        assert [e["id"] for e in page["items"]] == [first["id"]]
        rest = (await app.get("/v1/member-events", params={"cursor": page["next_cursor"]})).json()
        assert [e["id"] for e in rest["items"]] == [later["id"]] and rest["next_cursor"] is None
        mine = await app.post(f"/v1/member-events/{first['id']}/registrations", json={"customer_id": "c-app"})
        assert mine.status_code == 201
        other = await app.post(f"/v1/member-events/{first['id']}/registrations", json={"customer_id": "c-else"})
        assert other.status_code == 404
        staff = await app.post(f"/v1/member-events/{first['id']}/attendance", json={"customer_id": "c-app"})
        assert staff.status_code == 403
    assert (await loyalty.client.get(f"/v1/member-events/{first['id']}")).json()["registered"] == 1


async def test_a_merge_keeps_one_registration_and_attendance_pays_the_survivor_once(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    event = await new_event(loyalty, tiers=[], capacity=5)
    await enrolled(backend, loyalty, "c-stay", "c-dupe", "c-solo2")
    path = f"/v1/member-events/{event['id']}"
    for customer in ("c-stay", "c-dupe"):
        assert (await loyalty.client.post(f"{path}/registrations", json={"customer_id": customer})).status_code == 201
    other = await new_event(loyalty, tiers=[], capacity=5)
    assert (await loyalty.client.post(f"/v1/member-events/{other['id']}/registrations",
                                      json={"customer_id": "c-dupe"})).status_code == 201
    await publish(backend, CustomersMerged(customer_id="c-stay", merged_ids=["c-dupe"]), source="tourcrm/profile")
    await applied(loyalty, 4)  # three registrations of customers and the merge
    assert (await member(loyalty, "c-dupe"))["customer_id"] == "c-stay"
    again = await loyalty.client.post(f"{path}/registrations", json={"customer_id": "c-dupe"})
    assert again.status_code == 200 and again.json()["customer_id"] == "c-stay"  # the survivor's, once
    moved = await loyalty.client.post(f"/v1/member-events/{other['id']}/attendance", json={"customer_id": "c-stay"})
    assert moved.status_code == 200 and moved.json()["points"] == 300  # the merged id's registration moved
    assert (await loyalty.client.post(f"{path}/attendance", json={"customer_id": "c-stay"})).status_code == 200
    assert await balance(loyalty, "c-stay") == 600
    await assert_ledger_consistent(loyalty)


async def test_erasure_leaves_no_registration_or_upgrade_naming_the_customer(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    event = await new_event(loyalty, tiers=[])
    await gold_member(backend, loyalty, "c-forget")
    path = f"/v1/member-events/{event['id']}"
    assert (await loyalty.client.post(f"{path}/registrations", json={"customer_id": "c-forget"})).status_code == 201
    assert (await loyalty.client.post("/v1/members/c-forget/upgrades", json={"booking_id": "B-f"},
                                      headers={"Idempotency-Key": "f-1"})).status_code == 201
    sections = (await loyalty.client.get("/v1/privacy/customers/c-forget")).json()["sections"]
    assert [r["event_id"] for r in sections["member_events"]] == [event["id"]]
    assert [u["booking_id"] for u in sections["upgrades"]] == ["B-f"]
    assert [k["customer_id"] for k in sections["known_customer"]] == ["c-forget"]
    await publish(backend, CustomerErased(customer_id="c-forget", request_id="ER-ev"), source="tourcrm/profile")
    await applied(loyalty, 2)  # the registration and the erasure
    sections = (await loyalty.client.get("/v1/privacy/customers/c-forget")).json()["sections"]
    assert all(rows == [] for rows in sections.values()), sections
    assert (await loyalty.client.get(path)).json()["registered"] == 1  # the place was taken; only the name is gone
