"""Tier benefits at checkout: the quote applies the configured discount and earn rate (the points it promises
are the points the booking then earns), and a free upgrade is used once per booking and within the year's
allowance. Through the API and the bus, on both backends."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from services.loyalty.models import Upgrade
from shared.db import utcnow
from tests.conftest import Backend, RunningService
from tests.loyalty.support import (
    applied, assert_ledger_consistent, balance, completed, emitted, key, publish, registered,
)

TOUR = {"kind": "tour", "destination": "桂林"}


async def configure_gold(loyalty: RunningService, *, discount: str, multiplier: str, upgrades: int) -> None:
    """Change the programme's gold tier (a new programme version)."""
    prog = (await loyalty.client.get("/v1/programme")).json()["programme"]
    gold = prog["tiers"][2]
    gold["multiplier"] = multiplier
    gold["benefits"].update(discount_pct=discount, free_upgrades=upgrades, lounge=True)
    r = await loyalty.client.put("/v1/programme", json={"programme": prog, "reason": "gold benefits for the test"})
    assert r.status_code == 200, r.text


async def gold_member(backend: Backend, loyalty: RunningService, customer: str, points: int = 0) -> None:
    """A registered, enrolled member at the gold tier (an admin override), with `points` to spend."""
    await registered(backend, loyalty, customer)
    assert (await loyalty.client.post("/v1/members", json={"customer_id": customer})).status_code == 201
    until = (utcnow() + timedelta(days=60)).date().isoformat()
    r = await loyalty.client.post(f"/v1/members/{customer}/tier-override",
                                  json={"tier": "gold", "until": until, "reason": "gold for the test"})
    assert r.status_code == 200 and r.json()["tier"] == "gold", r.text
    if points:
        r = await loyalty.client.post(f"/v1/members/{customer}/adjustments",
                                      json={"points": points, "reason": "opening balance"}, headers=key())
        assert r.status_code == 201, r.text


