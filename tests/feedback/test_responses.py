"""Answering: the questions in the customer's language and only for what the booking contained; answers
validated per question type; a token answers once, even under concurrent posts; customer-facing keys
reach only their own invitations and feedback."""

from __future__ import annotations

import asyncio

from services.feedback.models import Response
from sqlalchemy import func, select
from shared.events import CustomerRegistered
from tests.conftest import Backend
from tests.feedback.support import emitted, invited, send


async def test_questions_follow_the_booking_and_the_language(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    tour = await invited(backend, feedback, "c-1", "b-1", tags=["shopping", "guide:G-7"])
    r = await feedback.client.get(f"/v1/surveys/invitations/{tour.token}")
    assert r.status_code == 200, r.text
    form = r.json()
    ids = [q["id"] for q in form["questions"]]
    assert ids == ["nps", "csat", "rate_meals", "rate_lodging", "rate_transport", "rate_sightseeing", "rate_shopping",
                   "rate_guide", "rate_value", "comment"]
    assert form["title"] == "旅行满意度调查" and form["questions"][0]["type"] == "nps"
    assert (form["questions"][0]["min"], form["questions"][0]["max"]) == (0, 10)
    assert [q["id"] for q in form["questions"] if q["required"]] == ["nps", "csat"]

    await send(backend, feedback, CustomerRegistered(customer_id="c-2", preferred_language="en"))
    hotel = await invited(backend, feedback, "c-2", "b-2", kind="hotel", product="P-SANYA-HOTEL")
    form = (await feedback.client.get(f"/v1/surveys/invitations/{hotel.token}")).json()
    assert form["title"] == "How was your trip?" and form["language"] == "en"
    assert [q["id"] for q in form["questions"]] == ["nps", "csat", "rate_meals", "rate_lodging", "rate_value", "comment"]
    assert form["questions"][0]["text"].startswith("How likely")


async def test_answer_validated_and_taken_once(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    invitation = await invited(backend, feedback, "c-3", "b-3")
    url = f"/v1/surveys/invitations/{invitation.token}/responses"

    bad = {
        "out of range": ({"nps": 11, "csat": 4}, "answers.nps"),
        "not a number": ({"nps": "ten", "csat": 4}, "answers.nps"),
        "a boolean": ({"nps": True, "csat": 4}, "answers.nps"),
        "a fraction": ({"nps": 9, "csat": 4.5}, "answers.csat"),
        "unknown question": ({"nps": 9, "csat": 4, "rate_spa": 5}, "answers.rate_spa"),
        "not asked of this booking": ({"nps": 9, "csat": 4, "rate_shopping": 3}, "answers.rate_shopping"),
        "text not text": ({"nps": 9, "csat": 4, "comment": 5}, "answers.comment"),
    }
    for why, (answers, field) in bad.items():
        r = await feedback.client.post(url, json={"answers": answers})
        assert r.status_code == 422, (why, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in r.json()["errors"]], (why, r.json())
    r = await feedback.client.post(url, json={"answers": {"rate_guide": 5, "comment": "不错"}})
    assert r.status_code == 422 and r.json()["missing"] == ["nps", "csat"] and "nps, csat" in r.json()["detail"]
    r = await feedback.client.post(url, json={"answers": "nope"})
    assert r.status_code == 422

    answers = {"nps": 10, "csat": 5, "rate_guide": 5, "rate_meals": 4, "rate_value": 4,
               "comment": "导游讲解很专业，行程安排合理，物超所值！"}
    r = await feedback.client.post(url, json={"answers": answers})
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["nps"], body["csat"], body["ratings"]) == (10, 5, {"guide": 5, "meals": 4, "value": 4})
    assert body["sentiment"] == "positive" and body["sentiment_score"] > 0.2 and "guide" in body["topics"]
    assert not body["detractor"]

    again = await feedback.client.post(url, json={"answers": answers})
    assert again.status_code == 409 and again.json()["invitation_status"] == "answered"
    assert (await feedback.client.get(f"/v1/surveys/invitations/{invitation.token}")).status_code == 409
    assert (await feedback.client.get("/v1/surveys/invitations/not-a-token")).status_code == 404
    [submitted] = await emitted(feedback, "feedback-submitted")
    assert submitted["survey_id"] == invitation.id and submitted["nps"] == 10 and submitted["sentiment_label"] == "positive"
    assert await emitted(feedback, "detractor-detected") == []


async def test_concurrent_answers_to_one_token_make_one_response(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    invitation = await invited(backend, feedback, "c-4", "b-4")
    url = f"/v1/surveys/invitations/{invitation.token}/responses"
    clients = [feedback.client_as("feedback:write") for _ in range(8)]
    try:
        answers = await asyncio.gather(*(c.post(url, json={"answers": {"nps": n, "csat": 3}})
                                         for n, c in enumerate(clients)))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [409] * 7, [r.text for r in answers]
    async with feedback.runtime.read_sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Response))).scalar_one() == 1
    assert len(await emitted(feedback, "feedback-submitted")) == 1


