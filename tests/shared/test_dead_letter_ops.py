"""Dead letters ops can handle, through the admin routes every service serves (scope ops:admin), on both
backends: list them with the reason, show the original record (value, key, headers), replay one (applied
once), discard one (kept, marked discarded with who and why)."""

from __future__ import annotations

from shared.bus import Record
from shared.events import BOOKINGS, new_event
from tests.conftest import Backend, RunningService, eventually
from tests.loyalty.support import balance, completed, member

LETTERS = "/v1/ops/dead-letters"


async def parked(loyalty: RunningService, count: int) -> list[dict]:
    letters: list[dict] = []

    async def enough() -> bool:
        letters[:] = (await loyalty.client.get(LETTERS)).json()["items"]
        return len(letters) >= count
    await eventually(enough)
    return letters


async def test_ops_list_show_discard_and_replay_dead_letters_and_a_replay_applies_once(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    yen = new_event(completed("c-dlq", "B-yen", "100.00", currency="JPY"), source="booking-web", subject="c-dlq")
    good = new_event(completed("c-dlq", "B-cny", "200.00"), source="booking-web", subject="c-dlq")
    await backend.bus().publish([
        Record(BOOKINGS, "c-dlq", b"{oops", headers=[("trace", b"t-1"), ("binary", b"\xff\xfe")]),
        Record(BOOKINGS, "c-dlq", yen.to_bytes()),
        Record(BOOKINGS, "c-dlq", good.to_bytes()),
    ])
    broken, unpriced = await parked(loyalty, 2)
    assert await balance(loyalty, "c-dlq") == 200  # the stream went on past both

    # the original record, as it came, with the reason
    shown = (await loyalty.client.get(f"{LETTERS}/{broken['id']}")).json()
    assert shown["status"] == "parked" and "not JSON" in shown["error"] and shown["key"] == "c-dlq"
    assert shown["value"] == {"text": "{oops", "base64": "e29vcHM="}
    headers = {h["name"]: h["value"] for h in shown["headers"]}
    assert headers["trace"]["text"] == "t-1" and headers["binary"] == {"text": None, "base64": "//4="}
    assert unpriced["event_id"] == yen.id and unpriced["event_type"] == "booking-completed" and "JPY" in unpriced["error"]
    assert (await loyalty.client.get(f"{LETTERS}/999999")).status_code == 404

    # only ops:admin reaches them; a customer-facing key never does
    async with loyalty.client_as("loyalty:admin") as other, loyalty.client_as("customer", customer="c-dlq") as app, \
            loyalty.client_as(None) as anonymous, loyalty.client_as("ops:admin") as ops:
        assert (await other.get(LETTERS)).status_code == 403
        assert (await app.get(f"{LETTERS}/{broken['id']}")).status_code == 403
        assert (await anonymous.post(f"{LETTERS}/{broken['id']}/discard", json={"reason": "x"})).status_code == 401
        first = (await ops.get(LETTERS, params={"limit": 1})).json()
        assert [i["id"] for i in first["items"]] == [broken["id"]] and first["next_cursor"]
        rest = (await ops.get(LETTERS, params={"limit": 1, "cursor": first["next_cursor"]})).json()
        assert [i["id"] for i in rest["items"]] == [unpriced["id"]]

    # discard: kept, marked, with who and why; never applied, never discarded twice
    bad = await loyalty.client.post(f"{LETTERS}/{broken['id']}/discard", json={"reason": ""})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "reason"
    discarded = await loyalty.client.post(f"{LETTERS}/{broken['id']}/discard", json={"reason": "a test record"})
    assert discarded.status_code == 200, discarded.text
    assert (discarded.json()["status"], discarded.json()["settled_by"], discarded.json()["note"]) == (
        "discarded", "test-all", "a test record")
    assert [i["id"] for i in (await loyalty.client.get(LETTERS)).json()["items"]] == [unpriced["id"]]
    kept = (await loyalty.client.get(LETTERS, params={"status": "discarded"})).json()["items"]
    assert [i["id"] for i in kept] == [broken["id"]]
    assert (await loyalty.client.post(f"{LETTERS}/{broken['id']}/discard", json={"reason": "again"})).status_code == 409
    assert (await loyalty.client.post(f"{LETTERS}/{broken['id']}/replay")).status_code == 409

    # replay before the cause is fixed: still parked, with the reason; after: applied, once
    failing = await loyalty.client.post(f"{LETTERS}/{unpriced['id']}/replay")
    assert failing.status_code == 200 and failing.json()["outcome"] == "still failing"
    assert failing.json()["letter"]["status"] == "parked" and failing.json()["letter"]["attempts"] > unpriced["attempts"]
    programme = (await loyalty.client.get("/v1/programme")).json()["programme"]
    programme["rates"]["JPY"] = "0.05"
    assert (await loyalty.client.put("/v1/programme", json={"programme": programme, "reason": "JPY"})).status_code == 200
    replayed = await loyalty.client.post(f"{LETTERS}/{unpriced['id']}/replay")
    assert replayed.json()["outcome"] == "replayed" and replayed.json()["letter"]["settled_by"] == "test-all"
    assert await balance(loyalty, "c-dlq") == 205
    assert (await loyalty.client.post(f"{LETTERS}/{unpriced['id']}/replay")).status_code == 409
    await backend.bus().publish([Record(BOOKINGS, "c-dlq", yen.to_bytes())])  # the producer sends it again
    await backend.bus().publish([Record(BOOKINGS, "c-dlq", good.to_bytes())])

    async def redelivered() -> bool:  # both copies seen by the consumer: counted as duplicates
        text = (await loyalty.client.get("/metrics")).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("tourcrm_events_duplicate_total{")) >= 2
    await eventually(redelivered)
    assert await balance(loyalty, "c-dlq") == 205
    earns = [e for e in (await loyalty.client.get("/v1/members/c-dlq/ledger")).json()["items"] if e["kind"] == "earn"]
    assert sorted(e["points"] for e in earns) == [5, 200]
    assert (await member(loyalty, "c-dlq"))["points_balance"] == 205
