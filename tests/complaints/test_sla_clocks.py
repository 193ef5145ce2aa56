"""SLA clocks in the service, driven by a controllable clock: warning, breach and escalation to the
team lead and the manager fire once each, across a weekend and a holiday, and survive a restart;
pauses stop the clocks; the gauges show open complaints and breaches."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.complaints import intake
from services.complaints.app import SPEC
from services.complaints.jobs import run_sla
from services.complaints.schemas import ComplaintCreate
from shared.app import Runtime
from shared.db import transaction
from tests.complaints.support import emitted, emitted_in, file, walk
from tests.conftest import Backend

SH = ZoneInfo("Asia/Shanghai")
THURSDAY_5PM = datetime(2026, 9, 24, 17, 0, tzinfo=SH)  # Friday 25 is the Mid-Autumn holiday
MONDAY_10AM = datetime(2026, 9, 28, 10, 0, tzinfo=SH)


async def start(backend: Backend, url: str) -> Runtime:
    runtime = Runtime(SPEC, backend.settings(url).model_copy(update={"service": "complaints"}), bus=backend.bus())
    await runtime.start()
    backend.runtimes.append(runtime)
    return runtime


async def escalations(runtime) -> list[tuple[int, str, str]]:  # noqa: ANN001
    return [(e["level"], e["escalated_to"], e["clock"]) for e in await emitted_in(runtime, "complaint-escalated")]


async def test_alarms_fire_once_each_across_a_holiday_weekend_and_a_restart(backend: Backend) -> None:
    url = await backend.database("sla")
    first = await start(backend, url)
    body = ComplaintCreate(channel="email", trip_phase="after", summary="refund not paid", severity="high",
                           product_id="P-1")
    async with transaction(first.sessions) as session:
        complaint = await intake.file(session, body, customer_id="c-1", actor="test", now=THURSDAY_5PM)
    assert complaint.first_response_due == MONDAY_10AM  # two business hours: Thursday 17-18, Monday 9-10
    assert await run_sla(first, datetime(2026, 9, 25, 12, 0, tzinfo=SH)) == {}  # the holiday: nothing due
    assert await run_sla(first, MONDAY_10AM - timedelta(minutes=10)) == {"alarms": 1}  # the warning
    assert await run_sla(first, MONDAY_10AM - timedelta(minutes=5)) == {}
    await first.stop()
    backend.runtimes.remove(first)

    second = await start(backend, url)  # a restart: the state is in the database
    assert await run_sla(second, MONDAY_10AM - timedelta(minutes=5)) == {}
    assert await run_sla(second, MONDAY_10AM) == {"alarms": 1}
    assert await escalations(second) == [(1, "team_lead", "first_response")]
    assert await run_sla(second, MONDAY_10AM + timedelta(minutes=20)) == {}
    assert await run_sla(second, MONDAY_10AM + timedelta(minutes=60)) == {"alarms": 1}
    assert await run_sla(second, MONDAY_10AM + timedelta(minutes=61)) == {}
    assert await escalations(second) == [(1, "team_lead", "first_response"), (2, "manager", "first_response")]


async def test_pause_stops_the_clocks_and_resume_moves_the_targets(backend: Backend) -> None:
    svc = await backend.service("complaints")
    c = await file(svc.client, severity="high", trip_phase="during")
    await walk(svc.client, c["id"], "investigating")
    before = (await svc.client.get(f"/v1/complaints/{c['id']}")).json()["sla"]
    r = await svc.client.post(f"/v1/complaints/{c['id']}/sla/pause", json={"reason": "waiting_supplier"})
    assert r.status_code == 200, r.text
    assert r.json()["sla"]["paused"] and r.json()["sla"]["resolution_due"] is None
    assert (await svc.client.post(f"/v1/complaints/{c['id']}/sla/pause",
                                  json={"reason": "waiting_customer"})).status_code == 409
    assert await run_sla(svc.runtime, datetime.now(SH) + timedelta(days=30)) == {}  # a paused clock never fires
    r = await svc.client.post(f"/v1/complaints/{c['id']}/sla/resume")
    after = r.json()["sla"]
    assert not after["paused"] and after["resolution_due"] >= before["resolution_due"]
    assert (await svc.client.post(f"/v1/complaints/{c['id']}/sla/resume")).status_code == 409
    assert (await svc.client.post(f"/v1/complaints/{c['id']}/sla/pause",
                                  json={"reason": "lunch"})).status_code == 422
    kinds = [t["text"] for t in r.json()["timeline"] if t["kind"] == "sla"]
    assert kinds == ["clocks paused: waiting_supplier", "clocks resumed"]


async def test_breach_marks_resolution_and_gauges(backend: Backend) -> None:
    svc = await backend.service("complaints")
    c = await file(svc.client, severity="critical", trip_phase="during")
    low = await file(svc.client, "c-2", severity="low")
    late = datetime.now(SH) + timedelta(hours=3)
    assert (await run_sla(svc.runtime, late))["alarms"] >= 4  # both clocks: warning and breach
    metrics = (await svc.client.get("/metrics")).text
    assert 'tourcrm_complaints_open{severity="critical"} 1.0' in metrics
    assert 'tourcrm_complaints_sla_breached{clock="resolution"} 1.0' in metrics
    view = await walk(svc.client, c["id"], "resolved")
    assert view["sla"]["met"] is False and view["sla"]["escalation_level"] >= 1
    [resolved] = await emitted(svc, "complaint-resolved")
    assert resolved["sla_met"] is False
    assert "tourcrm_complaints_sla_compliance_ratio NaN" in metrics  # nothing resolved yet
    on_time = await walk(svc.client, low["id"], "resolved")
    assert on_time["sla"]["met"] is True
    await run_sla(svc.runtime, datetime.now(SH))
    metrics = (await svc.client.get("/metrics")).text
    assert "tourcrm_complaints_sla_compliance_ratio 0.5" in metrics  # one of the two resolved met its target
    await run_sla(svc.runtime, datetime.now(SH) + timedelta(days=31))
    metrics = (await svc.client.get("/metrics")).text
    assert "tourcrm_complaints_sla_compliance_ratio NaN" in metrics  # both resolved more than 30 days ago


async def test_the_round_walks_every_running_clock(backend: Backend, monkeypatch) -> None:  # noqa: ANN001
    from services.complaints import clocks
    svc = await backend.service("complaints")
    for n in range(5):
        await file(svc.client, f"c-{n}", severity="critical", trip_phase="during")
    monkeypatch.setattr(clocks, "CHUNK", 2)
    assert await run_sla(svc.runtime, datetime.now(SH) + timedelta(minutes=14)) == {"alarms": 5}  # 5 warnings
    assert len(await emitted(svc, "complaint-escalated")) == 0


async def test_a_reopened_complaint_gets_a_fresh_resolution_clock_whose_alarms_fire_again(backend: Backend) -> None:
    """Reopened long after its first target passed, a complaint is not breached at once: its resolution clock
    starts again at the reopening, and warns, breaches and escalates once more when that one runs out."""
    from datetime import timezone

    from services.complaints import handling
    from services.complaints.models import Complaint
    from services.complaints.schemas import TransitionIn

    svc = await backend.service("complaints")
    filed = await file(svc.client, "c-reopen", severity="medium", trip_phase="after")
    await walk(svc.client, filed["id"], "resolved")
    later = datetime.now(timezone.utc) + timedelta(days=60)  # long after the first resolution target
    async with transaction(svc.runtime.sessions) as session:
        complaint = await session.get(Complaint, filed["id"])
        await handling.transition(session, complaint, TransitionIn(to="investigating", reason="still unhappy"),
                                  actor="agent", now=later)
    async with svc.runtime.read_sessions() as session:
        due = (await session.get(Complaint, filed["id"])).resolution_due
    assert due > later + timedelta(hours=1)
    assert await run_sla(svc.runtime, later + timedelta(minutes=1)) == {}  # not breached on reopening
    before = [e for e in await escalations(svc.runtime) if e[2] == "resolution"]
    assert await run_sla(svc.runtime, due) == {"alarms": 2}  # the warning, then the breach, of the new clock
    after = [e for e in await escalations(svc.runtime) if e[2] == "resolution"]
    assert after == [*before, (1, "team_lead", "resolution")]
    assert await run_sla(svc.runtime, due + timedelta(minutes=1)) == {}  # once


async def test_staff_escalate_an_open_complaint_once_per_level_without_the_reason_on_the_bus(backend: Backend) -> None:
    svc = await backend.service("complaints")
    c = await file(svc.client, severity="medium")
    url = f"/v1/complaints/{c['id']}/escalations"
    r = await svc.client.post(url, json={"to": "team_lead", "reason": "VIP traveller, asked for a call back"})
    assert r.status_code == 200, r.text
    assert r.json()["sla"]["escalation_level"] == 1 and r.headers["ETag"] != c["etag"]
    assert r.json()["timeline"][-1]["text"] == "escalated to the team_lead: VIP traveller, asked for a call back"
    again = await svc.client.post(url, json={"to": "team_lead", "reason": "again"})
    assert again.status_code == 409 and "team_lead" in again.json()["detail"]
    assert (await svc.client.post(url, json={"to": "manager", "reason": "no answer"})).json()["sla"][
        "escalation_level"] == 2
    bad = await svc.client.post(url, json={"to": "ceo", "reason": "x"})
    assert bad.status_code == 422 and "to" in bad.text
    sent = await emitted_in(svc.runtime, "complaint-escalated")
    assert [(e["level"], e["escalated_to"], e["clock"], e["reason"]) for e in sent] == [
        (1, "team_lead", None, "raised by staff"), (2, "manager", None, "raised by staff")]
    await walk(svc.client, c["id"], "resolved")
    late = await svc.client.post(url, json={"to": "manager", "reason": "x"})
    assert late.status_code == 409


async def test_an_escalation_needs_staff(backend: Backend) -> None:
    svc = await backend.service("complaints")
    c = await file(svc.client)
    async with svc.client_as("customer", customer="c-1") as app, svc.client_as("complaints:read") as reader:
        for client in (app, reader):
            r = await client.post(f"/v1/complaints/{c['id']}/escalations", json={"to": "manager", "reason": "angry"})
            assert r.status_code == 403, r.text
