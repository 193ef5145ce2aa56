"""The handlers read the richer feedback events (complaint id, kind, detractor flag, answers and
product context) when the feedback service sends them, and work without them."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar, Literal

from sqlalchemy import select

from services.complaints import handlers
from services.complaints.models import Complaint
from shared.db import transaction
from shared.events import DetractorDetected, Event, FeedbackSubmitted, new_event
from tests.complaints.support import file, walk
from tests.conftest import Backend


class RicherAnswer(FeedbackSubmitted):
    type: ClassVar[str] = "feedback-submitted"
    kind: Literal["post-trip", "follow-up", "member"] = "post-trip"
    complaint_id: str | None = None
    detractor: bool = False


class RicherDetractor(DetractorDetected):
    type: ClassVar[str] = "detractor-detected"
    nps: int | None = None  # type: ignore[assignment] - the feedback service's version: None when unhappy by CSAT
    csat: int | None = None
    answers: dict[str, Any] = {}
    product: dict[str, Any] | None = None


def event(data: Any) -> Event:
    return Event(new_event(data, source="test", subject=data.customer_id), data)


def answer(customer: str, **fields: Any) -> RicherAnswer:
    return RicherAnswer(response_id="r", survey_id="s", customer_id=customer,
                        submitted_at=datetime.now(timezone.utc), **fields)


async def test_richer_feedback_events(backend: Backend) -> None:
    svc = await backend.service("complaints")
    first = await walk(svc.client, (await file(svc.client, "c-1"))["id"], "resolved")
    second = await walk(svc.client, (await file(svc.client, "c-1"))["id"], "resolved")
    async with transaction(svc.runtime.sessions) as session:
        await handlers.on_feedback_submitted(event(answer("c-1", nps=2, kind="post-trip")), session)  # not a follow-up
        await handlers.on_feedback_submitted(event(answer("c-2", nps=2, kind="follow-up",
                                                          complaint_id=first["id"])), session)  # another customer's
        await handlers.on_feedback_submitted(event(answer("c-1", nps=9, kind="follow-up", detractor=True,
                                                          complaint_id=first["id"])), session)
        await handlers.on_feedback_submitted(event(answer("c-1", csat=5, kind="follow-up",
                                                          complaint_id="no-such-complaint")), session)
        await handlers.on_detractor_detected(event(RicherDetractor(
            response_id="r-9", customer_id="c-3", nps=None, csat=1, answers={"q1": 1},
            product={"id": "P-9", "destination": "三亚", "supplier": "海景酒店"})), session)
    states = {c["id"]: c for c in (await svc.client.get("/v1/complaints", params={"customer": "c-1"})).json()["items"]}
    assert states[first["id"]]["state"] == "investigating"  # the named complaint, reopened by the detractor flag
    assert states[second["id"]]["state"] == "resolved"  # the latest one was not touched by the post-trip answer
    async with svc.runtime.read_sessions() as session:
        recovery = (await session.execute(select(Complaint).where(Complaint.customer_id == "c-3"))).scalar_one()
    assert (recovery.product_id, recovery.destination, recovery.supplier, recovery.severity) == \
        ("P-9", "三亚", "海景酒店", "high")
    assert "CSAT 1" in recovery.summary and '"q1": 1' in recovery.context
