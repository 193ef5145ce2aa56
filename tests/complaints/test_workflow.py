"""The state machine: every legal and every illegal transition, through the API, on both backends."""

from __future__ import annotations

import itertools

import pytest

from services.complaints import workflow
from tests.complaints.support import emitted, file, propose, walk
from tests.conftest import Backend

LEGAL = {
    ("received", "classified"), ("classified", "investigating"), ("investigating", "solution_proposed"),
    ("solution_proposed", "customer_agreed"), ("solution_proposed", "investigating"),
    ("customer_agreed", "executing"), ("executing", "resolved"), ("resolved", "follow_up"), ("follow_up", "closed"),
    ("resolved", "closed"), ("resolved", "investigating"), ("follow_up", "investigating"), ("closed", "investigating"),
}
STATES = workflow.STATES
EXTRAS = {"resolved": {"root_cause": "guide"}, "investigating": {"reason": "the customer declined / it came back"}}


@pytest.mark.parametrize("frm,to", list(itertools.product(STATES, STATES)))
def test_the_table(frm: str, to: str) -> None:
    assert (workflow.step(frm, to) is not None) == ((frm, to) in LEGAL)
    assert (to in workflow.allowed(frm)) == ((frm, to) in LEGAL)


async def test_every_transition_through_the_api(backend: Backend) -> None:
    svc = await backend.service("complaints")
    for frm in STATES:
        complaint = await file(svc.client, f"c-{frm}")
        view = await walk(svc.client, complaint["id"], frm)
        for to in STATES:
            if (frm, to) in LEGAL:
                continue
            r = await svc.client.post(f"/v1/complaints/{view['id']}/transitions", json={"to": to} | EXTRAS.get(to, {}))
            assert r.status_code == 409, (frm, to, r.text)
            problem = r.json()
            assert r.headers["content-type"].startswith("application/problem+json")
            assert problem["allowed"] == workflow.allowed(frm) and problem["state"] == frm, problem
            assert all(state in problem["detail"] for state in workflow.allowed(frm))
        for to in STATES:
            if (frm, to) not in LEGAL:
                continue
            fresh = await walk(svc.client, (await file(svc.client, f"c-{frm}-{to}"))["id"], frm)
            if to == "solution_proposed":
                assert (await propose(svc.client, fresh["id"])).status_code == 201
            r = await svc.client.post(f"/v1/complaints/{fresh['id']}/transitions",
                                      json={"to": to} | EXTRAS.get(to, {}))
            assert r.status_code == 200, (frm, to, r.text)
            after = r.json()
            assert after["state"] == to
            assert after["timeline"][-1]["from_state"] == frm and after["timeline"][-1]["to_state"] == to
    assert (await svc.client.post(f"/v1/complaints/{complaint['id']}/transitions",
                                  json={"to": "nowhere"})).status_code == 422


async def test_rules_of_the_steps(backend: Backend) -> None:
    svc = await backend.service("complaints")
    c = (await file(svc.client))["id"]
    path = f"/v1/complaints/{c}/transitions"
    await walk(svc.client, c, "investigating")
    r = await svc.client.post(path, json={"to": "solution_proposed"})
    assert r.status_code == 409 and "solution" in r.json()["detail"]  # nothing to offer yet
    await walk(svc.client, c, "solution_proposed")
    r = await svc.client.post(path, json={"to": "investigating"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"  # a decline says why
    await walk(svc.client, c, "executing")
    r = await svc.client.post(path, json={"to": "resolved"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "root_cause"
    r = await svc.client.post(path, json={"to": "resolved", "root_cause": "weather"})
    assert r.status_code == 422
    view = await walk(svc.client, c, "closed")
    r = await svc.client.post(path, json={"to": "investigating"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = await svc.client.post(path, json={"to": "investigating", "reason": "the refund never arrived"},
                              headers={"If-Match": view["etag"]})
    assert r.status_code == 200 and r.json()["reopen_count"] == 1
    r = await svc.client.post(path, json={"to": "solution_proposed"}, headers={"If-Match": view["etag"]})
    assert r.status_code == 412  # the ETag of before the reopen
    types = [e["complaint_id"] for e in await emitted(svc, "complaint-reopened")]
    assert types == [c]
    assert len(await emitted(svc, "complaint-resolved")) == 1 and len(await emitted(svc, "complaint-closed")) == 1


async def test_timeline_records_notes_and_contacts(backend: Backend) -> None:
    svc = await backend.service("complaints")
    c = await file(svc.client)
    r = await svc.client.post(f"/v1/complaints/{c['id']}/notes", json={"kind": "contact", "text": "called back",
                                                                        "channel": "phone", "author": "agent-li"})
    assert r.status_code == 201, r.text
    view = r.json()
    assert view["sla"]["first_response_at"] and view["sla"]["first_response_due"] is None
    entry = view["timeline"][-1]
    assert (entry["kind"], entry["actor"], entry["channel"], entry["text"]) == ("contact", "agent-li", "phone",
                                                                                "called back")
    r = await svc.client.post(f"/v1/complaints/{c['id']}/notes", json={"kind": "contact", "text": "no channel"})
    assert r.status_code == 422
    await propose(svc.client, c["id"])  # refused: not investigating yet
    r = await propose(svc.client, c["id"])
    assert r.status_code == 409 and r.json()["allowed_states"] == ["investigating", "solution_proposed"]
