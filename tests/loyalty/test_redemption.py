"""Redemption at checkout: hold → capture / release / expiry, rewards, idempotency and concurrency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from services.loyalty.redemptions import expire_holds
from shared.db import transaction, utcnow
from shared.events import Envelope
from tests.conftest import Backend, RunningService
from tests.loyalty.support import applied, assert_ledger_consistent, balance, completed, emitted, key, member, publish


async def funded(backend: Backend, customer: str, amount: str = "1000.00") -> RunningService:
    loyalty = await backend.service("loyalty")
    await publish(backend, completed(customer, f"B-{customer}", amount))
    await applied(loyalty, 1)
    return loyalty


async def test_hold_reserves_capture_spends_release_returns(backend: Backend) -> None:
    loyalty = await funded(backend, "c-hold")
    r = await loyalty.client.post("/v1/members/c-hold/redemptions", json={"points": 400, "booking_id": "N-9"}, headers=key())
    assert r.status_code == 201, r.text
    hold = r.json()
    assert (hold["status"], hold["points"], hold["cash_value"], hold["currency"]) == ("held", 400, "4.00", "CNY")
    view = await member(loyalty, "c-hold")
    assert (view["points_balance"], view["points_available"], view["points_held"]) == (1000, 600, 400)
    assert [h["id"] for h in view["pending_holds"]] == [hold["id"]]

    captured = await loyalty.client.post(f"/v1/redemptions/{hold['id']}/capture")
    assert captured.status_code == 200 and captured.json()["status"] == "captured"
    again = await loyalty.client.post(f"/v1/redemptions/{hold['id']}/capture")  # idempotent by state
    assert again.status_code == 200
    assert await balance(loyalty, "c-hold") == 600
    [redeemed] = await emitted(loyalty, "points-redeemed")  # what profile's 360 view applies: the whole event
    event = Envelope.model_validate(redeemed)
    data = event.typed()
    assert (event.subject, event.source) == ("c-hold", "tourcrm/loyalty")
    assert (data.customer_id, data.points, data.balance, data.cause, data.redemption_id) == (
        "c-hold", -400, 600, "N-9", hold["id"])
    entries = (await loyalty.client.get("/v1/members/c-hold/ledger")).json()["items"]
    assert [(e["id"], e["reason"]) for e in entries if e["kind"] == "redeem"] == [(data.entry_id, "cash for booking N-9")]
    assert (await loyalty.client.post(f"/v1/redemptions/{hold['id']}/release")).status_code == 409

    second = (await loyalty.client.post("/v1/members/c-hold/redemptions", json={"points": 600}, headers=key())).json()
    released = await loyalty.client.post(f"/v1/redemptions/{second['id']}/release")
    assert released.status_code == 200 and released.json()["status"] == "released"
    view = await member(loyalty, "c-hold")
    assert (view["points_balance"], view["points_available"]) == (600, 600)
    late = await loyalty.client.post(f"/v1/redemptions/{second['id']}/capture")
    assert late.status_code == 409 and late.headers["content-type"] == "application/problem+json"
    await assert_ledger_consistent(loyalty)


async def test_holds_expire_on_their_own_and_an_expired_hold_cannot_be_captured(backend: Backend) -> None:
    loyalty = await funded(backend, "c-exp")
    hold = (await loyalty.client.post("/v1/members/c-exp/redemptions", json={"points": 700}, headers=key())).json()
    # the clock moves past the hold's end: capture is refused before the sweep, and the sweep marks it expired
    async with transaction(loyalty.runtime.sessions) as s:
        assert await expire_holds(s, utcnow()) == 0
    async with transaction(loyalty.runtime.sessions) as s:
        from services.loyalty.models import Redemption
        row = await s.get(Redemption, hold["id"])
        row.expires_at = utcnow() - timedelta(seconds=1)
    refused = await loyalty.client.post(f"/v1/redemptions/{hold['id']}/capture")
    assert refused.status_code == 409 and "expired" in refused.json()["detail"]
    assert (await member(loyalty, "c-exp"))["points_available"] == 1000  # an expired hold reserves nothing
    async with transaction(loyalty.runtime.sessions) as s:
        assert await expire_holds(s, utcnow()) == 1
    assert (await loyalty.client.get(f"/v1/redemptions/{hold['id']}")).json()["status"] == "expired"
    assert await balance(loyalty, "c-exp") == 1000


async def test_rewards_catalog_with_stock_and_per_member_limit(backend: Backend) -> None:
    loyalty = await funded(backend, "c-rw", "5000.00")
    await publish(backend, completed("c-rw2", "B-c-rw2", "5000.00"))
    await applied(loyalty, 2)
    reward = {"id": "upgrade-suite", "name": "套房升级", "kind": "upgrade", "points": 1000, "stock": 2, "per_member_limit": 1}
    assert (await loyalty.client.post("/v1/rewards", json=reward)).status_code == 201
    assert (await loyalty.client.post("/v1/rewards", json=reward)).status_code == 409
    listed = (await loyalty.client.get("/v1/rewards")).json()
    assert [r["id"] for r in listed["items"]] == ["upgrade-suite"] and listed["points_as_cash"]["points_per_unit"] == 100

    first = await loyalty.client.post("/v1/members/c-rw/redemptions", json={"reward_id": "upgrade-suite"}, headers=key())
    assert first.status_code == 201, first.text
    limit = await loyalty.client.post("/v1/members/c-rw/redemptions", json={"reward_id": "upgrade-suite"}, headers=key())
    assert limit.status_code == 409 and limit.json()["code"] == "limit_reached"
    other = await loyalty.client.post("/v1/members/c-rw2/redemptions", json={"reward_id": "upgrade-suite"}, headers=key())
    assert other.status_code == 201
    assert (await loyalty.client.get("/v1/rewards")).json()["items"][0]["stock"] == 0
    await publish(backend, completed("c-rw3", "B-c-rw3", "5000.00"))
    await applied(loyalty, 3)
    sold_out = await loyalty.client.post("/v1/members/c-rw3/redemptions", json={"reward_id": "upgrade-suite"}, headers=key())
    assert sold_out.status_code == 409 and sold_out.json()["code"] == "out_of_stock"

    assert (await loyalty.client.post(f"/v1/redemptions/{other.json()['id']}/release")).status_code == 200
    assert (await loyalty.client.get("/v1/rewards")).json()["items"][0]["stock"] == 1  # back in stock
    assert (await loyalty.client.post(f"/v1/redemptions/{first.json()['id']}/capture")).status_code == 200
    assert await balance(loyalty, "c-rw") == 4000
    redeemed = await emitted(loyalty, "reward-redeemed")
    assert [(e["data"]["reward_id"], e["data"]["points"]) for e in redeemed] == [("upgrade-suite", 1000)]


async def test_bad_input_is_a_clear_problem_never_a_500_and_writes_nothing(backend: Backend) -> None:
    loyalty = await funded(backend, "c-bad")
    cases = [
        ("/v1/members/nobody/redemptions", {"points": 10}, 404, None),
        ("/v1/members/c-bad/redemptions", {"points": -5}, 422, "points"),
        ("/v1/members/c-bad/redemptions", {"points": 0}, 422, "points"),
        ("/v1/members/c-bad/redemptions", {"points": "many"}, 422, "points"),
        ("/v1/members/c-bad/redemptions", {"points": 10, "reward_id": "x"}, 422, None),
        ("/v1/members/c-bad/redemptions", {"reward_id": "no-such-reward"}, 422, "reward_id"),
        ("/v1/members/c-bad/redemptions", {"points": 5000}, 409, None),
        ("/v1/members/c-bad/adjustments", {"points": 0, "reason": "nothing"}, 422, None),
        ("/v1/members/c-bad/adjustments", {"points": -5000, "reason": "too much"}, 422, "points"),
        ("/v1/members/c-bad/adjustments", {"points": 5}, 422, "reason"),
        ("/v1/members/nobody/adjustments", {"points": 5, "reason": "who"}, 404, None),
    ]
    for path, body, status, field in cases:
        r = await loyalty.client.post(path, json=body, headers=key())
        assert r.status_code == status, (path, body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        if field:
            assert field in {e["field"] for e in r.json().get("errors", [])}, r.json()
    assert (await loyalty.client.post("/v1/members/c-bad/redemptions", json={"points": 5})).status_code == 400  # no key
    assert (await loyalty.client.post("/v1/redemptions/nope/capture")).status_code == 404
    assert (await loyalty.client.post("/v1/redemptions/nope/release")).status_code == 404
    bad_cursor = await loyalty.client.get("/v1/members/c-bad/ledger", params={"cursor": "abc"})
    assert bad_cursor.status_code == 400 and bad_cursor.json()["errors"][0]["field"] == "cursor"  # shared.pages
    view = await member(loyalty, "c-bad")
    assert (view["points_balance"], view["points_held"]) == (1000, 0)
    assert len((await loyalty.client.get("/v1/members/c-bad/ledger")).json()["items"]) == 1


async def test_adjustments_are_idempotent_and_audited(backend: Backend) -> None:
    loyalty = await funded(backend, "c-adj")
    headers = key()
    first = await loyalty.client.post("/v1/members/c-adj/adjustments", json={"points": -250, "reason": "duplicate credit"},
                                      headers=headers)
    assert first.status_code == 201, first.text
    again = await loyalty.client.post("/v1/members/c-adj/adjustments", json={"points": -250, "reason": "duplicate credit"},
                                      headers=headers)
    assert again.json() == first.json()
    other = await loyalty.client.post("/v1/members/c-adj/adjustments", json={"points": 250, "reason": "duplicate credit"},
                                      headers=headers)
    assert other.status_code == 422
    entry = first.json()["entry"]
    assert (entry["kind"], entry["points"], entry["actor"], entry["reason"]) == ("adjust", -250, "test-all", "duplicate credit")
    assert await balance(loyalty, "c-adj") == 750
    async with loyalty.client_as("loyalty:redeem") as redeemer:
        assert (await redeemer.post("/v1/members/c-adj/adjustments", json={"points": 5, "reason": "mine"},
                                    headers=key())).status_code == 403


async def test_the_same_idempotency_key_50_times_concurrently_gives_one_hold_and_the_same_answer(backend: Backend) -> None:
    loyalty = await funded(backend, "c-idem")
    headers = {"Idempotency-Key": f"checkout-{uuid.uuid4()}"}
    body = {"points": 100, "booking_id": "N-idem"}
    answers = await asyncio.gather(*[
        loyalty.client.post("/v1/members/c-idem/redemptions", json=body, headers=headers) for _ in range(50)
    ])
    assert {a.status_code for a in answers} == {201}, {a.status_code: a.text for a in answers}
    assert len({a.json()["id"] for a in answers}) == 1
    view = await member(loyalty, "c-idem")
    assert (view["points_held"], len(view["pending_holds"])) == (100, 1)
    changed = await loyalty.client.post("/v1/members/c-idem/redemptions", json={"points": 200, "booking_id": "N-idem"},
                                        headers=headers)
    assert changed.status_code == 422 and changed.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_200_concurrent_redemptions_never_overdraw_one_member(backend: Backend) -> None:
    loyalty = await funded(backend, "c-hot")
    async with loyalty.client_as("loyalty:redeem") as checkout:
        answers = await asyncio.gather(*[
            checkout.post("/v1/members/c-hot/redemptions", json={"points": 100, "booking_id": f"N-{i}"}, headers=key())
            for i in range(200)
        ])
    statuses = [a.status_code for a in answers]
    assert statuses.count(201) == 10, {s: statuses.count(s) for s in set(statuses)}
    assert statuses.count(409) == 190
    assert all(a.json()["code"] == "insufficient_points" for a in answers if a.status_code == 409)
    won = [a.json()["id"] for a in answers if a.status_code == 201]
    captures = await asyncio.gather(*[loyalty.client.post(f"/v1/redemptions/{i}/capture") for i in won])
    assert {c.status_code for c in captures} == {200}
    view = await member(loyalty, "c-hot")
    assert (view["points_balance"], view["points_available"]) == (0, 0)
    await assert_ledger_consistent(loyalty)


async def test_20_concurrent_captures_of_one_hold_spend_its_points_once(backend: Backend) -> None:
    loyalty = await funded(backend, "c-twice")
    hold = (await loyalty.client.post("/v1/members/c-twice/redemptions", json={"points": 300}, headers=key())).json()
    captures = await asyncio.gather(*[loyalty.client.post(f"/v1/redemptions/{hold['id']}/capture") for _ in range(20)])
    assert {c.status_code for c in captures} == {200}
    assert {c.json()["status"] for c in captures} == {"captured"}
    assert await balance(loyalty, "c-twice") == 700
    assert len(await emitted(loyalty, "points-redeemed")) == 1
    entries = (await loyalty.client.get("/v1/members/c-twice/ledger")).json()["items"]
    assert [e["points"] for e in entries if e["kind"] == "redeem"] == [-300]
    await assert_ledger_consistent(loyalty)


async def test_a_hold_after_a_programme_change_is_priced_by_the_new_programme(backend: Backend) -> None:
    loyalty = await funded(backend, "c-price")
    first = (await loyalty.client.post("/v1/members/c-price/redemptions", json={"points": 200}, headers=key())).json()
    assert first["cash_value"] == "2.00"
    prog = (await loyalty.client.get("/v1/programme")).json()["programme"]
    prog["cash_points_per_unit"] = 50
    assert (await loyalty.client.put("/v1/programme", json={"programme": prog, "reason": "dearer points"})).status_code == 200
    second = (await loyalty.client.post("/v1/members/c-price/redemptions", json={"points": 200}, headers=key())).json()
    assert second["cash_value"] == "4.00"
    again = await loyalty.client.get(f"/v1/redemptions/{second['id']}")
    assert again.json()["cash_value"] == "4.00"


async def test_a_negative_adjustment_is_announced_as_points_reversed_with_the_adjustment_as_cause(backend: Backend) -> None:
    """A negative adjustment takes points away: profile's 360 view must hear points-reversed, not points-earned."""
    loyalty = await funded(backend, "c-adj-neg")
    r = await loyalty.client.post("/v1/members/c-adj-neg/adjustments", json={"points": -300, "reason": "double credit"},
                                  headers=key())
    assert r.status_code == 201, r.text
    earned = [e["data"] for e in await emitted(loyalty, "points-earned") if e["data"]["customer_id"] == "c-adj-neg"]
    assert all(e["points"] > 0 for e in earned), earned
    [reversed_] = [e["data"] for e in await emitted(loyalty, "points-reversed") if e["data"]["customer_id"] == "c-adj-neg"]
    assert (reversed_["points"], reversed_["balance"], reversed_["cause"]) == (-300, 700, "double credit")
    assert reversed_["entry_id"] == r.json()["entry"]["id"]
