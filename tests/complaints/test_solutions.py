"""Solutions and compensation: approval limits by role, money as decimal with a currency, goodwill
points, Idempotency-Key, and what complaint-resolved carries."""

from __future__ import annotations

from tests.complaints.support import emitted, file, propose, walk
from tests.conftest import Backend


async def test_limits_by_role_and_what_resolution_carries(backend: Backend) -> None:
    svc = await backend.service("complaints")
    c = (await file(svc.client))["id"]
    await walk(svc.client, c, "investigating")
    async with svc.client_as("complaints:agent") as agent, svc.client_as("complaints:manage") as manager:
        r = await propose(agent, c, {"kind": "partial_refund", "amount": "800.00", "currency": "CNY"})
        assert r.status_code == 403, r.text
        problem = r.json()
        assert problem["required_scope"] == "complaints:manage" and "500.00 CNY" in problem["detail"]
        r = await propose(agent, c, {"kind": "goodwill_points", "points": 5000})
        assert r.status_code == 403
        r = await propose(agent, c, {"kind": "partial_refund", "amount": "300.50"})
        assert r.status_code == 201 and r.json()["amount"] == "300.50" and r.json()["currency"] == "CNY"
        r = await propose(manager, c, {"kind": "goodwill_points", "points": 5000})
        assert r.status_code == 201 and r.json()["approved_by"] == "test-complaints:manage"
        for step in ({"to": "solution_proposed"}, {"to": "customer_agreed"}, {"to": "executing"},
                     {"to": "resolved", "root_cause": "guide", "preventive_action": "guide retrained"}):
            r = await agent.post(f"/v1/complaints/{c}/transitions", json=step)
            assert r.status_code == 200, r.text
    view = r.json()
    assert view["compensation_points"] == 5000 and view["root_cause"] == "guide" and view["sla"]["met"] is True
    assert {s["status"] for s in view["solutions"]} == {"agreed"}
    [resolved] = await emitted(svc, "complaint-resolved")
    assert resolved["compensation_points"] == 5000 and resolved["root_cause"] == "guide" and resolved["sla_met"]
    assert sorted((x["kind"], x["amount"], x["points"]) for x in resolved["compensation"]) == [
        ("goodwill_points", None, 5000), ("partial_refund", "300.50", 0)]


async def test_bad_solutions_and_idempotency(backend: Backend) -> None:
    svc = await backend.service("complaints")
    c = (await file(svc.client))["id"]
    await walk(svc.client, c, "investigating")
    for body, field in (({"kind": "refund"}, "amount"), ({"kind": "goodwill_points"}, "points"),
                        ({"kind": "goodwill_points", "points": -5}, "points"),
                        ({"kind": "refund", "amount": "1.234"}, "amount"), ({"kind": "cash"}, "kind"),
                        ({"kind": "apology", "points": 3}, "points")):
        r = await propose(svc.client, c, body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert any(field in e["field"] for e in r.json()["errors"]), (body, r.json())
    r = await svc.client.post(f"/v1/complaints/{c}/solutions", json={"kind": "apology"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "Idempotency-Key"
    first = await propose(svc.client, c, {"kind": "voucher", "amount": "200.00"}, key="k-1")
    again = await propose(svc.client, c, {"kind": "voucher", "amount": "200.00"}, key="k-1")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    other = await propose(svc.client, c, {"kind": "voucher", "amount": "300.00"}, key="k-1")
    assert other.status_code == 422
    view = (await svc.client.get(f"/v1/complaints/{c}")).json()
    assert len(view["solutions"]) == 1
    assert (await propose(svc.client, "nope")).status_code == 404
