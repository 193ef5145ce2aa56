"""Enterprise members (企业会员) link to their organisation: profile registers the organisation
(organisation-registered), the enterprise member names it and has its travellers on the roster, the
travellers' bookings earn to the enterprise account as the programme says, and its statement shows who
earned what. On both backends, through the API and the bus."""

from __future__ import annotations

from datetime import datetime, timezone

from shared.events import OrganisationRegistered
from tests.conftest import Backend
from tests.loyalty.support import (
    applied, assert_ledger_consistent, balance, completed, member, publish, registered,
)


def organisation(organisation_id: str, name: str = "桂林山水国际旅行社有限公司") -> OrganisationRegistered:
    return OrganisationRegistered(organisation_id=organisation_id, name=name, industry="travel",
                                  registered_at=datetime.now(timezone.utc))


async def test_an_enterprise_member_of_a_registered_organisation_pools_its_travellers_points(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    await publish(backend, organisation("ORG-1"), source="tourcrm/profile")
    await registered(backend, loyalty, "e-acme", "p-li", "p-wang")
    await applied(loyalty, 4)
    r = await loyalty.client.post("/v1/members", json={
        "customer_id": "e-acme", "member_type": "enterprise", "organisation_id": "ORG-1",
        "members": ["p-li", "p-wang"]})
    assert r.status_code == 201, r.text
    view = r.json()
    assert (view["member_type"], view["organisation_id"], sorted(view["roster"])) == (
        "enterprise", "ORG-1", ["p-li", "p-wang"])
    traveller = await member(loyalty, "p-li")
    assert (traveller["account_id"], traveller["organisation_id"]) == ("e-acme", "ORG-1")

    await publish(backend, completed("p-li", "B-e1", "1200.00"), completed("p-wang", "B-e2", "800.00", kind="cruise"),
                  completed("p-li", "B-e1", "1200.00"))  # a retried booking earns once
    await applied(loyalty, 7)
    # regular tier ×1: 1200 + 800, and the programme's cruise bonus of 500, all in the enterprise account
    assert await balance(loyalty, "e-acme") == 1200 + 800 + 500
    statement = (await loyalty.client.get("/v1/members/e-acme/ledger")).json()
    assert (statement["account_id"], statement["points_balance"]) == ("e-acme", 2500)
    assert sorted((e["earned_by"], e["cause"]["id"], e["points"]) for e in statement["items"]) == [
        ("p-li", "B-e1", 1200), ("p-wang", "B-e2", 1300)]
    assert (await loyalty.client.get("/v1/members/p-wang/ledger")).json()["points_balance"] == 2500  # its account's
    # a re-sent (or updated) organisation-registered keeps one organisation
    await publish(backend, organisation("ORG-1", name="桂林山水国旅"), source="tourcrm/profile")
    await applied(loyalty, 8)
    assert (await member(loyalty, "e-acme"))["organisation_id"] == "ORG-1"
    await assert_ledger_consistent(loyalty)


async def test_enrolling_an_enterprise_needs_a_known_organisation_and_known_travellers(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    await publish(backend, organisation("ORG-2"), source="tourcrm/profile")
    await registered(backend, loyalty, "e-two", "p-known")
    await applied(loyalty, 3)
    for body, field in [
        ({"organisation_id": "ORG-404"}, "organisation_id"),  # profile never registered it
        ({}, "organisation_id"),  # an enterprise names its organisation
        ({"organisation_id": "ORG-2", "members": ["p-known", "p-stranger"]}, "members"),  # a traveller profile lacks
    ]:
        r = await loyalty.client.post("/v1/members", json={"customer_id": "e-two", "member_type": "enterprise", **body})
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert any(e["field"].endswith(field) for e in r.json()["errors"]), (body, r.json())
    assert (await loyalty.client.get("/v1/members/e-two")).status_code == 404  # nothing half-enrolled
    individual = await loyalty.client.post("/v1/members", json={"customer_id": "p-known", "organisation_id": "ORG-2"})
    assert individual.status_code == 422 and individual.json()["errors"][0]["field"].endswith("organisation_id")
    ok = await loyalty.client.post("/v1/members", json={"customer_id": "e-two", "member_type": "enterprise",
                                                        "organisation_id": "ORG-2", "members": ["p-known"]})
    assert ok.status_code == 201, ok.text


async def test_an_enterprise_account_may_be_named_by_its_organisation_id(backend: Backend) -> None:
    """Where profile keeps key accounts apart from customer files, the account is the organisation itself."""
    loyalty = await backend.service("loyalty")
    await publish(backend, organisation("ORG-3"), source="tourcrm/profile")
    await registered(backend, loyalty, "p-three")
    await applied(loyalty, 2)
    r = await loyalty.client.post("/v1/members", json={"customer_id": "ORG-3", "member_type": "enterprise",
                                                       "organisation_id": "ORG-3", "members": ["p-three"]})
    assert r.status_code == 201, r.text
    other = await loyalty.client.post("/v1/members", json={"customer_id": "ORG-3", "member_type": "individual"})
    assert other.status_code == 409  # already an enterprise member
    stranger = await loyalty.client.post("/v1/members", json={"customer_id": "ORG-4", "member_type": "enterprise",
                                                              "organisation_id": "ORG-3"})
    assert stranger.status_code == 422 and stranger.json()["errors"][0]["field"] == "customer_id"
