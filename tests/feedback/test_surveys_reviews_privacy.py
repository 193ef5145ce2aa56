"""Templates (shipped and versioned), reviews with moderation, data rights (export, erase, merge), and bad
input: malformed events are dead letters, bad requests clear problems, never a 500; no personal data in logs."""

from __future__ import annotations

import json
from datetime import timedelta

from shared.events import BOOKINGS, CustomerErased, CustomersMerged
from tests.conftest import Backend, capture_logs
from tests.feedback.support import (
    NOW, completed, consent, consumed, emitted, invitations, invited, publish_raw, send, tick,
)


async def test_shipped_templates_and_new_versions(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    surveys = {s["id"]: s for s in (await feedback.client.get("/v1/surveys")).json()}
    assert set(surveys) == {"post-trip", "complaint-follow-up", "member"}
    assert all(s["shipped"] and s["version"] == 1 for s in surveys.values())
    assert {q["type"] for q in surveys["post-trip"]["questions"]} == {"nps", "csat", "rating", "text"}
    assert {q["element"] for q in surveys["post-trip"]["questions"]} >= {"meals", "lodging", "transport", "sightseeing",
                                                                       "shopping", "entertainment", "guide", "value"}
    old = await invited(backend, feedback, "t-1", "tb-1")
    form = {"id": "post-trip", "kind": "post-trip", "title": {"zh-CN": "旅行回访", "en": "Your trip"},
            "questions": [{"id": "nps", "type": "nps", "text": {"zh-CN": "推荐？", "en": "Recommend?"}},
                          {"id": "rate_expectations", "type": "rating", "element": "expectations",
                           "text": {"zh-CN": "符合预期吗？", "en": "As expected?"}}]}
    async with feedback.client_as("feedback:read") as reader:
        assert (await reader.post("/v1/surveys", json=form)).status_code == 403
    r = await feedback.client.post("/v1/surveys", json=form)
    assert r.status_code == 201 and r.json()["version"] == 2 and not r.json()["shipped"]
    bad = form | {"questions": [{"id": "x", "type": "nps", "element": "spa", "text": {"en": "?"}}]}
    assert (await feedback.client.post("/v1/surveys", json=bad)).status_code == 422
    twice = form | {"questions": form["questions"] * 2}
    assert (await feedback.client.post("/v1/surveys", json=twice)).status_code == 422
    new = await invited(backend, feedback, "t-2", "tb-2")
    assert (old.template_version, new.template_version) == (1, 2)
    old_ids = [q["id"] for q in (await feedback.client.get(f"/v1/surveys/invitations/{old.token}")).json()["questions"]]
    new_ids = [q["id"] for q in (await feedback.client.get(f"/v1/surveys/invitations/{new.token}")).json()["questions"]]
    assert old_ids[:2] == ["nps", "csat"] and new_ids == ["nps", "rate_expectations"]


async def test_reviews_with_moderation(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    body = {"customer_id": "r-1", "product_id": "P-XIAN-4D", "rating": 2, "title": "失望",
            "text": "导游一直推销，购物店太多，酒店也很旧。"}
    async with feedback.client_as("customer", customer="r-2") as other:
        assert (await other.post("/v1/reviews", json=body)).status_code == 404
    async with feedback.client_as("customer", customer="r-1") as app:
        r = await app.post("/v1/reviews", json=body)
    assert r.status_code == 201, r.text
    review = r.json()
    assert review["status"] == "pending" and review["sentiment"] == "negative" and "shopping" in review["topics"]
    assert (await feedback.client.post("/v1/reviews", json=body | {"rating": 6})).status_code == 422
    async with feedback.client_as("customer", customer="r-2") as other:
        assert (await other.get(f"/v1/reviews/{review['id']}")).status_code == 404  # not approved yet
    r = await feedback.client.post(f"/v1/reviews/{review['id']}/moderation", json={"status": "approved"})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    again = await feedback.client.post(f"/v1/reviews/{review['id']}/moderation", json={"status": "rejected"})
    assert again.status_code == 409
    async with feedback.client_as("customer", customer="r-2") as other:
        assert (await other.get(f"/v1/reviews/{review['id']}")).status_code == 200
    listed = (await feedback.client.get("/v1/reviews", params={"product_id": "P-XIAN-4D", "status": "approved"})).json()
    assert [x["id"] for x in listed["items"]] == [review["id"]]
    async with feedback.client_as("customer", customer="r-2") as other:
        public = (await other.get("/v1/reviews", params={"status": "approved"})).json()["items"]
        assert [x["id"] for x in public] == [review["id"]]
        assert (await other.get("/v1/reviews")).json()["items"] == []  # its own: none


async def test_export_erase_and_merge(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    invitation = await invited(backend, feedback, "p-1", "pb-1")
    r = await feedback.client.post(f"/v1/surveys/invitations/{invitation.token}/responses",
                                   json={"answers": {"nps": 3, "csat": 2, "comment": "王小明导游态度很差"}})
    assert r.status_code == 201
    await feedback.client.post("/v1/reviews", json={"customer_id": "p-1", "product_id": "P-1", "rating": 1, "text": "差"})
    export = (await feedback.client.get("/v1/privacy/customers/p-1")).json()
    assert export["service"] == "feedback"
    assert export["sections"]["survey_response"][0]["comment"] == "王小明导游态度很差"
    assert len(export["sections"]["invitation"]) == 1 and len(export["sections"]["review"]) == 1
    async with feedback.client_as("feedback:read") as reader:
        assert (await reader.get("/v1/privacy/customers/p-1")).status_code == 403

    await send(backend, feedback, CustomerErased(customer_id="p-1", request_id="er-1"))
    after = (await feedback.client.get("/v1/privacy/customers/p-1")).json()["sections"]
    assert all(rows == [] for rows in after.values())
    [erased] = await emitted(feedback, "customer-data-erased")
    assert (erased["customer_id"], erased["request_id"], erased["service"]) == ("p-1", "er-1", "feedback")
    scores = (await feedback.client.get("/v1/feedback/scores")).json()["overall"]
    assert scores["responses"] == 1 and scores["nps"] == -100.0  # the answer stays, pseudonymised, for the scores

    await send(backend, feedback, consent("p-2", "revoked"))
    await invited(backend, feedback, "p-3", "pb-3")
    await send(backend, feedback, CustomersMerged(customer_id="p-3", merged_ids=["p-2"]))
    assert [i.customer_id for i in await invitations(feedback, booking_id="pb-3")] == ["p-3"]
    await send(backend, feedback, completed("p-3", "pb-4"))
    await tick(feedback, NOW + timedelta(days=60))
    [later] = await invitations(feedback, booking_id="pb-4")
    assert later.reason == "no-consent"  # the survivor keeps the merged file's withdrawal


async def test_malformed_events_are_dead_letters_and_bad_requests_are_problems(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    with capture_logs() as logs:
        await publish_raw(backend, BOOKINGS, "x-1", b"{not json")
        bad = {"specversion": "1.0", "id": "e-1", "source": "t", "type": "booking-completed", "subject": "x-1",
               "dataschema": "tourcrm:booking-completed:1", "data": {"booking_id": "b", "customer_id": "x-1"}}
        await publish_raw(backend, BOOKINGS, "x-1", json.dumps(bad).encode())
        await consumed(feedback, 2)
        parked = await feedback.runtime.consumer.dead_letters()
        assert len(parked) == 2
        assert (await feedback.client.get("/v1/surveys/invitations/" + "x" * 65)).status_code == 404
        r = await feedback.client.post("/v1/surveys/invitations/unknown/responses", json={"answers": {"nps": 5}})
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
        assert (await feedback.client.post("/v1/surveys/invitations/unknown/responses", content=b"[")).status_code == 422
        assert (await feedback.client.get("/v1/surveys/invitations", params={"status": "nope"})).status_code == 422
        invitation = await invited(backend, feedback, "x-2", "xb-2")
        r = await feedback.client.post(f"/v1/surveys/invitations/{invitation.token}/responses",
                                       json={"answers": {"nps": 2, "csat": 1, "comment": "张伟 13800138000 酒店太差"}})
        assert r.status_code == 201
    text = logs.getvalue()
    assert "13800138000" not in text and "张伟" not in text and invitation.token not in text
    assert '"status": 500' not in text and "unhandled error" not in text
