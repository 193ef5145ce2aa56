"""Customer file, identity resolution with normalisation, consents, ETag, bad input, no personal data in logs."""

from __future__ import annotations

import json
import logging

import pytest

from tests.conftest import Backend
from tests.profile.helpers import create, outbox_events

NAME, PHONE, EMAIL = "欧阳明月", "138 0013 8000", "MingYue.OuYang@Example.COM"


async def test_file_resolve_by_normalised_phone_email_and_external_id(backend: Backend) -> None:
    profile = await backend.service("profile")
    created = await create(
        profile, name=NAME, gender="female", birth_date="1988-03-14", occupation="教师", kind="individual",
        phones=[PHONE], emails=[EMAIL], address={"province": "广东", "city": "广州", "line": "天河路 1 号"},
        preferred_channel="wechat", preferred_language="zh-CN",
        preferences={"destinations": ["桂林"], "interests": ["nature", "food"], "budget_band": "premium",
                     "dietary": ["素食"], "accessibility": ["wheelchair"], "transport": ["high-speed rail"],
                     "accommodation": ["boutique hotel"]},
        tags=["vip"], notes="喜欢安静的房间", external_ids=[{"source": "booking-site", "id": "BS-1001"}],
    )
    cid = created["id"]
    assert created["name"] == NAME  # kept whole, no first/last split
    assert created["phones"] == ["+8613800138000"]
    assert created["emails"] == ["mingyue.ouyang@example.com"]
    assert created["external_ids"] == [{"source": "booking-site", "id": "BS-1001"}]
    assert created["preferences"]["interests"] == ["nature", "food"]

    # the same phone written every way a Chinese mobile number arrives, and the email in any case
    for phone in ["13800138000", "+86 138 0013 8000", "+86-138-0013-8000", "0086 13800138000", "138-0013-8000"]:
        r = await profile.client.post("/v1/customers/resolve", json={"phones": [phone], "create": False})
        assert r.status_code == 200, r.text
        assert (r.json()["id"], r.json()["matched_by"]) == (cid, "phone")
    r = await profile.client.post("/v1/customers/resolve", json={"emails": ["MINGYUE.ouyang@example.com"]})
    assert (r.status_code, r.json()["id"], r.json()["matched_by"]) == (200, cid, "email")
    r = await profile.client.post("/v1/customers/resolve", json={"external_ids": [{"source": "booking-site", "id": "BS-1001"}],
                                                                 "phones": ["13912345678"]})
    assert (r.json()["id"], r.json()["matched_by"]) == (cid, "external_id")
    # resolving with a new source id links it to the file found
    r = await profile.client.post("/v1/customers/resolve", json={"phones": ["13800138000"],
                                                                 "external_ids": [{"source": "app", "id": "APP-77"}]})
    assert r.status_code == 200
    assert {"source": "app", "id": "APP-77"} in r.json()["external_ids"]

    # not found → created (201), and not found with create=false → 404
    r = await profile.client.post("/v1/customers/resolve", json={"name": "李娜", "phones": ["+86 139 1234 5678"]})
    assert r.status_code == 201 and r.json()["created"] is True
    other = r.json()["id"]
    assert other != cid
    r = await profile.client.post("/v1/customers/resolve", json={"emails": ["nobody@example.com"], "create": False})
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"

    # duplicates: a second file with the same phone and one with a similar name and the same birth date
    dup_phone = await create(profile, name="明月", phones=["+8613800138000"])
    dup_name = await create(profile, name="欧阳 明月", birth_date="1988-03-14")
    assert cid in dup_phone["possible_duplicates"]
    assert cid in dup_name["possible_duplicates"]
    listed = (await profile.client.get("/v1/customers/duplicates")).json()["items"]
    pairs = {tuple(i["customer_ids"]): i["reasons"] for i in listed}
    assert pairs[tuple(sorted((cid, dup_phone["id"])))] == ["same phone"]
    assert pairs[tuple(sorted((cid, dup_name["id"])))] == ["similar name and same birth date"]

    registered = await outbox_events(profile, "customer-registered", cid)
    assert registered[0]["data"] == {"customer_id": cid, "kind": "individual", "preferred_language": "zh-CN"}  # no contacts

    # cursor pagination over the files
    seen, cursor = [], None
    while True:
        page = (await profile.client.get("/v1/customers", params={"limit": 2, **({"cursor": cursor} if cursor else {})})).json()
        seen += [c["id"] for c in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert len(seen) == len(set(seen)) == 4 and cid in seen


async def test_etag_if_match_and_consents(backend: Backend) -> None:
    profile = await backend.service("profile")
    cid = (await create(profile, name="王芳", phones=["13700001111"]))["id"]
    r = await profile.client.get(f"/v1/customers/{cid}")
    etag = r.headers["etag"]
    assert etag == '"v1"'

    missing = await profile.client.patch(f"/v1/customers/{cid}", json={"occupation": "医生"})
    assert missing.status_code == 428
    assert missing.json()["errors"][0]["field"] == "If-Match"
    ok = await profile.client.patch(f"/v1/customers/{cid}", json={"occupation": "医生", "emails": ["Wang.Fang@Example.com"]},
                                    headers={"If-Match": etag})
    assert ok.status_code == 200, ok.text
    assert ok.headers["etag"] == '"v2"' and ok.json()["emails"] == ["wang.fang@example.com"]
    stale = await profile.client.patch(f"/v1/customers/{cid}", json={"occupation": "律师"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.json()["current_etag"] == '"v2"'
    assert (await profile.client.get(f"/v1/customers/{cid}")).json()["occupation"] == "医生"
    updated = await outbox_events(profile, "customer-updated", cid)
    assert updated[-1]["data"]["changed"] == ["occupation", "emails"]
    assert "emails" not in updated[-1]["data"] and "wang.fang" not in json.dumps(updated)  # names the field, not its value

    r = await profile.client.post(f"/v1/customers/{cid}/consents", json={"changes": [
        {"channel": "sms", "purpose": "marketing", "status": "granted", "source": "app-signup"},
        {"channel": "email", "purpose": "surveys", "status": "denied", "source": "call-centre"},
    ]})
    assert r.status_code == 200, r.text
    r = await profile.client.post(f"/v1/customers/{cid}/consents", json={"changes": [
        {"channel": "sms", "purpose": "marketing", "status": "revoked", "source": "sms-reply-TD"},
        {"channel": "email", "purpose": "surveys", "status": "denied", "source": "call-centre"},  # no change: no event
    ]})
    items = {(c["channel"], c["purpose"]): c for c in r.json()["items"]}
    assert items[("sms", "marketing")]["status"] == "revoked"
    assert items[("sms", "marketing")]["source"] == "sms-reply-TD"
    changes = [e["data"] for e in await outbox_events(profile, "consent-changed", cid)]
    assert [(c["channel"], c["status"]) for c in changes] == [("sms", "granted"), ("email", "denied"), ("sms", "revoked")]
    bad = await profile.client.post(f"/v1/customers/{cid}/consents", json={"changes": [
        {"channel": "fax", "purpose": "marketing", "status": "granted"}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "changes.0.channel"


@pytest.mark.parametrize("body,field", [
    ({"name": "张三", "phones": ["12345"]}, "phones.0"),
    ({"name": "张三", "phones": ["+86 138 0013 800"]}, "phones.0"),
    ({"name": "张三", "emails": ["not-an-email"]}, "emails.0"),
    ({"name": "张三", "birth_date": "2999-01-01"}, "birth_date"),
    ({"name": "张三", "kind": "alien"}, "kind"),
    ({"name": "张三", "preferences": {"budget_band": "infinite"}}, "preferences.budget_band"),
])
async def test_bad_input_is_a_problem_naming_the_field(backend: Backend, body: dict, field: str) -> None:
    profile = await backend.service("profile")
    r = await profile.client.post("/v1/customers", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json()["errors"]]


async def test_unknown_customer_and_bad_cursor_are_clear_errors(backend: Backend) -> None:
    profile = await backend.service("profile")
    for method, path in [("GET", "/v1/customers/nope"), ("GET", "/v1/customers/nope/overview"),
                         ("GET", "/v1/customers/nope/value"), ("GET", "/v1/customers/nope/recommendations"),
                         ("DELETE", "/v1/customers/nope"), ("GET", "/v1/customers/nope/export")]:
        r = await profile.client.request(method, path)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["detail"] == "customer nope not found"
    r = await profile.client.patch("/v1/customers/nope", json={"name": "x"}, headers={"If-Match": '"v1"'})
    assert r.status_code == 404
    r = await profile.client.get("/v1/customers", params={"cursor": "garbage!"})  # a cursor this API never issued
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "cursor"
    r = await profile.client.post("/v1/customers/resolve", json={"name": "只有名字"})
    assert r.status_code == 422
    r = await profile.client.post("/v1/bookings/completed", json={"booking_id": "b", "customer_id": "c"})
    assert r.status_code == 422 and {"product", "amount", "completed_at"} <= {e["field"] for e in r.json()["errors"]}


async def test_personal_data_never_reaches_the_logs(backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    # INFO is the production level (TOURCRM_LOG_LEVEL); our own code is watched down to DEBUG.
    # (Database drivers at DEBUG echo SQL parameters; shared.logging keeps them at WARNING or above.)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="services")
    caplog.set_level(logging.DEBUG, logger="shared")
    profile = await backend.service("profile")
    c = await create(profile, name=NAME, phones=[PHONE], emails=[EMAIL], birth_date="1990-01-02")
    cid = c["id"]
    await profile.client.post("/v1/customers/resolve", json={"phones": ["+86 138-0013-8000"], "emails": [EMAIL]})
    await profile.client.post("/v1/customers", json={"name": NAME, "phones": ["1380013800"]})  # invalid: 422
    await profile.client.patch(f"/v1/customers/{cid}", json={"name": NAME + "X"}, headers={"If-Match": '"v9"'})  # 412
    await profile.client.get(f"/v1/customers/{cid}/overview")
    await profile.client.get(f"/v1/customers/{cid}/export")
    await profile.client.delete(f"/v1/customers/{cid}")
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert caplog.records, "nothing was logged: the check would prove nothing"
    for secret in (NAME, "13800138000", "+8613800138000", "mingyue.ouyang@example.com", EMAIL, "1990-01-02"):
        assert secret not in text, f"personal data in logs: {secret}"
