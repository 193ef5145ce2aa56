"""The closed loop across services, on both backends: an unhappy survey answer → a service-recovery complaint →
resolved with goodwill points → the points credited once → the follow-up survey → an unhappy follow-up answer
reopens the complaint. Each service runs as its own server on one bus; the test speaks only HTTP and events,
as the booking app and the staff would."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from shared.bus import Record
from shared.events import BookingCompleted, Product, new_event
from tests.complaints.support import walk
from tests.conftest import Backend, RunningService, eventually

CUSTOMER = "c-loop"


def trip() -> BookingCompleted:
    ended = datetime.now(timezone.utc) - timedelta(days=5)
    return BookingCompleted(
        booking_id="B-loop", customer_id=CUSTOMER, amount=Decimal("3000.00"),
        product=Product(id="P-guilin", name="桂林山水五日游", kind="tour", destination="桂林"),
        travel_start=(ended - timedelta(days=4)).date(), travel_end=ended.date(), completed_at=ended - timedelta(days=20))


async def sent_invitation(feedback: RunningService, kind: str, customer: str = CUSTOMER) -> dict[str, Any] | None:
    await feedback.client.post("/v1/surveys/dispatch")
    listed = await feedback.client.get("/v1/surveys/invitations", params={"customer_id": customer, "status": "sent"})
    found = [i for i in listed.json()["items"] if i["kind"] == kind]
    return found[0] if found else None


async def answer_unhappily(feedback: RunningService, kind: str, comment: str, customer: str = CUSTOMER) -> None:
    """The app, for its signed-in customer, answers the survey of `kind` as unhappily as it can."""
    invitation: dict[str, Any] = {}

    async def sent() -> bool:
        invitation.update(await sent_invitation(feedback, kind, customer) or {})
        return bool(invitation)
    await eventually(sent)
    async with feedback.client_as("customer", customer=customer) as app:
        form = (await app.get(f"/v1/surveys/invitations/{invitation['token']}")).json()
        lowest = {"nps": 1, "csat": 1, "rating": 1}
        answers = {q["id"]: lowest.get(q["type"], comment) for q in form["questions"]}
        answered = await app.post(f"/v1/surveys/invitations/{invitation['token']}/responses", json={"answers": answers})
        assert answered.status_code == 201, answered.text


async def the_complaint(complaints: RunningService) -> dict[str, Any] | None:
    items = (await complaints.client.get("/v1/complaints", params={"customer_id": CUSTOMER})).json()["items"]
    return items[0] if len(items) == 1 else None


async def goodwill(loyalty: RunningService) -> list[int]:
    ledger = await loyalty.client.get(f"/v1/members/{CUSTOMER}/ledger")
    return [e["points"] for e in ledger.json().get("items", []) if e["kind"] == "goodwill"]


async def test_an_unhappy_answer_is_recovered_and_an_unhappy_follow_up_reopens_the_complaint(backend: Backend) -> None:
    complaints = await backend.service("complaints")
    loyalty = await backend.service("loyalty")
    feedback = await backend.service("feedback")
    booking = trip()
    await backend.bus().publish([Record(booking.topic, CUSTOMER,
                                        new_event(booking, source="booking-web", subject=CUSTOMER).to_bytes())])

    await answer_unhappily(feedback, "post-trip", "导游态度恶劣，全程强制购物，非常失望。")
    await eventually(lambda: the_complaint(complaints))
    complaint = await the_complaint(complaints)
    assert complaint["source"] == "survey" and complaint["booking_id"] == "B-loop"
    # the comment never travels on the bus: complaints read it from feedback's API by response id
    detail = (await complaints.client.get(f"/v1/complaints/{complaint['id']}")).json()
    assert "导游态度恶劣" in detail["description"] and "导游态度恶劣" in detail["summary"]

    await walk(complaints.client, complaint["id"], "resolved", solution={"kind": "goodwill_points", "points": 500})

    async def credited() -> bool:
        return await goodwill(loyalty) == [500]
    await eventually(credited)

    await answer_unhappily(feedback, "follow-up", "还是没有人真正解决问题。")

    async def reopened() -> bool:
        view = (await complaints.client.get(f"/v1/complaints/{complaint['id']}")).json()
        return view["state"] == "investigating" and view["reopen_count"] == 1
    await eventually(reopened)
    assert await goodwill(loyalty) == [500]  # credited exactly once, the reopening takes nothing back twice
    assert len((await complaints.client.get("/v1/complaints", params={"customer_id": CUSTOMER})).json()["items"]) == 1
