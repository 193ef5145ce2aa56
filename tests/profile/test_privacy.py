"""Merge, export and erasure across services: profile with the real loyalty service on the same bus."""

from __future__ import annotations

import json

from sqlalchemy import inspect, text

from tests.conftest import Backend, RunningService, eventually
from tests.profile.helpers import booking, create, post_booking, wait_bookings


async def member(loyalty: RunningService, customer_id: str) -> dict | None:
    r = await loyalty.client.get(f"/v1/members/{customer_id}")
    return r.json() if r.status_code == 200 else None


async def wait_member(loyalty: RunningService, customer_id: str) -> dict:
    async def has_points() -> bool:
        m = await member(loyalty, customer_id)
        return bool(m and m["points_balance"] > 0)
    await eventually(has_points)
    return await member(loyalty, customer_id)


async def test_merge_two_files_with_bookings_and_points_into_one_customer_in_profile_and_loyalty(backend: Backend) -> None:
    profile = await backend.service("profile")
    loyalty = await backend.service("loyalty")
    keep = (await create(profile, name="陈静", phones=["13811112222"], tags=["vip"],
                         external_ids=[{"source": "booking-site", "id": "BS-9"}]))["id"]
    fold = (await create(profile, name="陈静", emails=["chen.jing@example.com"], birth_date="1992-02-02",
                         external_ids=[{"source": "app", "id": "APP-9"}],
                         consents=[{"channel": "email", "purpose": "marketing", "status": "granted"}]))["id"]
    await post_booking(profile, booking("M-1", keep, amount="2000.00", product="P-GUILIN"))
    await post_booking(profile, booking("M-2", fold, amount="3000.00", product="P-XIAN"))
    await wait_bookings(profile, 2)
    before = (await wait_member(loyalty, keep))["points_balance"] + (await wait_member(loyalty, fold))["points_balance"]

    r = await profile.client.post(f"/v1/customers/{keep}/merge", json={"merged_ids": [fold], "reason": "同一人：电话核实"})
    assert r.status_code == 200, r.text
    merged = r.json()
    assert merged["merge"]["merged_by"] == "test-all" and merged["merge"]["reason"] == "同一人：电话核实"
    assert merged["emails"] == ["chen.jing@example.com"] and merged["birth_date"] == "1992-02-02"
    assert {"source": "app", "id": "APP-9"} in merged["external_ids"]
    gone = (await profile.client.get(f"/v1/customers/{fold}")).json()
    assert (gone["status"], gone["merged_into"], gone["name"], gone["emails"]) == ("merged", keep, None, [])
    value = (await profile.client.get(f"/v1/customers/{keep}/value")).json()
    assert (value["frequency"], value["monetary"]) == (2, "5000.00")
    consents = (await profile.client.get(f"/v1/customers/{keep}/consents")).json()["items"]
    assert [(c["channel"], c["status"]) for c in consents] == [("email", "granted")]
    # resolve by the folded file's ids finds the survivor
    r = await profile.client.post("/v1/customers/resolve", json={"external_ids": [{"source": "app", "id": "APP-9"}],
                                                                 "create": False})
    assert r.json()["id"] == keep
    # a merged file cannot be merged or changed again
    again = await profile.client.post(f"/v1/customers/{keep}/merge", json={"merged_ids": [fold], "reason": "x"})
    assert again.status_code == 409

    # loyalty re-points on customers-merged: one member with both files' points
    async def one_member() -> bool:
        m = await member(loyalty, keep)
        return bool(m and m["points_balance"] == before)
    await eventually(one_member)

    # a booking still sent under the old id lands on the survivor
    await post_booking(profile, booking("M-3", fold, amount="1000.00"))
    await wait_bookings(profile, 3)
    history = (await profile.client.get(f"/v1/customers/{keep}/bookings")).json()["items"]
    assert {b["booking_id"] for b in history} == {"M-1", "M-2", "M-3"}


NAME, PHONE, EMAIL = "林晓峰", "+86 139-0000-7777", "Lin.XiaoFeng@Example.com"
SECRETS = [NAME, "林晓峰2", "13900007777", "+8613900007777", "lin.xiaofeng@example.com", "Lin.XiaoFeng", "1979-09-09"]


async def scan(service: RunningService, secrets: list[str]) -> list[str]:
    """Every table of the service's database, every row, as text: where does any secret appear?"""
    found = []
    async with service.runtime.read_sessions() as session:
        conn = await session.connection()
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert tables, "no tables: the scan would prove nothing"
        for table in tables:
            for row in (await session.execute(text(f'SELECT * FROM "{table}"'))).all():
                cells = [c.decode("utf-8", "ignore") if isinstance(c, (bytes, memoryview)) and not isinstance(c, str)
                         else str(c) for c in row]
                blob = " ".join(cells)
                for secret in secrets:
                    if secret in blob or json.dumps(secret)[1:-1] in blob:
                        found.append(f"{service.name}.{table}: {secret}")
    return found


