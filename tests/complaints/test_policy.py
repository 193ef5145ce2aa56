"""The complaints policy: a manager changes it; open complaints' targets are recomputed from their start
keeping their pauses; the crisis threshold and the agent limits follow it; a bad policy is a 422."""

from __future__ import annotations

from datetime import datetime

from tests.complaints.support import emitted, file, propose, walk
from tests.conftest import Backend


async def test_a_policy_change_recomputes_open_complaints(backend: Backend) -> None:
    svc = await backend.service("complaints")
    current = (await svc.client.get("/v1/complaints/policy")).json()
    assert current["version"] == 0 and current["config"]["crisis_threshold"] == 5
    c = await file(svc.client, severity="high", trip_phase="during")
    done = await walk(svc.client, (await file(svc.client, "c-2", severity="high", trip_phase="during"))["id"], "resolved")
    await walk(svc.client, c["id"], "investigating")
    await svc.client.post(f"/v1/complaints/{c['id']}/sla/pause", json={"reason": "waiting_customer"})
    await svc.client.post(f"/v1/complaints/{c['id']}/sla/resume")
    before = (await svc.client.get(f"/v1/complaints/{c['id']}")).json()["sla"]["resolution_due"]

    config = current["config"]
    config["targets"]["high/during"]["resolution_minutes"] = 60
    config["crisis_threshold"] = 2
    config["agent_points_limit"] = 100
    async with svc.client_as("complaints:agent") as agent:
        assert (await agent.put("/v1/complaints/policy", json=config)).status_code == 403
    r = await svc.client.put("/v1/complaints/policy", json=config)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1 and r.json()["recomputed"] == 1
    after = (await svc.client.get(f"/v1/complaints/{c['id']}")).json()
    filed = datetime.fromisoformat(after["filed_at"])
    due = datetime.fromisoformat(after["sla"]["resolution_due"])
    assert due < datetime.fromisoformat(before)
    assert 3600 <= (due - filed).total_seconds() < 3660  # an hour from the start, plus the moment paused
    unchanged = (await svc.client.get(f"/v1/complaints/{done['id']}")).json()
    assert unchanged["sla"]["resolution_due"] == done["sla"]["resolution_due"]  # resolved: not recomputed

    async with svc.client_as("complaints:agent") as agent:
        assert (await propose(agent, c["id"], {"kind": "goodwill_points", "points": 150})).status_code == 403
    await file(svc.client, "c-3", product_id="P-new", destination="d-3")
    await file(svc.client, "c-4", product_id="P-new", destination="d-4")
    assert [d["scope"] for d in await emitted(svc, "crisis-declared")] == ["product:P-new"]


async def test_a_bad_policy_is_refused(backend: Backend) -> None:
    svc = await backend.service("complaints")
    config = (await svc.client.get("/v1/complaints/policy")).json()["config"]
    del config["targets"]["low/after"]
    r = await svc.client.put("/v1/complaints/policy", json=config)
    assert r.status_code == 422 and "low/after" in r.text
    config = (await svc.client.get("/v1/complaints/policy")).json()["config"]
    r = await svc.client.put("/v1/complaints/policy", json=config | {"hours_start": "19:00"})
    assert r.status_code == 422
    assert (await svc.client.get("/v1/complaints/policy")).json()["version"] == 0
