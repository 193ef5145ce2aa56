"""Object-level authorisation of customer-facing keys; export, erase and merge; no personal data in logs."""

from __future__ import annotations

import logging

from shared.events import CustomerErased, CustomersMerged
from tests.complaints.support import applied, emitted, file, propose, publish, walk
from tests.complaints.test_crises import consent
from tests.conftest import Backend, capture_logs


async def test_a_customer_facing_key_reaches_only_its_customer(backend: Backend) -> None:
    svc = await backend.service("complaints")
    mine = await file(svc.client, "c-me")
    theirs = await file(svc.client, "c-other")
    async with svc.client_as("customer", customer="c-me") as app, svc.client_as("customer") as anonymous:
        assert (await anonymous.get("/v1/complaints")).status_code == 400  # must name the signed-in customer
        r = await app.post("/v1/complaints", json={"channel": "mobile_app", "trip_phase": "during",
                                                   "summary": "the bus never came"})
        assert r.status_code == 201 and r.json()["customer_id"] == "c-me"
        r = await app.post("/v1/complaints", json={"customer_id": "c-other", "channel": "mobile_app",
                                                   "trip_phase": "during", "summary": "on someone's behalf"})
        assert r.status_code == 422
        listed = (await app.get("/v1/complaints", params={"customer": "c-other"})).json()["items"]
        assert {c["customer_id"] for c in listed} == {"c-me"} and len(listed) == 2
        assert (await app.get(f"/v1/complaints/{mine['id']}")).status_code == 200
        other = f"/v1/complaints/{theirs['id']}"
        assert (await app.get(other)).status_code == 404
        assert (await app.post(f"{other}/notes", json={"text": "hello"})).status_code == 404
        assert (await app.post(f"{other}/transitions", json={"to": "classified"})).status_code == 404
        assert (await app.patch(other, json={"severity": "low"}, headers={"If-Match": "*"})).status_code == 403
        # on its own complaint: notes yes, staff steps no, agreeing to the offer yes
        assert (await app.post(f"/v1/complaints/{mine['id']}/notes", json={"text": "photos attached"})).status_code == 201
        r = await app.post(f"/v1/complaints/{mine['id']}/transitions", json={"to": "classified"})
        assert r.status_code == 403 and r.json()["allowed"] == []
        await walk(svc.client, mine["id"], "solution_proposed")
        r = await app.post(f"/v1/complaints/{mine['id']}/transitions", json={"to": "customer_agreed"})
        assert r.status_code == 200, r.text
        assert (await app.get("/v1/complaints/stats")).status_code == 403
        r = await app.post(f"/v1/complaints/{mine['id']}/solutions", json={"kind": "apology"},
                           headers={"Idempotency-Key": "k"})
        assert r.status_code == 403
    async with svc.client_as("complaints:read") as reader:
        assert (await reader.get(f"/v1/complaints/{theirs['id']}")).status_code == 200
        assert len((await reader.get("/v1/complaints")).json()["items"]) == 3
        assert (await reader.post("/v1/complaints", json={"customer_id": "c", "channel": "phone",
                                                          "trip_phase": "after", "summary": "s"})).status_code == 403
        assert (await reader.post(f"/v1/complaints/{theirs['id']}/transitions",
                                  json={"to": "classified"})).status_code == 403
    async with svc.client_as("none") as nobody, svc.client_as(None) as anonymous:
        assert (await nobody.get("/v1/complaints")).status_code == 403
        assert (await anonymous.get("/v1/complaints")).status_code == 401


async def test_export_erase_and_merge(backend: Backend) -> None:
    svc = await backend.service("complaints")
    c = await file(svc.client, "c-erase", summary="张三的护照丢了", description="电话 13800000000")
    await svc.client.post(f"/v1/complaints/{c['id']}/notes", json={"text": "张三 asked for a call"})
    await walk(svc.client, c["id"], "investigating")
    await propose(svc.client, c["id"], {"kind": "apology", "description": "给张三的道歉信"})
    export = (await svc.client.get("/v1/privacy/customers/c-erase")).json()
    assert [x["summary"] for x in export["sections"]["complaint"]] == ["张三的护照丢了"]
    assert len(export["sections"]["complaint_timeline"]) == 5
    await publish(backend, CustomerErased(customer_id="c-erase", request_id="req-1"))
    await applied(svc, 1)
    view = (await svc.client.get(f"/v1/complaints/{c['id']}")).json()
    assert view["customer_id"].startswith("erased-") and view["summary"] == view["description"] == "[erased]"
    assert all(t["text"] == "[erased]" for t in view["timeline"])
    assert [s["description"] for s in view["solutions"]] == ["[erased]"]
    assert (await svc.client.get("/v1/privacy/customers/c-erase")).json()["sections"]["complaint"] == []
    [done] = await emitted(svc, "customer-data-erased")
    assert done["service"] == "complaints" and done["request_id"] == "req-1"

    a, b = await file(svc.client, "c-old"), await file(svc.client, "c-new")
    # consents per channel are unique per customer: the survivor's stays, the merged one's goes
    await publish(backend, consent("c-old", channel="sms"), consent("c-new", channel="sms"), consent("c-old", channel="email"),
                  consent("c-older", channel="email"))
    await applied(svc, 5)
    await publish(backend, CustomersMerged(customer_id="c-new", merged_ids=["c-old", "c-older"]))
    await applied(svc, 6)
    assert await svc.runtime.consumer.dead_letters() == []
    sections = (await svc.client.get("/v1/privacy/customers/c-new")).json()["sections"]
    assert sorted(c["channel"] for c in sections["complaint_consent"]) == ["email", "sms"]
    items = (await svc.client.get("/v1/complaints", params={"customer": "c-new"})).json()["items"]
    assert {i["id"] for i in items} == {a["id"], b["id"]}


async def test_no_personal_data_in_logs(backend: Backend) -> None:
    svc = await backend.service("complaints")
    logging.getLogger().setLevel(logging.INFO)
    with capture_logs() as logs:
        c = await file(svc.client, "c-log", summary="李四 13912345678 投诉", description="li.si@example.com")
        await walk(svc.client, c["id"], "resolved")
        await publish(backend, CustomerErased(customer_id="c-log", request_id="req-2"))
        await applied(svc, 1)
        await svc.client.post("/v1/complaints", json={"customer_id": "c-log", "channel": "x", "trip_phase": "after",
                                                      "summary": "王五 bad input"})
    text = logs.getvalue()
    for secret in ("李四", "13912345678", "li.si@example.com", "王五"):
        assert secret not in text
