"""The care work queue through the API and the bus: tasks from loyalty's points-expiring, tier-downgrade-warning and
win-back-offered events (once per occasion), festival greetings from the configuration, return visits; assign,
snooze, complete once with an outcome recorded as a contact (a second completion is a 409); care-task-due as before."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from services.profile import care
from shared.bus import Record
from shared.db import transaction
from shared.events import (
    LOYALTY, EventData, PointsExpiring, TierDowngradeWarning, WinBackOffered, new_event,
)
from tests.conftest import Backend, RunningService, eventually
from tests.profile.helpers import create, outbox_events

SHANGHAI = ZoneInfo("Asia/Shanghai")
PROBLEM = "application/problem+json"


async def publish(backend: Backend, *items: EventData) -> None:
    await backend.bus().publish([Record(LOYALTY, d.customer_id, new_event(d, source="tourcrm/loyalty",  # type: ignore[attr-defined]
                                                                          subject=d.customer_id).to_bytes())  # type: ignore[attr-defined]
                                 for d in items])


async def queue(profile: RunningService, **params: str) -> list[dict]:
    r = await profile.client.get("/v1/work-queue", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_tasks_from_loyalty_events_and_festivals_make_one_queue(backend: Backend) -> None:
    profile = await backend.service("profile")
    cid = (await create(profile, name="赵敏", consents=[
        {"channel": "sms", "purpose": "service", "status": "granted"},
        {"channel": "sms", "purpose": "marketing", "status": "granted"}]))["id"]
    expires = datetime.now(timezone.utc) + timedelta(days=14)
    expiring = PointsExpiring(customer_id=cid, points=800, expires_on=date(2027, 1, 31))
    await publish(backend, expiring, TierDowngradeWarning(
        customer_id=cid, current_tier="gold", next_tier="silver", review_on=date(2027, 1, 1),
        missing="2 more trips"), WinBackOffered(customer_id=cid, offer_id="OFFER-1", points=500, expires_at=expires))

    async def three() -> bool:
        return len(await queue(profile)) == 3
    await eventually(three)
    # the same fact under a new event id adds no task; the next review's warning (after it, same key) does
    await publish(backend, expiring, TierDowngradeWarning(
        customer_id=cid, current_tier="gold", next_tier="silver", review_on=date(2028, 1, 1), missing="1 trip"))

    async def four() -> bool:
        return len(await queue(profile)) == 4
    await eventually(four)
    tasks = {t["kind"]: t for t in await queue(profile) if t["occasion"] != "2028-01-01"}
    assert len(tasks) == 3
    assert set(tasks) == {"points-expiring", "tier-downgrade-warning", "win-back"}
    assert tasks["points-expiring"]["note"] == "800 points lapse on 2027-01-31"
    assert (tasks["win-back"]["offer_id"], datetime.fromisoformat(tasks["win-back"]["offer_expires_at"])) == (
        "OFFER-1", expires)

    # festival greetings from the configuration, for every active customer
    today = datetime.now(timezone.utc).astimezone(SHANGHAI).date()
    cfg = (await profile.client.get("/v1/config")).json()
    r = await profile.client.put("/v1/config", json=cfg | {"festivals": [
        {"name": "mid-autumn", "date": (today + timedelta(days=2)).isoformat()},
        {"name": "spring-festival", "date": (today + timedelta(days=60)).isoformat()}]})
    assert r.status_code == 200, r.text
    bad = await profile.client.put("/v1/config", json=cfg | {"festivals": [{"name": "中秋", "date": "2027-09-15"}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "festivals.0.name"
    async with transaction(profile.runtime.sessions) as session:
        await care.schedule_care(session, now=datetime.now(timezone.utc), tz=SHANGHAI)
    festive = await queue(profile, kind="festival-greeting")
    assert [(t["customer_id"], t["occasion"]) for t in festive] == [
        (cid, f"mid-autumn-{(today + timedelta(days=2)).isoformat()}")]
    assert len(await queue(profile, kind="points-expiring")) == 1

    # due messages go out as care-task-due through the consented channel, at noon Shanghai time
    noon = datetime.combine(today + timedelta(days=3), datetime.min.time(), SHANGHAI).replace(hour=12)
    async with transaction(profile.runtime.sessions) as session:
        counts = await care.emit_due_care(session, now=noon.astimezone(timezone.utc), tz=SHANGHAI)
    assert counts["emitted"] == 5
    kinds = sorted(e["data"]["kind"] for e in await outbox_events(profile, "care-task-due", cid))
    assert kinds == ["festival-greeting", "points-expiring", "tier-downgrade-warning", "tier-downgrade-warning",
                     "win-back"]


async def test_assign_snooze_and_complete_once(backend: Backend) -> None:
    profile = await backend.service("profile")
    cid = (await create(profile, name="周杰"))["id"]
    now = datetime.now(timezone.utc)
    planned = []
    for days in (1, 2):
        r = await profile.client.post("/v1/care-tasks", json={
            "customer_id": cid, "due_at": (now + timedelta(days=days)).isoformat(), "note": f"回访 {days}"})
        assert r.status_code == 201, r.text
        planned.append(r.json())
    first, second = planned
    assert [t["id"] for t in await queue(profile)] == [first["id"], second["id"]]  # earliest due first

    r = await profile.client.post(f"/v1/care-tasks/{first['id']}/assign", json={"assignee": "agent-li"})
    assert r.status_code == 200 and r.json()["assignee"] == "agent-li"
    assert [t["id"] for t in await queue(profile, assignee="agent-li")] == [first["id"]]

    until = now + timedelta(days=5)
    r = await profile.client.post(f"/v1/care-tasks/{second['id']}/snooze", json={"until": until.isoformat()})
    assert r.status_code == 200, r.text
    assert datetime.fromisoformat(r.json()["snoozed_until"]) == until
    soon = (now + timedelta(days=3)).isoformat()
    assert [t["id"] for t in await queue(profile, due_before=soon)] == [first["id"]]
    assert [t["id"] for t in await queue(profile, due_before=(now + timedelta(days=6)).isoformat())] == [
        first["id"], second["id"]]
    paged = await queue(profile, limit="1")
    assert [t["id"] for t in paged] == [first["id"]]

    body = {"outcome": "客户满意, 想明年再去", "channel": "phone", "summary": "回访桂林行程",
            "next_step": "发送明年的线路", "next_step_at": (now + timedelta(days=30)).isoformat()}
    r = await profile.client.post(f"/v1/care-tasks/{first['id']}/complete", json=body)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["task"]["status"] == "completed" and done["task"]["contact_id"] == done["contact"]["id"]
    contact = done["contact"]
    assert (contact["purpose"], contact["outcome"], contact["staff"], contact["care_task_id"]) == (
        "return-visit", "客户满意, 想明年再去", "agent-li", first["id"])
    again = await profile.client.post(f"/v1/care-tasks/{first['id']}/complete", json=body)
    assert again.status_code == 409 and again.headers["content-type"].startswith(PROBLEM)
    assert again.json()["contact_id"] == contact["id"]
    for action, payload in (("assign", {"assignee": "agent-wu"}), ("snooze", {"until": until.isoformat()})):
        assert (await profile.client.post(f"/v1/care-tasks/{first['id']}/{action}", json=payload)).status_code == 409

    history = (await profile.client.get(f"/v1/customers/{cid}/contacts")).json()["items"]
    assert [c["id"] for c in history] == [contact["id"]]  # one contact, however often it was completed
    open_ids = [t["id"] for t in await queue(profile)]
    assert first["id"] not in open_ids and second["id"] in open_ids
    follow_up = [t for t in await queue(profile, kind="return-visit") if t["id"] not in (first["id"], second["id"])]
    assert [(t["staff_note"], t["assignee"]) for t in follow_up] == [("发送明年的线路", "agent-li")]


async def test_bad_queue_requests_are_problems_naming_the_field(backend: Backend) -> None:
    profile = await backend.service("profile")
    cid = (await create(profile, name="吴磊"))["id"]
    now = datetime.now(timezone.utc)
    task = (await profile.client.post("/v1/care-tasks", json={"customer_id": cid,
                                                              "due_at": now.isoformat()})).json()
    cases = [
        ("post", f"/v1/care-tasks/{task['id']}/complete", {"channel": "phone"}, "outcome"),
        ("post", f"/v1/care-tasks/{task['id']}/complete", {"outcome": "ok", "channel": "pigeon"}, "channel"),
        ("post", f"/v1/care-tasks/{task['id']}/complete", {"outcome": "ok", "channel": "phone",
                                                            "lapse_reason": "weather"}, "lapse_reason"),
        ("post", f"/v1/care-tasks/{task['id']}/snooze", {"until": (now - timedelta(hours=1)).isoformat()}, "until"),
        ("post", f"/v1/care-tasks/{task['id']}/assign", {"assignee": ""}, "assignee"),
        ("post", "/v1/care-tasks", {"customer_id": cid, "due_at": "tomorrow"}, "due_at"),
        ("get", "/v1/work-queue", {"kind": "party"}, "kind"),
        ("get", "/v1/work-queue", {"due_before": "soon"}, "due_before"),
    ]
    for method, path, body, field in cases:
        r = await (profile.client.get(path, params=body) if method == "get" else profile.client.post(path, json=body))
        assert r.status_code == 422, (field, r.text)
        assert r.headers["content-type"].startswith(PROBLEM) and r.json()["errors"][0]["field"] == field, r.json()
    assert (await profile.client.post("/v1/care-tasks/none/complete", json={"outcome": "ok", "channel": "phone"})
            ).status_code == 404
    assert (await profile.client.post("/v1/care-tasks", json={"customer_id": "nobody", "due_at": now.isoformat()})
            ).status_code == 404
    async with profile.client_as("customer", customer=cid) as app_backend:
        assert (await app_backend.get("/v1/work-queue")).status_code == 403
        assert (await app_backend.post(f"/v1/care-tasks/{task['id']}/complete",
                                       json={"outcome": "ok", "channel": "app"})).status_code == 403
    assert (await profile.client.get(f"/v1/care-tasks/{task['id']}")).json()["status"] == "scheduled"
