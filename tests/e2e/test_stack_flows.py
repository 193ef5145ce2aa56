"""The CRM across real process boundaries: the four services each in its own process (`tourcrm stack up`) on
the real PostgreSQL and Kafka; bookings written by Debian's kcat (no Python, no tourcrm code), every effect
observed only through the services' public HTTP APIs, with a deadline (never a fixed sleep)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.conftest import eventually
from tests.e2e import test_closed_loop as loop
from tests.e2e.stack import Stack, envelope, running_stack
from tests.complaints.support import walk
from tests.profile.helpers import PRODUCTS

pytestmark = pytest.mark.servers
SECONDS = 30  # "within seconds": every effect of an event, across processes, well inside this (a loaded CI box)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from running_stack()


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    clients = {name: stack.client(name) for name in ("profile", "complaints", "loyalty", "feedback")}
    try:
        yield clients
    finally:
        for client in clients.values():
            await client.aclose()


def completed(booking_id: str, customer: str, amount: str, *, product: str = "P-GUILIN", days_ago: int = 10) -> dict:
    ended = datetime.now(timezone.utc) - timedelta(days=days_ago)
    data = {"booking_id": booking_id, "customer_id": customer, "channel": "app", "product": PRODUCTS[product],
            "amount": amount, "currency": "CNY", "party_size": 2,
            "travel_start": (ended - timedelta(days=4)).date().isoformat(), "travel_end": ended.date().isoformat(),
            "completed_at": (ended - timedelta(days=30)).isoformat()}
    return envelope("booking-completed", data, customer)


def cancelled(booking_id: str, customer: str) -> dict:
    data = {"booking_id": booking_id, "customer_id": customer, "reason": "customer cancelled",
            "cancelled_at": datetime.now(timezone.utc).isoformat()}
    return envelope("booking-cancelled", data, customer)


async def within(check: Callable[[], Awaitable[Any]], seconds: float = SECONDS) -> None:
    async def holds() -> bool:
        return bool(await check())
    await eventually(holds, timeout=seconds, interval=0.2)


async def new_customer(profile: httpx.AsyncClient, name: str, **fields: Any) -> str:
    r = await profile.post("/v1/customers", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    r = await client.get(path, params=params)
    return r.json() if r.status_code == 200 else None


async def invitations(feedback: httpx.AsyncClient, customer: str) -> list[dict]:
    return (await get(feedback, "/v1/surveys/invitations", customer_id=customer))["items"]


async def test_a_booking_written_by_kcat_reaches_profile_loyalty_and_feedback_then_a_cancellation_reverses_it(
        stack: Stack, api: dict[str, httpx.AsyncClient]) -> None:
    profile, loyalty, feedback = api["profile"], api["loyalty"], api["feedback"]
    customer = await new_customer(profile, "王芳", phones=["13912345678"])
    trips = [("K-1", "1000.00"), ("K-2", "2000.00"), ("K-3", "3000.00")]
    stack.kcat("tourcrm.bookings", [(customer, completed(b, customer, amount)) for b, amount in trips])

    async def profiled() -> bool:
        value = await get(profile, f"/v1/customers/{customer}/value")
        return value is not None and value["frequency"] == 3
    await within(profiled)
    history = (await get(profile, f"/v1/customers/{customer}/bookings"))["items"]
    assert {b["booking_id"] for b in history} == {"K-1", "K-2", "K-3"}
    value = await get(profile, f"/v1/customers/{customer}/value")
    assert value["monetary"] == "6000.00" and value["value_class"]

    async def earned() -> dict | None:
        member = await get(loyalty, f"/v1/members/{customer}")
        return member if member and len([e for e in (await get(loyalty, f"/v1/members/{customer}/ledger"))["items"]
                                         if e["kind"] == "earn"]) == 3 else None
    await within(earned)
    member = await get(loyalty, f"/v1/members/{customer}")
    assert member["tier"] == "silver"  # the third trip in a year makes silver
    assert member["points_balance"] == 1000 + 2000 + 3000  # 1 point per CNY, each trip at the tier it was earned in

    async def invited() -> bool:
        return {i["booking_id"] for i in await invitations(feedback, customer) if i["kind"] == "post-trip"} == {
            "K-1", "K-2", "K-3"}
    await within(invited)

    stack.kcat("tourcrm.bookings", [(customer, cancelled("K-2", customer))])

    async def reversed_() -> bool:
        ledger = (await get(loyalty, f"/v1/members/{customer}/ledger"))["items"]
        return any(e["kind"] == "reverse" and e["cause"]["id"] == "K-2" for e in ledger)
    await within(reversed_)
    assert (await get(loyalty, f"/v1/members/{customer}"))["points_balance"] == 1000 + 3000

    async def survey_cancelled() -> bool:
        mine = {i["booking_id"]: i["status"] for i in await invitations(feedback, customer) if i["kind"] == "post-trip"}
        return mine.get("K-2") == "cancelled" and mine["K-1"] != "cancelled"
    await within(survey_cancelled)


class Remote:
    """A service of the stack as tests/e2e/test_closed_loop.py speaks to one (`client`, `client_as`)."""

    def __init__(self, stack: Stack, name: str, client: httpx.AsyncClient) -> None:
        self.stack, self.name, self.client = stack, name, client

    def client_as(self, label: str, *, customer: str | None = None) -> httpx.AsyncClient:
        return self.stack.client(self.name, label, **({"X-Customer-Id": customer} if customer else {}))


async def test_the_closed_loop_across_processes(stack: Stack, api: dict[str, httpx.AsyncClient]) -> None:
    """detractor answer → service-recovery complaint → resolved with goodwill points → credited once → follow-up
    survey → an unhappy follow-up answer reopens the complaint."""
    complaints, loyalty, feedback = (Remote(stack, n, api[n]) for n in ("complaints", "loyalty", "feedback"))
    record = json.loads(loop.new_event(loop.trip(), source="booking-web", subject=loop.CUSTOMER).to_bytes())
    stack.kcat("tourcrm.bookings", [(loop.CUSTOMER, record)])

    await loop.answer_unhappily(feedback, "post-trip", "导游态度恶劣，全程强制购物，非常失望。")
    await within(lambda: loop.the_complaint(complaints))
    complaint = await loop.the_complaint(complaints)
    assert complaint["source"] == "survey" and complaint["booking_id"] == "B-loop"
    await walk(complaints.client, complaint["id"], "resolved", solution={"kind": "goodwill_points", "points": 500})

    async def credited() -> bool:
        return await loop.goodwill(loyalty) == [500]
    await within(credited)
    await loop.answer_unhappily(feedback, "follow-up", "还是没有人真正解决问题。")

    async def reopened() -> bool:
        view = (await complaints.client.get(f"/v1/complaints/{complaint['id']}")).json()
        return view["state"] == "investigating" and view["reopen_count"] == 1
    await within(reopened)
    assert await loop.goodwill(loyalty) == [500]
    assert len((await complaints.client.get("/v1/complaints", params={"customer": loop.CUSTOMER})).json()["items"]) == 1


async def test_merged_customers_are_one_customer_in_every_service(stack: Stack, api: dict[str, httpx.AsyncClient]) -> None:
    profile, complaints, loyalty, feedback = api["profile"], api["complaints"], api["loyalty"], api["feedback"]
    keep = await new_customer(profile, "陈静", phones=["13811112222"])
    fold = await new_customer(profile, "陈静", emails=["chen.jing@example.com"])
    stack.kcat("tourcrm.bookings", [(keep, completed("M-1", keep, "2000.00")),
                                    (fold, completed("M-2", fold, "3000.00", product="P-XIAN"))])
    filed = await complaints.post("/v1/complaints", json={
        "customer_id": fold, "channel": "phone", "trip_phase": "after", "booking_id": "M-2", "summary": "行程变更未通知"})
    assert filed.status_code == 201, filed.text
    for who in (keep, fold):
        await within(lambda who=who: get(loyalty, f"/v1/members/{who}"))
        await within(lambda who=who: invitations(feedback, who))

    merged = await profile.post(f"/v1/customers/{keep}/merge", json={"merged_ids": [fold], "reason": "同一人：电话核实"})
    assert merged.status_code == 200, merged.text

    async def one_member() -> bool:  # the folded id now answers with the survivor's membership
        member, folded = await get(loyalty, f"/v1/members/{keep}"), await get(loyalty, f"/v1/members/{fold}")
        return member is not None and member["points_balance"] == 5000 and folded == member
    await within(one_member)

    async def one_in_feedback() -> bool:
        return ({i["booking_id"] for i in await invitations(feedback, keep)} == {"M-1", "M-2"}
                and await invitations(feedback, fold) == [])
    await within(one_in_feedback)

    async def one_in_complaints() -> bool:  # the folded id's complaint is the survivor's now
        of_keep, of_fold = [(await get(complaints, "/v1/complaints", customer=who))["items"] for who in (keep, fold)]
        return [(c["id"], c["customer_id"]) for c in of_keep] == [(filed.json()["id"], keep)] and of_fold == []
    await within(one_in_complaints)
    value = await get(profile, f"/v1/customers/{keep}/value")
    assert (value["frequency"], value["monetary"]) == (2, "5000.00")
    assert (await get(profile, f"/v1/customers/{fold}"))["merged_into"] == keep


async def test_an_erased_customer_is_in_no_service_export(stack: Stack, api: dict[str, httpx.AsyncClient]) -> None:
    profile, complaints, loyalty, feedback = api["profile"], api["complaints"], api["loyalty"], api["feedback"]
    customer = await new_customer(profile, "林晓峰", phones=["+86 139-0000-7777"], emails=["lin@example.com"])
    stack.kcat("tourcrm.bookings", [(customer, completed("E-1", customer, "4200.00"))])
    filed = await complaints.post("/v1/complaints", json={
        "customer_id": customer, "channel": "phone", "trip_phase": "after", "booking_id": "E-1",
        "summary": "林晓峰来电投诉，回电 13900007777"})
    assert filed.status_code == 201, filed.text
    await within(lambda: get(loyalty, f"/v1/members/{customer}"))
    await within(lambda: invitations(feedback, customer))
    before = {name: await get(api[name], f"/v1/privacy/customers/{customer}")
              for name in ("complaints", "loyalty", "feedback")}
    assert all(any(rows for rows in part["sections"].values()) for part in before.values()), before

    erased = await profile.delete(f"/v1/customers/{customer}")
    assert erased.status_code == 202, erased.text

    async def confirmed() -> bool:
        return (await get(profile, f"/v1/customers/{customer}/erasure"))["complete"]
    await within(confirmed)
    for name in ("complaints", "loyalty", "feedback"):
        part = await get(api[name], f"/v1/privacy/customers/{customer}")
        assert part["sections"] and not any(part["sections"].values()), (name, part)
    export = await get(profile, f"/v1/customers/{customer}/export")
    assert export["complete"] is True
    mine = export["services"]["profile"]
    assert mine["customer"]["status"] == "erased" and mine["customer"]["name"] is None
    assert (mine["customer"]["phones"], mine["customer"]["emails"], mine["consents"]) == ([], [], [])
    for name in ("complaints", "loyalty", "feedback"):
        assert not any(export["services"][name]["sections"].values()), name


async def test_status_shows_every_process_ready_with_its_lag_and_backlog(stack: Stack) -> None:
    code, statuses = stack.status()
    assert code == 0, statuses
    assert [(s["service"], s["replica"], s["ready"]) for s in statuses] == [
        ("profile", 1, True), ("complaints", 1, True), ("loyalty", 1, True), ("feedback", 1, True)]
    assert all(s["pid"] == stack.pid(s["service"]) for s in statuses)
    assert all(s["consumer_lag"] is not None and s["outbox_backlog"] is not None for s in statuses)


async def test_a_record_no_service_can_read_is_a_dead_letter_ops_can_see_and_settle(
        stack: Stack, api: dict[str, httpx.AsyncClient]) -> None:
    stack.kcat("tourcrm.bookings", [("c-garbage", '{"specversion": "1.0", "type": "booking-completed"}')])
    letters: dict[str, dict] = {}

    async def parked() -> bool:
        for name in ("profile", "loyalty", "feedback"):  # the consumers of tourcrm.bookings
            items = [i for i in (await get(api[name], "/v1/ops/dead-letters"))["items"] if i["key"] == "c-garbage"]
            if items:
                letters[name] = items[0]
        return len(letters) == 3
    await within(parked)
    shown = await get(api["loyalty"], f"/v1/ops/dead-letters/{letters['loyalty']['id']}")
    assert json.loads(shown["value"]["text"]) == {"specversion": "1.0", "type": "booking-completed"}
    assert {h["name"]: h["value"]["text"] for h in shown["headers"]} == {"content-type": "application/cloudevents+json"}
    discarded = await api["loyalty"].post(f"/v1/ops/dead-letters/{letters['loyalty']['id']}/discard",
                                          json={"reason": "not an event: a producer's test"})
    assert discarded.json()["status"] == "discarded"
    replay = await api["feedback"].post(f"/v1/ops/dead-letters/{letters['feedback']['id']}/replay")
    assert replay.json()["outcome"] == "still failing" and replay.json()["letter"]["status"] == "parked"
    code, statuses = stack.status()
    assert {s["service"]: s["dead_lettered"] for s in statuses if s["service"] != "complaints"} == {
        "profile": 1, "loyalty": 1, "feedback": 1}
    # the CLI works on the stack's databases too: the discarded letter, with who and why
    listed = stack.cli("dlq", "list", "loyalty", "--stack", str(stack.directory), "--status", "discarded", "--json")
    [letter] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (letter["id"], letter["settled_by"], letter["note"]) == (
        letters["loyalty"]["id"], "test-all", "not an event: a producer's test")
