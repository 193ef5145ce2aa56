"""Crisis detection at the threshold and not below it; one notice per affected consented customer;
one manager decision for all linked complaints; crises opened by hand."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from shared.events import ConsentChanged
from tests.complaints.support import applied, completed, emitted, file, publish, walk
from tests.conftest import Backend


def consent(customer: str, status: str = "granted", channel: str = "sms", purpose: str = "service") -> ConsentChanged:
    return ConsentChanged(customer_id=customer, channel=channel, purpose=purpose, status=status,
                          changed_at=datetime.now(timezone.utc))


async def test_threshold_notices_and_one_decision(backend: Backend) -> None:
    svc = await backend.service("complaints")
    today = date.today()
    trip = {"start": today - timedelta(days=1), "end": today + timedelta(days=4)}
    await publish(
        backend,
        completed("t-1", "b-1", product="P-x", **trip), completed("t-2", "b-2", product="P-x", **trip),
        completed("t-3", "b-3", product="P-x", **trip), completed("t-4", "b-4", product="P-x", **trip),
        completed("t-old", "b-5", product="P-x", start=today - timedelta(days=30), end=today - timedelta(days=25)),
        completed("t-else", "b-6", product="P-y", **trip),
        consent("t-1"), consent("t-2", channel="app-push"), consent("t-3", "revoked"),
        consent("t-4", purpose="marketing"), consent("t-old"), consent("t-else"),
    )
    await applied(svc, 12)
    for n in range(4):
        await file(svc.client, f"k-{n}", product_id="P-x", destination=f"d-{n}", booking_id=None)
    assert await emitted(svc, "crisis-declared") == []  # below the threshold
    fifth = await file(svc.client, "k-4", product_id="P-x", destination="d-4", booking_id=None)
    [declared] = await emitted(svc, "crisis-declared")
    assert declared["scope"] == "product:P-x" and declared["complaints"] == 5
    notices = await emitted(svc, "crisis-notice")
    assert sorted((n["customer_id"], n["channel"]) for n in notices) == [("t-1", "sms"), ("t-2", "app-push")]
    sixth = await file(svc.client, "k-5", product_id="P-x", destination="d-5", booking_id=None)
    assert len(await emitted(svc, "crisis-declared")) == 1 and len(await emitted(svc, "crisis-notice")) == 2
    crisis_id = (await svc.client.get(f"/v1/complaints/{sixth['id']}")).json()["crisis_id"]
    assert crisis_id == declared["crisis_id"]
    crisis = (await svc.client.get(f"/v1/crises/{crisis_id}")).json()
    assert len(crisis["complaints"]) == 6 and crisis["notices"] == 2 and crisis["checklist"]

    await walk(svc.client, fifth["id"], "investigating")
    body = {"message": "全额退款并致歉", "compensation": {"kind": "refund", "amount": "3000.00"}}
    async with svc.client_as("complaints:agent") as agent:
        assert (await agent.post(f"/v1/crises/{crisis_id}/decision", json=body,
                                 headers={"Idempotency-Key": "d-1"})).status_code == 403
    r = await svc.client.post(f"/v1/crises/{crisis_id}/decision", json=body, headers={"Idempotency-Key": "d-1"})
    assert r.status_code == 200, r.text
    assert r.json()["decision"]["applied_to"] == 1
    again = await svc.client.post(f"/v1/crises/{crisis_id}/decision", json=body, headers={"Idempotency-Key": "d-1"})
    assert again.json() == r.json()
    assert (await svc.client.post(f"/v1/crises/{crisis_id}/decision", json=body,
                                  headers={"Idempotency-Key": "d-2"})).status_code == 409
    view = (await svc.client.get(f"/v1/complaints/{fifth['id']}")).json()
    assert [(s["kind"], s["amount"]) for s in view["solutions"]] == [("refund", "3000.00")]


async def test_a_manager_opens_a_crisis_by_hand(backend: Backend) -> None:
    svc = await backend.service("complaints")
    await publish(backend, completed("h-1", "b-h1", destination="九寨沟", start=date(2026, 8, 1), end=date(2026, 8, 5)),
                  completed("h-2", "b-h2", destination="九寨沟", start=date(2026, 9, 1), end=date(2026, 9, 5)),
                  consent("h-1"), consent("h-2"))
    await applied(svc, 4)
    body = {"kind": "natural_disaster", "scope_kind": "destination", "scope_value": "九寨沟",
            "affected_from": "2026-08-03", "affected_to": "2026-08-10", "message": "地震：我们正在联系您"}
    async with svc.client_as("complaints:agent") as agent:
        assert (await agent.post("/v1/crises", json=body)).status_code == 403
    r = await svc.client.post("/v1/crises", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["checklist"][0]["step"] == "confirm every traveller's safety"
    assert [(n["customer_id"], n["message"]) for n in await emitted(svc, "crisis-notice")] == [("h-1", "地震：我们正在联系您")]
    assert (await svc.client.post("/v1/crises", json=body)).status_code == 409
    assert (await svc.client.post("/v1/crises", json=body | {"kind": "meteor"})).status_code == 422
    assert len((await svc.client.get("/v1/crises")).json()) == 1
    assert (await svc.client.get(f"/v1/crises/{uuid.uuid4()}")).status_code == 404
    crisis = r.json()["id"]
    r = await svc.client.post(f"/v1/crises/{crisis}/checklist/1", json={"note": "全员安全"})
    assert r.status_code == 200 and r.json()["checklist"][0]["done"] is True
    assert (await svc.client.post(f"/v1/crises/{crisis}/checklist/99", json={})).status_code == 404
    assert (await svc.client.post(f"/v1/crises/{crisis}/close")).json()["status"] == "closed"
    assert (await svc.client.post(f"/v1/crises/{crisis}/close")).status_code == 409
    assert (await svc.client.post("/v1/crises", json=body)).status_code == 201  # a new one once closed
