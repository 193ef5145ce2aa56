"""Analytics: counts, time to first response and resolution, SLA compliance, reopen rate, root causes,
recovered customers."""

from __future__ import annotations

from services.complaints.stats import p90
from tests.complaints.support import applied, completed, file, publish, walk
from tests.conftest import Backend


def test_p90_nearest_rank() -> None:
    assert p90([]) is None
    assert p90([5.0]) == 5.0
    assert p90([float(n) for n in range(1, 11)]) == 9.0


async def test_stats(backend: Backend) -> None:
    svc = await backend.service("complaints")
    a = await file(svc.client, "s-1", channel="email", severity="high", category="price", supplier="酒店A")
    b = await file(svc.client, "s-2", channel="phone", severity="low", category="price", product_id="P-2")
    await file(svc.client, "s-3", channel="phone", severity="low", category="communication")
    await walk(svc.client, a["id"], "resolved")
    view = await walk(svc.client, b["id"], "closed")
    r = await svc.client.post(f"/v1/complaints/{b['id']}/transitions",
                              json={"to": "investigating", "reason": "again"})
    assert r.status_code == 200
    await publish(backend, completed("s-1", "b-again"))  # booked again after the resolution
    await applied(svc, 1)
    stats = (await svc.client.get("/v1/complaints/stats", params={"period": "day"})).json()
    assert stats["total"] == 3 and stats["open"] == 2
    assert stats["by_category"] == {"price": 2, "communication": 1}
    assert stats["by_channel"] == {"phone": 2, "email": 1} and stats["by_severity"] == {"low": 2, "high": 1}
    assert stats["by_product"] == {"P-guilin": 2, "P-2": 1} and stats["by_supplier"]["酒店A"] == 1
    assert sum(stats["by_period"].values()) == 3
    assert stats["time_to_first_response"]["count"] == 2  # the third has had no response yet
    assert stats["time_to_resolution"]["count"] == 1 and stats["time_to_resolution"]["p90_hours"] is not None
    assert stats["sla_compliance_percent"] == 100.0
    assert stats["reopen_rate_percent"] == 50.0
    assert stats["by_root_cause"] == {"supplier": 2}
    assert stats["root_causes_by"]["product"] == {"P-guilin": {"supplier": 1}, "P-2": {"supplier": 1}}
    assert stats["root_causes_by"]["supplier"] == {"酒店A": {"supplier": 1}, "unknown": {"supplier": 1}}
    assert stats["root_causes_by"]["destination"] == {"桂林": {"supplier": 2}}
    assert stats["recovered_percent"] == 100.0
    assert view["state"] == "closed"
    assert (await svc.client.get("/v1/complaints/stats", params={"period": "year"})).status_code == 422
    assert (await svc.client.get("/v1/complaints/stats", params={"since": "2999-01-01"})).json()["total"] == 0