async def test_a_gold_members_quote_applies_the_configured_discount_and_earn_rate(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    await configure_gold(loyalty, discount="12.5", multiplier="1.8", upgrades=2)
    await gold_member(backend, loyalty, "c-gold", points=5000)
    r = await loyalty.client.post("/v1/members/c-gold/quote",
                                  json={"amount": "2000.00", "currency": "CNY", "product": TOUR})
    assert r.status_code == 200, r.text
    quote = r.json()
    assert (quote["tier"], quote["discount_pct"], quote["discount"], quote["amount_after_discount"]) == (
        "gold", "12.5", "250.00", "1750.00")
    assert quote["earn_multiplier"] == "1.8"
    assert quote["points_to_earn"] == 3150  # 1750 base points × 1.8
    assert quote["redeemable"] == {"points": 5000, "cash_value": "50.00", "currency": "CNY"}  # 100 points a yuan
    assert quote["upgrade"] == {"per_year": 2, "used_this_year": 0, "left_this_year": 2, "available": True}
    assert quote["benefits"]["lounge"] is True and quote["benefits"]["priority_booking"] is True
    # a cruise earns the programme's product bonus too; a foreign currency at its rate; the points cover at most
    # what the booking costs
    cruise = (await loyalty.client.post("/v1/members/c-gold/quote", json={
        "amount": "20.00", "currency": "USD", "product": {"kind": "cruise", "tags": ["eco"]}})).json()
    assert (cruise["discount"], cruise["amount_after_discount"]) == ("2.50", "17.50")
    base = int(17.5 * 7.1)  # 124 base points in CNY
    assert cruise["points_to_earn"] == int(base * 1.8) + 500 + int(base * 0.2)  # ×1.8, cruise +500, eco ×1.2
    assert cruise["redeemable"]["points"] == 5000  # all the member has: the booking is worth 12,425 points
    small = (await loyalty.client.post("/v1/members/c-gold/quote", json={"amount": "20.00", "product": TOUR})).json()
    assert small["redeemable"] == {"points": 1750, "cash_value": "17.50", "currency": "CNY"}  # no more than it costs
    # the booking, completed at the quoted price, earns exactly what the quote said (one earning rule)
    await publish(backend, completed("c-gold", "B-gold", "1750.00", destination="桂林"))
    await applied(loyalty, 2)
    assert await balance(loyalty, "c-gold") == 5000 + quote["points_to_earn"]
    [earned] = [e for e in await emitted(loyalty, "points-earned") if e["data"]["cause"] == "B-gold"]
    assert earned["data"]["points"] == quote["points_to_earn"]
    # a regular member gets no discount and earns at ×1
    await registered(backend, loyalty, "c-plain")
    assert (await loyalty.client.post("/v1/members", json={"customer_id": "c-plain"})).status_code == 201
    plain = (await loyalty.client.post("/v1/members/c-plain/quote", json={"amount": "2000.00", "product": TOUR})).json()
    assert (plain["tier"], plain["discount"], plain["points_to_earn"], plain["redeemable"]["points"]) == (
        "regular", "0.00", 2000, 0)
    assert plain["upgrade"]["available"] is False
    await assert_ledger_consistent(loyalty)


async def test_quote_refuses_bad_input_naming_the_field(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    await gold_member(backend, loyalty, "c-q")
    for body, field in [
        ({"amount": "-1", "product": TOUR}, "amount"),
        ({"amount": "1" * 20, "product": TOUR}, "amount"),
        ({"amount": "100", "currency": "ZZZ", "product": TOUR}, "currency"),
        ({"amount": "100", "currency": "JPY", "product": TOUR}, "currency"),  # money, but no rate in the programme
        ({"amount": "100"}, "product"),
        ({"amount": "100", "product": {"kind": ""}}, "kind"),
        ({"amount": "100", "product": TOUR, "discount": "99"}, "discount"),
    ]:
        r = await loyalty.client.post("/v1/members/c-q/quote", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert any(field in str(e.get("field", "")) for e in r.json()["errors"]), (body, r.json())
    assert (await loyalty.client.post("/v1/members/c-nobody/quote", json={"amount": "1", "product": TOUR})).status_code == 404


async def test_a_free_upgrade_is_used_once_per_booking_and_a_second_in_the_year_is_refused(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    await configure_gold(loyalty, discount="5", multiplier="1.5", upgrades=1)  # once a year
    await gold_member(backend, loyalty, "c-up")
    first = await loyalty.client.post("/v1/members/c-up/upgrades", json={"booking_id": "B-1"},
                                      headers={"Idempotency-Key": "up-1"})
    assert first.status_code == 201, first.text
    assert (first.json()["booking_id"], first.json()["tier"], first.json()["left_this_year"]) == ("B-1", "gold", 0)
    again = await loyalty.client.post("/v1/members/c-up/upgrades", json={"booking_id": "B-1"},
                                      headers={"Idempotency-Key": "up-1"})
    assert (again.status_code, again.json()) == (201, first.json())  # the same key: the first answer
    same_booking = await loyalty.client.post("/v1/members/c-up/upgrades", json={"booking_id": "B-1"},
                                             headers={"Idempotency-Key": "up-1-retry"})
    assert same_booking.status_code == 200 and same_booking.json()["used_at"] == first.json()["used_at"]
    second = await loyalty.client.post("/v1/members/c-up/upgrades", json={"booking_id": "B-2"},
                                       headers={"Idempotency-Key": "up-2"})
    assert second.status_code == 409, second.text
    assert second.headers["content-type"].startswith("application/problem+json")
    assert (second.json()["code"], second.json()["used_this_year"], second.json()["per_year"]) == ("no_upgrade_left", 1, 1)
    quote = (await loyalty.client.post("/v1/members/c-up/quote",
                                       json={"amount": "100", "product": TOUR, "booking_id": "B-3"})).json()
    assert quote["upgrade"] == {"per_year": 1, "used_this_year": 1, "left_this_year": 0, "available": False}
    missing = await loyalty.client.post("/v1/members/c-up/upgrades", json={"booking_id": "B-4"})
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "Idempotency-Key"
    bad = await loyalty.client.post("/v1/members/c-up/upgrades", json={"booking_id": ""}, headers=key())
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].endswith("booking_id")
    async with loyalty.runtime.read_sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Upgrade))).scalar_one() == 1


async def test_concurrent_upgrades_never_exceed_the_allowance(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    await configure_gold(loyalty, discount="5", multiplier="1.5", upgrades=3)
    await gold_member(backend, loyalty, "c-race")
    answers = await asyncio.gather(*[
        loyalty.client.post("/v1/members/c-race/upgrades", json={"booking_id": f"B-r{i}"}, headers=key())
        for i in range(8)])
    assert sorted(a.status_code for a in answers) == [201] * 3 + [409] * 5, [a.text for a in answers]
    async with loyalty.runtime.read_sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Upgrade))).scalar_one() == 3


async def test_a_customer_facing_key_quotes_and_upgrades_for_its_own_customer_only(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    await gold_member(backend, loyalty, "c-self")
    await gold_member(backend, loyalty, "c-other")
    async with loyalty.client_as("customer", customer="c-self") as app:
        assert (await app.post("/v1/members/c-self/quote", json={"amount": "100", "product": TOUR})).status_code == 200
        mine = await app.post("/v1/members/c-self/upgrades", json={"booking_id": "B-s"}, headers=key())
        assert mine.status_code == 201, mine.text
        assert (await app.post("/v1/members/c-other/quote", json={"amount": "100", "product": TOUR})).status_code == 404
        theirs = await app.post("/v1/members/c-other/upgrades", json={"booking_id": "B-o"}, headers=key())
        assert theirs.status_code == 404
    async with loyalty.client_as("customer") as no_header:
        assert (await no_header.post("/v1/members/c-self/quote", json={"amount": "1", "product": TOUR})).status_code == 400
    other = (await loyalty.client.post("/v1/members/c-other/quote", json={"amount": "1", "product": TOUR})).json()
    assert other["upgrade"]["used_this_year"] == 0
