"""Contact history (客户接触记录, 回访) and leads, through the API and the bus: record, page, the 360 view's latest
contacts and next step, return visits from a dated next step, leads won by the customer's next booking or lost by
staff; export and erase cover them; bad input is a problem naming the field; customer-facing keys are refused."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.conftest import Backend, eventually
from tests.profile.helpers import booking, create, post_booking, wait_bookings

PROBLEM = "application/problem+json"


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def test_contact_history_paged_and_in_the_360_view(backend: Backend) -> None:
    profile = await backend.service("profile")
    cid = (await create(profile, name="王芳"))["id"]
    now = datetime.now(timezone.utc)
    times = [now - timedelta(days=d) for d in (9, 7, 5, 3)]
    for n, at in enumerate(times):
        r = await profile.client.post(f"/v1/customers/{cid}/contacts", json={
            "channel": ["phone", "wechat", "email", "visit"][n], "direction": "outbound", "purpose": "care",
            "summary": f"第{n}次联系", "outcome": "reached", "staff": "agent-zhao", "occurred_at": iso(at)})
        assert r.status_code == 201, r.text
        assert r.json()["lead"] is None and r.json()["return_visit"] is None
    # an inbound call today, with a dated next step: a return visit for the same staff member
    due = now + timedelta(days=2)
    r = await profile.client.post(f"/v1/customers/{cid}/contacts", json={
        "channel": "phone", "direction": "inbound", "purpose": "complaint", "outcome": "apologised",
        "next_step": "回访确认退款", "next_step_at": iso(due)})
    assert r.status_code == 201, r.text
    latest = r.json()
    assert latest["staff"] == latest["recorded_by"]  # default: the calling key's client
    visit = latest["return_visit"]
    assert (visit["kind"], visit["assignee"], visit["staff_note"]) == ("return-visit", latest["staff"], "回访确认退款")
    assert datetime.fromisoformat(visit["due_at"]) == due

    seen, cursor = [], None
    while True:
        page = (await profile.client.get(f"/v1/customers/{cid}/contacts",
                                         params={"limit": 2, **({"cursor": cursor} if cursor else {})})).json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert [c["id"] for c in seen][0] == latest["id"]  # newest first
    assert [datetime.fromisoformat(c["occurred_at"]) for c in seen[1:]] == list(reversed(times))
    assert [c["channel"] for c in seen[1:]] == ["visit", "email", "wechat", "phone"]

    view = (await profile.client.get(f"/v1/customers/{cid}/overview")).json()["contacts"]
    assert view["total"] == 5
    assert [c["id"] for c in view["latest"]] == [c["id"] for c in seen[:5]]
    assert view["next_step"] == "回访确认退款" and datetime.fromisoformat(view["next_step_at"]) == due
    queue = (await profile.client.get("/v1/work-queue", params={"kind": "return-visit"})).json()["items"]
    assert [t["id"] for t in queue] == [visit["id"]]

    # staff only: a customer-facing key is refused, even for the signed-in customer's own history
    async with profile.client_as("customer", customer=cid) as app_backend:
        r = await app_backend.get(f"/v1/customers/{cid}/contacts")
        assert r.status_code == 403
        r = await app_backend.post(f"/v1/customers/{cid}/contacts", json={
            "channel": "app", "direction": "inbound", "purpose": "inquiry"})
        assert r.status_code == 403


async def test_bad_contacts_are_problems_naming_the_field(backend: Backend) -> None:
    profile = await backend.service("profile")
    cid = (await create(profile, name="李雷"))["id"]
    good = {"channel": "phone", "direction": "inbound", "purpose": "inquiry"}
    later = datetime.now(timezone.utc) + timedelta(days=1)
    cases = [
        ({**good, "channel": "fax"}, "channel"),
        ({**good, "direction": "sideways"}, "direction"),
        ({**good, "purpose": "booking", "lead": {"interest": "三亚", "source": "website"}}, "lead"),
        ({**good, "next_step_at": iso(later)}, "next_step_at"),
        ({**good, "outcome": "x" * 501}, "outcome"),
        ({**good, "lead": {"interest": "三亚", "source": "Not A Source!"}}, "lead.source"),
        ({**good, "occurred_at": iso(later)}, "occurred_at"),
        ({**good, "occurred_at": 1700000000}, "occurred_at"),
    ]
    for body, field in cases:
        r = await profile.client.post(f"/v1/customers/{cid}/contacts", json=body)
        assert r.status_code == 422, (field, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)
        assert r.json()["errors"][0]["field"] == field, r.json()
    r = await profile.client.post("/v1/customers/nobody/contacts", json=good)
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    r = await profile.client.get("/v1/leads", params={"status": "maybe"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "status"
    r = await profile.client.post("/v1/leads/none/lose", json={"reason": "x"})
    assert r.status_code == 404
    assert (await profile.client.get(f"/v1/customers/{cid}/contacts")).json()["items"] == []


async def test_leads_are_won_by_the_next_booking_or_lost_by_staff(backend: Backend) -> None:
    profile = await backend.service("profile")
    keen, early = (await create(profile, name="张伟"))["id"], (await create(profile, name="刘洋"))["id"]
    # `early` booked before their inquiry: that booking does not win the lead
    await post_booking(profile, booking("B-EARLY", early, completed_at=datetime.now(timezone.utc) - timedelta(days=2)))
    await wait_bookings(profile, 1)
    leads = {}
    asked = datetime.now(timezone.utc) - timedelta(hours=1)  # the inquiry, an hour ago (after `early` booked)
    for cid, source in ((keen, "website"), (early, "walk-in")):
        r = await profile.client.post(f"/v1/customers/{cid}/contacts", json={
            "channel": "phone", "direction": "inbound", "purpose": "inquiry", "summary": "问九寨沟十月的家庭团",
            "occurred_at": iso(asked),
            "outcome": "sent a quote", "lead": {"interest": "九寨沟家庭团", "destination": "九寨沟",
                                                "product_id": "P-JIUZHAI", "source": source}})
        assert r.status_code == 201, r.text
        lead = r.json()["lead"]
        assert (lead["status"], lead["source"], lead["contact_id"]) == ("open", source, r.json()["id"])
        leads[cid] = lead["id"]
    r = await profile.client.get("/v1/leads", params={"status": "open"})
    assert {lead["id"] for lead in r.json()["items"]} == set(leads.values())

    # booking-completed on the bus wins the keen customer's lead, with that booking
    await post_booking(profile, booking("B-WON", keen, product="P-JIUZHAI",
                                        completed_at=datetime.now(timezone.utc) - timedelta(seconds=1)))

    async def won() -> bool:
        return (await profile.client.get(f"/v1/leads/{leads[keen]}")).json()["status"] == "won"
    await eventually(won)
    assert (await profile.client.get(f"/v1/leads/{leads[keen]}")).json()["booking_id"] == "B-WON"
    assert (await profile.client.get(f"/v1/leads/{leads[early]}")).json()["status"] == "open"

    r = await profile.client.post(f"/v1/leads/{leads[early]}/lose", json={"reason": "价格太高, 选了别家"})
    assert r.status_code == 200 and (r.json()["status"], r.json()["lost_reason"]) == ("lost", "价格太高, 选了别家")
    again = await profile.client.post(f"/v1/leads/{leads[early]}/lose", json={"reason": "again"})
    assert again.status_code == 409 and again.headers["content-type"].startswith(PROBLEM)
    assert (await profile.client.post(f"/v1/leads/{leads[keen]}/lose", json={"reason": "x"})).status_code == 409
    bad = await profile.client.post(f"/v1/leads/{leads[keen]}/lose", json={"reason": ""})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "reason"

    assert [lead["id"] for lead in (await profile.client.get("/v1/leads", params={"status": "won"})).json()["items"]] == [
        leads[keen]]
    by_source = (await profile.client.get("/v1/leads", params={"source": "walk-in"})).json()["items"]
    assert [(lead["id"], lead["status"]) for lead in by_source] == [(leads[early], "lost")]
    mine = (await profile.client.get("/v1/leads", params={"customer_id": keen})).json()["items"]
    assert [lead["id"] for lead in mine] == [leads[keen]]


async def test_export_holds_contact_history_and_erase_removes_it(backend: Backend) -> None:
    profile = await backend.service("profile", privacy_services=["profile"])
    cid = (await create(profile, name="陈静"))["id"]
    r = await profile.client.post(f"/v1/customers/{cid}/contacts", json={
        "channel": "wechat", "direction": "inbound", "purpose": "inquiry", "summary": "想去成都吃火锅",
        "lead": {"interest": "成都美食", "source": "wechat"}})
    assert r.status_code == 201, r.text
    task = (await profile.client.post("/v1/care-tasks", json={
        "customer_id": cid, "due_at": iso(datetime.now(timezone.utc) + timedelta(days=1)),
        "note": "问问她去不去成都"})).json()
    assert (await profile.client.put(f"/v1/customers/{cid}/lapse-reason", json={
        "cause": "involuntary", "note": "搬去国外了"})).status_code == 200

    part = (await profile.client.get(f"/v1/privacy/customers/{cid}")).json()
    assert [c["summary"] for c in part["contacts"]] == ["想去成都吃火锅"]
    assert [lead["interest"] for lead in part["leads"]] == ["成都美食"]
    assert part["lapse_reason"]["note"] == "搬去国外了"
    assert [t["staff_note"] for t in part["care_tasks"] if t["id"] == task["id"]] == ["问问她去不去成都"]
    whole = (await profile.client.get(f"/v1/customers/{cid}/export")).json()
    assert whole["services"]["profile"]["contacts"][0]["summary"] == "想去成都吃火锅"

    assert (await profile.client.delete(f"/v1/customers/{cid}")).status_code == 202
    part = (await profile.client.get(f"/v1/privacy/customers/{cid}")).json()
    assert (part["contacts"], part["leads"], part["care_tasks"]) == ([], [], [])
    assert part["lapse_reason"]["note"] is None and part["lapse_reason"]["cause"] == "involuntary"
    assert (await profile.client.get(f"/v1/customers/{cid}/contacts")).json()["items"] == []
    assert (await profile.client.get("/v1/leads", params={"customer_id": cid})).json()["items"] == []
    assert (await profile.client.get(f"/v1/care-tasks/{task['id']}")).status_code == 404
    # an erased file takes no new contact
    r = await profile.client.post(f"/v1/customers/{cid}/contacts", json={
        "channel": "phone", "direction": "outbound", "purpose": "care"})
    assert r.status_code == 409


async def test_contact_history_follows_a_merge(backend: Backend) -> None:
    profile = await backend.service("profile")
    keep, gone = (await create(profile, name="孙丽"))["id"], (await create(profile, name="孙丽"))["id"]
    r = await profile.client.post(f"/v1/customers/{gone}/contacts", json={
        "channel": "phone", "direction": "inbound", "purpose": "inquiry", "next_step": "寄报价",
        "next_step_at": iso(datetime.now(timezone.utc) + timedelta(days=1)),
        "lead": {"interest": "西安", "source": "phone"}})
    contact = r.json()
    assert (await profile.client.put(f"/v1/customers/{gone}/lapse-reason", json={"cause": "price"})).status_code == 200
    r = await profile.client.post(f"/v1/customers/{keep}/merge", json={"merged_ids": [gone], "reason": "同一人"})
    assert r.status_code == 200, r.text
    assert [c["id"] for c in (await profile.client.get(f"/v1/customers/{keep}/contacts")).json()["items"]] == [
        contact["id"]]
    assert (await profile.client.get(f"/v1/leads/{contact['lead']['id']}")).json()["customer_id"] == keep
    assert (await profile.client.get(f"/v1/care-tasks/{contact['return_visit']['id']}")).json()["customer_id"] == keep
    assert (await profile.client.get(f"/v1/customers/{keep}/lapse-reason")).json()["reason"]["cause"] == "price"