async def test_customer_facing_keys_reach_only_their_own(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    mine = await invited(backend, feedback, "c-5", "b-5")
    theirs = await invited(backend, feedback, "c-6", "b-6")
    async with feedback.client_as("customer", customer="c-5") as app:
        assert (await app.get(f"/v1/surveys/invitations/{mine.token}")).status_code == 200
        assert (await app.get(f"/v1/surveys/invitations/{theirs.token}")).status_code == 404
        r = await app.post(f"/v1/surveys/invitations/{theirs.token}/responses", json={"answers": {"nps": 1, "csat": 1}})
        assert r.status_code == 404
        r = await app.post(f"/v1/surveys/invitations/{mine.token}/responses",
                           json={"answers": {"nps": 8, "csat": 4, "comment": "Lovely trip, the guide was great."}})
        assert r.status_code == 201, r.text
        own = await app.get("/v1/customers/c-5/feedback")
        assert own.status_code == 200
        assert [(i["token"], i["status"]) for i in own.json()["invitations"]] == [(mine.token, "answered")]
        assert own.json()["responses"][0]["sentiment"] == "positive"
        assert (await app.get("/v1/customers/c-6/feedback")).status_code == 404
        listed = (await app.get("/v1/surveys/invitations")).json()["items"]
        assert [i["customer_id"] for i in listed] == ["c-5"]
    async with feedback.client_as("customer") as nobody:
        assert (await nobody.get(f"/v1/surveys/invitations/{mine.token}")).status_code == 400
    async with feedback.client_as("feedback:read") as staff:
        assert (await staff.post(f"/v1/surveys/invitations/{theirs.token}/responses",
                                 json={"answers": {"nps": 1, "csat": 1}})).status_code == 403
        page = (await staff.get("/v1/surveys/invitations", params={"limit": 1})).json()
        assert len(page["items"]) == 1 and page["next_cursor"]
        rest = (await staff.get("/v1/surveys/invitations", params={"cursor": page["next_cursor"]})).json()
        assert [i["customer_id"] for i in page["items"] + rest["items"]] == ["c-5", "c-6"]
        assert (await staff.get("/v1/surveys/invitations", params={"cursor": "junk"})).status_code == 400


async def test_staff_cancel_an_invitation(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    invitation = await invited(backend, feedback, "c-7", "b-7")
    async with feedback.client_as("feedback:read") as reader:
        assert (await reader.post(f"/v1/surveys/invitations/{invitation.id}/cancel")).status_code == 403
    r = await feedback.client.post(f"/v1/surveys/invitations/{invitation.id}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert (await feedback.client.post(f"/v1/surveys/invitations/{invitation.id}/cancel")).status_code == 409
    assert (await feedback.client.post("/v1/surveys/invitations/nope/cancel")).status_code == 404
    r = await feedback.client.post(f"/v1/surveys/invitations/{invitation.token}/responses", json={"answers": {"nps": 5, "csat": 3}})
    assert r.status_code == 410 and r.json()["invitation_status"] == "cancelled"
