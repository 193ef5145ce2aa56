"""The closed loop through the bus: a detractor's answer opens a service-recovery complaint (once),
its resolution with goodwill points is credited once by loyalty, and the follow-up answer reopens
(unhappy) or closes (happy) the complaint."""

from __future__ import annotations

from datetime import datetime, timezone

from shared.events import DetractorDetected, FeedbackSubmitted
from tests.complaints.support import applied, completed, emitted, publish, walk
from tests.conftest import Backend, eventually


def detractor(customer: str, response: str, booking: str = "b-1") -> DetractorDetected:
    return DetractorDetected(response_id=response, customer_id=customer, booking_id=booking, nps=2,
                             answers={"nps": 2, "rate_guide": 1})


def answer(customer: str, nps: int, response: str) -> FeedbackSubmitted:
    return FeedbackSubmitted(response_id=response, survey_id="follow-up-1", customer_id=customer, nps=nps,
                             kind="follow-up", submitted_at=datetime.now(timezone.utc))


async def only_complaint(svc, customer: str) -> dict:  # noqa: ANN001
    items = (await svc.client.get("/v1/complaints", params={"customer": customer})).json()["items"]
    assert len(items) == 1, items
    return (await svc.client.get(f"/v1/complaints/{items[0]['id']}")).json()


async def test_detractor_to_goodwill_to_unhappy_follow_up_reopens(backend: Backend) -> None:
    svc = await backend.service("complaints")
    loyalty = await backend.service("loyalty")
    await publish(backend, completed("c-9", "b-1"))
    await applied(svc, 1)  # the booking facts first (another topic: no order between the two)
    await publish(backend, detractor("c-9", "r-1"), detractor("c-9", "r-1"))  # a producer retrying, new event id
    await applied(svc, 3)
    c = await only_complaint(svc, "c-9")
    assert (c["source"], c["channel"], c["trip_phase"], c["booking_id"], c["product_id"]) == \
        ("survey", "survey", "after", "b-1", "P-guilin")
    assert c["context"]["survey"]["nps"] == 2 and c["context"]["booking"]["destination"] == "桂林"
    # the comment is read from feedback's API (it never travels on the bus); feedback does not run here, and
    # the case opens all the same, saying why its comment is missing
    assert c["context"]["survey"]["answers"] == {"nps": 2, "rate_guide": 1}
    assert c["context"]["survey"]["comment_unavailable"].startswith("feedback unreachable")
    [filed] = await emitted(svc, "complaint-filed")
    assert filed["source"] == "survey"

    await walk(svc.client, c["id"], "resolved", solution={"kind": "goodwill_points", "points": 800})

    async def credited() -> bool:
        r = await loyalty.client.get("/v1/members/c-9")
        return r.status_code == 200 and any(
            e["kind"] == "goodwill" for e in (await loyalty.client.get("/v1/members/c-9/ledger")).json()["items"])
    await eventually(credited)
    await walk(svc.client, c["id"], "follow_up")

    await publish(backend, answer("c-9", 3, "r-2"))
    await applied(svc, 4)
    c = await only_complaint(svc, "c-9")
    assert c["state"] == "investigating" and c["reopen_count"] == 1 and c["satisfied"] is False
    assert [r["reason"] for r in await emitted(svc, "complaint-reopened")] == ["unhappy follow-up answer"]
    ledger = (await loyalty.client.get("/v1/members/c-9/ledger")).json()["items"]
    assert [e["points"] for e in ledger if e["kind"] == "goodwill"] == [800]  # credited exactly once


async def test_happy_follow_up_closes(backend: Backend) -> None:
    svc = await backend.service("complaints")
    await publish(backend, detractor("c-5", "r-5"))
    await applied(svc, 1)
    c = await only_complaint(svc, "c-5")
    await walk(svc.client, c["id"], "resolved")
    await publish(backend, answer("c-5", 9, "r-6"), answer("c-5", 2, "r-7"))  # the second comes after the close
    await applied(svc, 3)
    c = await only_complaint(svc, "c-5")
    assert c["state"] == "closed" and c["satisfied"] is True
    assert [t["to_state"] for t in c["timeline"] if t["actor"] == "feedback" and t["from_state"]] == \
        ["follow_up", "closed"]
    [closed] = await emitted(svc, "complaint-closed")
    assert closed["satisfied"] is True


async def test_malformed_events_are_dead_letters(backend: Backend) -> None:
    from shared.bus import Record
    svc = await backend.service("complaints")
    bad = b'{"specversion":"1.0","id":"x-1","source":"t","type":"detractor-detected","data":{"customer_id":"c"}}'
    await backend.bus().publish([Record("tourcrm.feedback", "c", bad), Record("tourcrm.feedback", "c", b"not json")])
    await applied(svc, 2)
    letters = await svc.runtime.consumer.dead_letters()
    assert len(letters) == 2
    assert (await svc.client.get("/v1/complaints")).json()["items"] == []
