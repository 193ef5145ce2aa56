"""Customer-facing keys act for the signed-in customer they name, and reach only that customer's resources."""

from __future__ import annotations

import json

import httpx
from fastapi import APIRouter, FastAPI

from shared import errors
from shared.auth import Client, KeyStore, Scope, hash_key

router = APIRouter()
OWNERS = {"c-1": "alice", "c-2": "bob"}  # resource → its customer


@router.get("/v1/things/{thing_id}")
async def get_thing(thing_id: str, client: Scope("profile:read", customers=True)) -> dict[str, str | None]:
    client.ensure_reaches(OWNERS.get(thing_id), "thing", thing_id)
    return {"thing": thing_id, "acting_for": client.acting_for}


@router.get("/v1/things")
async def list_things(client: Scope("profile:read", customers=True), customer: str | None = None) -> list[str]:
    only = client.for_customer(customer)
    return [t for t, owner in OWNERS.items() if only is None or owner == only]


@router.get("/v1/customers/{customer_id}/things")
async def things_of(customer_id: str, client: Scope("profile:read", customers=True)) -> list[str]:
    return [t for t, owner in OWNERS.items() if owner == customer_id]


@router.get("/v1/stats")
async def stats(client: Scope("profile:read")) -> dict[str, int]:
    return {"things": len(OWNERS)}


def app() -> FastAPI:
    application = FastAPI()
    errors.install(application)
    application.include_router(router)
    keys = KeyStore()
    keys.load(json.dumps([
        {"client": "booking-app", "key_sha256": hash_key("app-key"), "scopes": ["profile:read"], "customer_facing": True},
        {"client": "agent", "key_sha256": hash_key("staff-key"), "scopes": ["profile:read"]},
    ]))
    application.state.keys = keys
    return application


def client(key: str, customer: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} | ({"X-Customer-Id": customer} if customer is not None else {})
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://t", headers=headers)


async def test_a_customer_facing_key_must_name_the_signed_in_customer() -> None:
    for missing in (None, "", "a\x00b"):
        async with client("app-key", missing) as anonymous_customer:
            answer = await anonymous_customer.get("/v1/things/c-1")
        assert answer.status_code == 400
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["errors"][0]["field"] == "X-Customer-Id"


async def test_a_customer_facing_key_reaches_only_its_customer() -> None:
    async with client("app-key", "alice") as alice:
        assert (await alice.get("/v1/things/c-1")).json() == {"thing": "c-1", "acting_for": "alice"}
        other = await alice.get("/v1/things/c-2")
        assert other.status_code == 404  # not 403: that would confirm it exists
        assert (await alice.get("/v1/things", params={"customer": "bob"})).json() == ["c-1"]
        assert (await alice.get("/v1/things")).json() == ["c-1"]
        assert (await alice.get("/v1/customers/alice/things")).json() == ["c-1"]
        assert (await alice.get("/v1/customers/bob/things")).status_code == 404  # a customer id in the path
        staff_only = await alice.get("/v1/stats")
        assert staff_only.status_code == 403 and staff_only.headers["content-type"] == "application/problem+json"


async def test_a_staff_key_acts_for_nobody() -> None:
    async with client("staff-key", "alice") as agent:
        assert (await agent.get("/v1/things/c-2")).json() == {"thing": "c-2", "acting_for": None}
        assert (await agent.get("/v1/things")).json() == ["c-1", "c-2"]
        assert (await agent.get("/v1/customers/bob/things")).json() == ["c-2"]
        assert (await agent.get("/v1/stats")).json() == {"things": 2}
    assert Client("x", frozenset()).reaches("anyone")
