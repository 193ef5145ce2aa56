"""Intake from every channel, classification by the rules (correctable), routing, complaint-filed."""

from __future__ import annotations

import pytest

from tests.complaints.support import emitted, file, intake
from tests.conftest import Backend

CHANNELS = ["phone", "email", "web_form", "mobile_app", "social_media", "in_person", "tour_guide", "third_party"]


async def test_intake_from_every_channel_classifies_routes_and_emits(backend: Backend) -> None:
    svc = await backend.service("complaints")
    for channel in CHANNELS:
        view = await file(svc.client, f"c-{channel}", channel=channel)
        assert view["state"] == "received" and view["channel"] == channel
    view = await file(svc.client, "c-x", summary="我的孩子在景区受伤了", trip_phase="during", description="")
    assert (view["category"], view["severity"], view["queue"]) == ("safety_incident", "critical", "emergency")
    assert view["sla"]["first_response_due"] and view["sla"]["resolution_due"]
    assert view["attachments"] == [{"url": "s3://evidence/receipt.jpg", "name": None, "content_type": None}]
    assert view["timeline"][0]["to_state"] == "received"
    got = await svc.client.get(f"/v1/complaints/{view['id']}")
    assert got.status_code == 200 and got.headers["ETag"] == view["etag"]
    filed = await emitted(svc, "complaint-filed")
    assert len(filed) == len(CHANNELS) + 1
    assert filed[-1] | {} == filed[-1] and filed[-1]["severity"] == "critical" and filed[-1]["trip_phase"] == "during"


async def test_rules_suggest_and_agents_correct_with_if_match(backend: Backend) -> None:
    svc = await backend.service("complaints")
    view = await file(svc.client, summary="价格比宣传的贵了很多", description="extra fee at the hotel")
    assert view["suggested_category"] == view["category"] == "product_not_as_described"
    due = view["sla"]["resolution_due"]
    path = f"/v1/complaints/{view['id']}"
    r = await svc.client.patch(path, json={"severity": "critical"})
    assert r.status_code == 428 and r.json()["errors"][0]["field"] == "If-Match"
    r = await svc.client.patch(path, json={"severity": "critical"}, headers={"If-Match": '"v0"'})
    assert r.status_code == 412
    r = await svc.client.patch(path, json={"category": "price", "severity": "critical", "assignee": "agent-li"},
                               headers={"If-Match": view["etag"]})
    assert r.status_code == 200, r.text
    fixed = r.json()
    assert (fixed["category"], fixed["severity"], fixed["assignee"], fixed["queue"]) == \
        ("price", "critical", "agent-li", "emergency")
    assert fixed["suggested_category"] == "product_not_as_described" and fixed["etag"] != view["etag"]
    assert fixed["sla"]["resolution_due"] < due  # a critical complaint is due sooner
    # an agent classifying on the transition
    r = await svc.client.post(f"{path}/transitions", json={"to": "classified", "severity": "low"},
                              headers={"If-Match": fixed["etag"]})
    assert r.status_code == 200 and r.json()["severity"] == "low"


@pytest.mark.parametrize("change,field", [
    ({"category": "weather"}, "category"), ({"channel": "pigeon"}, "channel"), ({"trip_phase": "later"}, "trip_phase"),
    ({"summary": ""}, "summary"), ({"customer_id": None}, "customer_id"),
])
async def test_bad_intake_is_a_problem_naming_the_field(backend: Backend, change: dict, field: str) -> None:
    svc = await backend.service("complaints")
    r = await svc.client.post("/v1/complaints", json=intake() | change)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]]


async def test_list_filters_and_cursor(backend: Backend) -> None:
    svc = await backend.service("complaints")
    for n in range(5):
        await file(svc.client, f"c-{n % 2}", severity="high" if n % 2 else "low")
    r = await svc.client.get("/v1/complaints", params={"limit": 2, "customer": "c-0"})
    page = r.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = (await svc.client.get("/v1/complaints", params={"limit": 2, "customer": "c-0",
                                                            "cursor": page["next_cursor"]})).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert {i["customer_id"] for i in page["items"] + rest["items"]} == {"c-0"}
    high = (await svc.client.get("/v1/complaints", params={"severity": "high"})).json()["items"]
    assert len(high) == 2
    assert (await svc.client.get("/v1/complaints", params={"cursor": "junk"})).status_code == 400
    assert (await svc.client.get("/v1/complaints", params={"category": "weather"})).status_code == 422


async def test_times_without_an_offset_are_read_as_utc(backend: Backend) -> None:
    svc = await backend.service("complaints")
    view = await file(svc.client, occurred_at="2026-11-20T03:00:00")
    assert view["occurred_at"] in ("2026-11-20T03:00:00Z", "2026-11-20T03:00:00+00:00")
    r = await svc.client.post("/v1/complaints", json=intake(occurred_at="yesterday"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "occurred_at"