async def test_export_then_erasure_leaves_no_personal_data_in_any_table_of_any_service(backend: Backend) -> None:
    profile = await backend.service("profile")
    loyalty = await backend.service("loyalty")
    others = [await backend.service(name) for name in ("complaints", "feedback")]  # exist, on the same bus
    c = await create(profile, name=NAME, phones=[PHONE], emails=[EMAIL], birth_date="1979-09-09",
                     address={"city": "杭州", "line": "西湖区文三路 100 号"}, notes="VIP，喜欢靠窗",
                     consents=[{"channel": "sms", "purpose": "marketing", "status": "granted"}])
    cid = c["id"]
    r = await profile.client.patch(f"/v1/customers/{cid}", json={"name": NAME + "2"}, headers={"If-Match": c["etag"]})
    assert r.status_code == 200
    await post_booking(profile, booking("E-1", cid, amount="4200.00"))
    await wait_bookings(profile, 1)
    await wait_member(loyalty, cid)
    complaints = others[0]
    filed = await complaints.client.post("/v1/complaints", json={
        "customer_id": cid, "channel": "phone", "trip_phase": "after", "booking_id": "E-1",
        "summary": f"{NAME}来电投诉，回电 13900007777"})
    assert filed.status_code == 201, filed.text
    assert await scan(profile, SECRETS), "the personal data is not where the scan looks: it would prove nothing"
    assert await scan(complaints, SECRETS), "the complaint's free text holds personal data before the erasure"

    export = await profile.client.get(f"/v1/customers/{cid}/export")
    assert export.status_code == 200, export.text
    body = export.json()
    assert body["complete"] is True and set(body["services"]) == {"profile", "complaints", "loyalty", "feedback"}
    assert body["services"]["profile"]["customer"]["phones"] == ["+8613900007777"]
    assert body["services"]["profile"]["bookings"][0]["booking_id"] == "E-1"
    assert body["services"]["loyalty"]["customer_id"] == cid
    async with profile.client_as("profile:read") as reader:
        assert (await reader.get(f"/v1/customers/{cid}/export")).status_code == 403

    r = await profile.client.delete(f"/v1/customers/{cid}")
    assert r.status_code == 202, r.text
    request_id = r.json()["request_id"]
    assert (await profile.client.delete(f"/v1/customers/{cid}")).json()["request_id"] == request_id

    async def confirmed() -> bool:
        report = (await profile.client.get(f"/v1/customers/{cid}/erasure")).json()
        return report["complete"]
    await eventually(confirmed)
    report = (await profile.client.get(f"/v1/customers/{cid}/erasure")).json()
    assert report["request_id"] == request_id
    confirmations = {s["service"]: s["confirmed"] for s in report["services"]}
    assert confirmations == {"profile": True, "complaints": True, "loyalty": True, "feedback": True}

    erased = (await profile.client.get(f"/v1/customers/{cid}")).json()
    assert (erased["status"], erased["name"], erased["phones"], erased["emails"]) == ("erased", None, [], [])
    r = await profile.client.post("/v1/customers/resolve", json={"phones": [PHONE], "create": False})
    assert r.status_code == 404
    leaks = [leak for service in (profile, loyalty, *others) for leak in await scan(service, SECRETS)]
    assert leaks == []


async def test_a_new_service_joins_export_and_erasure_by_configuration(backend: Backend) -> None:
    # complaints joins by configuration: its part of the export, and the erasure report waits for its
    # confirmation, which it sends on its own topic once it has erased its copy.
    profile = await backend.service("profile", privacy_services=["profile", "complaints"])
    complaints = await backend.service("complaints")
    cid = (await create(profile, name="测试新服务", phones=["13700009999"]))["id"]
    filed = await complaints.client.post("/v1/complaints", json={"customer_id": cid, "channel": "phone",
                                                                 "trip_phase": "after", "summary": "测试新服务的投诉"})
    assert filed.status_code == 201, filed.text
    export = (await profile.client.get(f"/v1/customers/{cid}/export")).json()
    assert export["complete"] is True, export
    assert [c["summary"] for c in export["services"]["complaints"]["sections"]["complaint"]] == ["测试新服务的投诉"]

    await profile.client.delete(f"/v1/customers/{cid}")

    async def complete() -> bool:
        return (await profile.client.get(f"/v1/customers/{cid}/erasure")).json()["complete"]
    await eventually(complete)
    report = (await profile.client.get(f"/v1/customers/{cid}/erasure")).json()
    assert {s["service"]: s["confirmed"] for s in report["services"]} == {"profile": True, "complaints": True}
    left = (await complaints.client.get(f"/v1/complaints/{filed.json()['id']}")).json()
    assert left["summary"] == "[erased]" and left["customer_id"] != cid


async def test_erasure_redacts_events_added_earlier_in_its_own_transaction(backend: Backend) -> None:
    """A consumer batch (or any unit of work) may emit an event with personal data and erase the same
    customer before it commits: the erasure must redact that event too, not only those already written."""
    from sqlalchemy import select

    from services.profile import customers, data_rights
    from services.profile.schemas import CustomerPatch
    from shared.db import transaction
    from shared.outbox import OutboxRecord

    profile = await backend.service("profile")
    runtime = profile.runtime
    cid = (await create(profile, name="王秘密", phones=["13600001234"]))["id"]
    async with transaction(runtime.sessions) as session:
        await customers.update_customer(session, cid, CustomerPatch(name="王更秘密", phones=["13600005678"]), "*")
        await data_rights.erase(session, cid, requested_by="test", services=["profile"])
    async with runtime.read_sessions() as session:
        payloads = list((await session.execute(select(OutboxRecord.payload).where(OutboxRecord.key == cid))).scalars())
    assert any("customer-erased" in p for p in payloads)  # the transaction's own events are there
    assert not [p for p in payloads if "王" in p or "1360000" in p]
