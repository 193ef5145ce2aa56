"""Key accounts: organisations with their people and billing contacts (organisation-registered on the bus), credit
management (over-limit flag and its history, rating history, outstanding and overdue per currency, never summed
across currencies), the people exported and erased while the company record stays, and bad input answered with
problem+json naming the field."""

from __future__ import annotations

from datetime import date, timedelta

from tests.conftest import Backend, eventually
from tests.profile.accounts_support import Listener, problem_fields
from tests.profile.helpers import create

ORG = {
    "name": "华夏国际会展有限公司", "registration_number": "91310000MA1FL0X12K", "industry": "exhibitions",
    "size": "large", "address": {"province": "上海", "city": "上海", "line": "浦东新区世纪大道100号"},
    "account_owner": "staff-li",
    "billing_contacts": [{"name": "王芳", "phone": "13800138000", "email": "Wang.Fang@huaxia.example", "role": "财务经理"}],
}


async def test_an_organisation_is_registered_with_its_people(backend: Backend) -> None:
    profile = await backend.service("profile")
    booker = (await create(profile, name="赵磊", phones=["13900139000"]))["id"]
    approver = (await create(profile, name="孙丽"))["id"]
    async with Listener(backend, "organisation-registered") as bus:
        r = await profile.client.post("/v1/organisations", json=ORG)
        assert r.status_code == 201, r.text
        org = r.json()
        assert r.headers["location"] == f"/v1/organisations/{org['id']}"
        assert org["billing_contacts"] == [{"name": "王芳", "phone": "+8613800138000", "email": "wang.fang@huaxia.example",
                                            "role": "财务经理", "customer_id": None}]
        [event] = await bus.wait("organisation-registered", 1)
    # the company record only: no person in the event
    assert event["data"]["organisation_id"] == org["id"] and event["data"]["name"] == ORG["name"]
    assert event["data"]["industry"] == "exhibitions" and "王芳" not in str(event)

    taken = await profile.client.post("/v1/organisations", json={**ORG, "name": "another"})
    assert problem_fields(taken, 409) == ["registration_number"]

    for cid, role in ((booker, "booker"), (approver, "approver")):
        r = await profile.client.put(f"/v1/organisations/{org['id']}/customers/{cid}", json={"role": role})
        assert r.status_code == 200, r.text
    people = (await profile.client.get(f"/v1/organisations/{org['id']}")).json()["people"]
    assert sorted((p["customer_id"], p["role"]) for p in people) == sorted([(booker, "booker"), (approver, "approver")])

    r = await profile.client.delete(f"/v1/organisations/{org['id']}/customers/{approver}")
    assert [p["customer_id"] for p in r.json()["people"]] == [booker]
    again = await profile.client.delete(f"/v1/organisations/{org['id']}/customers/{approver}")
    assert again.status_code == 404

    r = await profile.client.patch(f"/v1/organisations/{org['id']}", json={"account_owner": "staff-zhou", "size": "enterprise"})
    assert r.status_code == 200 and r.json()["account_owner"] == "staff-zhou" and r.json()["size"] == "enterprise"
    assert r.json()["billing_contacts"][0]["name"] == "王芳"  # not in the patch: kept

    other = (await profile.client.post("/v1/organisations", json={"name": "小店", "registration_number": "R-2",
                                                                  "industry": "retail"})).json()
    listed = (await profile.client.get("/v1/organisations", params={"industry": "exhibitions"})).json()
    assert [o["id"] for o in listed["items"]] == [org["id"]]
    everyone = (await profile.client.get("/v1/organisations", params={"limit": 1})).json()
    second = (await profile.client.get("/v1/organisations", params={"cursor": everyone["next_cursor"]})).json()
    assert {everyone["items"][0]["id"], second["items"][0]["id"]} == {org["id"], other["id"]}


async def test_an_organisation_over_its_credit_limit_is_flagged_and_the_history_kept(backend: Backend) -> None:
    profile = await backend.service("profile")
    org = (await profile.client.post("/v1/organisations", json=ORG)).json()
    base = f"/v1/organisations/{org['id']}"
    today = date.today()
    r = await profile.client.put(f"{base}/credit", json={"credit_limit": "10000.00", "currency": "CNY",
                                                          "payment_terms_days": 30})
    assert r.status_code == 200 and r.json()["over_limit"] is False

    for rating, reason in (("AA", "three years of prompt payment"), ("A", "two invoices paid late")):
        assert (await profile.client.post(f"{base}/credit/rating", json={"rating": rating, "reason": reason})).status_code == 200

    old = (today - timedelta(days=60)).isoformat()
    first = await profile.client.post(f"{base}/charges", json={"booking_id": "B-1", "amount": "6000.00",
                                                               "currency": "CNY", "booked_on": old})
    assert first.status_code == 201 and first.json()["charge"]["over_limit"] is False
    assert first.json()["charge"]["due_on"] == (today - timedelta(days=30)).isoformat()
    # past the limit: still recorded (the booking happened), the charge and the organisation flagged
    second = await profile.client.post(f"{base}/charges", json={"booking_id": "B-2", "amount": "5000.00",
                                                                "currency": "CNY", "booked_on": today.isoformat()})
    assert second.status_code == 201, second.text
    assert second.json()["charge"]["over_limit"] is True
    credit = second.json()["credit"]
    assert credit["over_limit"] is True and credit["exposure"] == "11000.00" and credit["available"] == "-1000.00"
    assert (await profile.client.get(base)).json()["over_limit"] is True
    flagged = (await profile.client.get("/v1/organisations", params={"over_limit": "true"})).json()["items"]
    assert [o["id"] for o in flagged] == [org["id"]]
    assert (await profile.client.get("/v1/organisations", params={"over_limit": "false"})).json()["items"] == []

    twice = await profile.client.post(f"{base}/charges", json={"booking_id": "B-2", "amount": "5000.00",
                                                               "currency": "CNY", "booked_on": today.isoformat()})
    assert problem_fields(twice, 409) == ["booking_id"]

    paid = await profile.client.post(f"{base}/payments", json={"reference": "PAY-1", "amount": "2000.00",
                                                               "currency": "CNY", "paid_on": today.isoformat()})
    assert paid.status_code == 201
    credit = (await profile.client.get(f"{base}/credit")).json()
    # 6000 + 5000 − 2000 outstanding; of it 6000 − 2000 overdue (B-1 was due 30 days ago, B-2 is not due yet)
    assert credit["outstanding"] == {"CNY": "9000.00"} and credit["overdue"] == {"CNY": "4000.00"}
    assert credit["over_limit"] is False and credit["over_limit_since"] is None
    assert [(f["over_limit"], f["exposure"], f["cause"]) for f in credit["flag_history"]] == [
        (True, "11000.00", "charge B-2"), (False, "9000.00", "payment PAY-1")]
    assert [(h["old"], h["new"], h["reason"]) for h in credit["rating_history"]] == [
        (None, "AA", "three years of prompt payment"), ("AA", "A", "two invoices paid late")]
    assert all(h["changed_by"] and h["changed_at"] for h in credit["rating_history"]) and credit["rating"] == "A"


async def test_credit_never_sums_currencies(backend: Backend) -> None:
    profile = await backend.service("profile")
    org = (await profile.client.post("/v1/organisations", json=ORG)).json()
    base = f"/v1/organisations/{org['id']}"
    today = date.today().isoformat()
    await profile.client.put(f"{base}/credit", json={"credit_limit": "5000.00", "currency": "CNY"})
    await profile.client.post(f"{base}/charges", json={"booking_id": "C-1", "amount": "4000.00", "currency": "CNY",
                                                       "booked_on": today})
    r = await profile.client.post(f"{base}/charges", json={"booking_id": "U-1", "amount": "200.00", "currency": "USD",
                                                           "booked_on": today})
    credit = r.json()["credit"]
    # no USD rate: outstanding per currency, the USD amount reported as unconverted and not counted against the limit
    assert credit["outstanding"] == {"CNY": "4000.00", "USD": "200.00"}
    assert credit["exposure"] == "4000.00" and credit["unconverted"] == {"USD": "200.00"} and not credit["over_limit"]

    config = (await profile.client.get("/v1/config")).json()
    assert (await profile.client.put("/v1/config", json={**config, "exchange_rates": {"USD": "7.10"}})).status_code == 200
    r = await profile.client.post(f"{base}/charges", json={"booking_id": "U-2", "amount": "10.00", "currency": "USD",
                                                           "booked_on": today})
    credit = r.json()["credit"]
    # with a rate the USD balance counts in CNY: 4000 + 210 × 7.10 = 5491.00 > 5000
    assert credit["outstanding"] == {"CNY": "4000.00", "USD": "210.00"}
    assert credit["exposure"] == "5491.00" and credit["unconverted"] == {} and credit["over_limit"] is True


async def test_the_people_of_an_organisation_are_exported_and_erased_not_the_company(backend: Backend) -> None:
    profile = await backend.service("profile", privacy_services=["profile"])
    booker = (await create(profile, name="赵磊"))["id"]
    payer = (await create(profile, name="王芳"))["id"]
    body = {**ORG, "billing_contacts": [{**ORG["billing_contacts"][0], "customer_id": payer},
                                        {"name": "李静", "email": "li.jing@huaxia.example"}]}
    org = (await profile.client.post("/v1/organisations", json=body)).json()
    base = f"/v1/organisations/{org['id']}"
    await profile.client.put(f"{base}/customers/{booker}", json={"role": "booker"})
    await profile.client.put(f"{base}/credit", json={"credit_limit": "1000.00", "currency": "CNY"})
    await profile.client.post(f"{base}/charges", json={"booking_id": "B-9", "amount": "300.00", "currency": "CNY",
                                                       "booked_on": date.today().isoformat(), "customer_id": booker})

    # a customer's export lists their places in organisations
    exported = (await profile.client.get(f"/v1/privacy/customers/{payer}")).json()
    assert exported["organisations"][0]["billing_contact"]["phone"] == "+8613800138000"
    booker_export = (await profile.client.get(f"/v1/privacy/customers/{booker}")).json()
    assert [(o["organisation_id"], o["role"]) for o in booker_export["organisations"]] == [(org["id"], "booker")]

    # erasing the customer removes them from the organisation, the company stays
    assert (await profile.client.delete(f"/v1/customers/{payer}")).status_code == 202
    people = (await profile.client.get(f"{base}/people")).json()
    assert [c["name"] for c in people["billing_contacts"]] == ["李静"]
    assert [p["customer_id"] for p in people["people"]] == [booker]
    assert (await profile.client.get(f"/v1/privacy/customers/{payer}")).json()["organisations"] == []

    # erasing the organisation's people: contacts and links go, the company record and its credit stay
    r = await profile.client.delete(f"{base}/people")
    assert r.json() == {"organisation_id": org["id"], "billing_contacts_removed": 1, "people_unlinked": 1}
    people = (await profile.client.get(f"{base}/people")).json()
    assert people["billing_contacts"] == [] and people["people"] == []
    company = (await profile.client.get(base)).json()
    assert company["name"] == ORG["name"] and company["registration_number"] == ORG["registration_number"]
    assert (await profile.client.get(f"{base}/credit")).json()["outstanding"] == {"CNY": "300.00"}
    async with profile.client_as("profile:read") as c:
        assert (await c.get(f"{base}/people")).status_code == 403


async def test_bad_input_names_the_field(backend: Backend) -> None:
    profile = await backend.service("profile")
    org = (await profile.client.post("/v1/organisations", json=ORG)).json()
    base = f"/v1/organisations/{org['id']}"
    customer = (await create(profile, name="赵磊"))["id"]
    today = date.today().isoformat()
    charge = {"booking_id": "B-1", "amount": "10.00", "currency": "CNY", "booked_on": today}
    cases = [
        ("post", "/v1/organisations", {**ORG, "name": ""}, "name"),
        ("post", "/v1/organisations", {k: v for k, v in ORG.items() if k != "registration_number"}, "registration_number"),
        ("post", "/v1/organisations", {**ORG, "size": "huge"}, "size"),
        ("post", "/v1/organisations", {**ORG, "billing_contacts": [{"name": "x", "phone": "12"}]}, "billing_contacts.0.phone"),
        ("put", f"{base}/customers/{customer}", {"role": "boss"}, "role"),
        ("put", f"{base}/credit", {"credit_limit": "-1", "currency": "CNY"}, "credit_limit"),
        ("put", f"{base}/credit", {"credit_limit": "100", "currency": "cny"}, "currency"),
        ("put", f"{base}/credit", {"credit_limit": "100", "currency": "CNY", "payment_terms_days": 9999}, "payment_terms_days"),
        ("post", f"{base}/credit/rating", {"rating": "Z", "reason": "x"}, "rating"),
        ("post", f"{base}/credit/rating", {"rating": "A"}, "reason"),
        ("post", f"{base}/charges", {**charge, "amount": "0"}, "amount"),
        ("post", f"{base}/charges", {**charge, "amount": "1e12"}, "amount"),
        ("post", f"{base}/charges", {**charge, "booked_on": 0}, "booked_on"),
        ("post", f"{base}/charges", {**charge, "booked_on": "9999-12-31"}, "booked_on"),
        ("post", f"{base}/payments", {"reference": "", "amount": "1", "currency": "CNY", "paid_on": today}, "reference"),
    ]
    for method, url, body, field in cases:
        r = await getattr(profile.client, method)(url, json=body)
        assert field in problem_fields(r), (url, body, r.text)
    assert "over_limit" in problem_fields(await profile.client.get("/v1/organisations", params={"over_limit": "maybe"}))
    assert problem_fields(await profile.client.put(f"{base}/customers/nobody", json={"role": "booker"}), 409) == ["customer_id"]
    missing = await profile.client.post("/v1/organisations/nope/charges", json=charge)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")


async def test_a_merge_moves_the_people_to_the_surviving_file(backend: Backend) -> None:
    profile = await backend.service("profile")
    survivor = (await create(profile, name="赵磊", phones=["13900139000"]))["id"]
    duplicate = (await create(profile, name="赵磊", emails=["zhao@huaxia.example"]))["id"]
    body = {**ORG, "billing_contacts": [{"name": "赵磊", "customer_id": duplicate}]}
    org = (await profile.client.post("/v1/organisations", json=body)).json()
    await profile.client.put(f"/v1/organisations/{org['id']}/customers/{duplicate}", json={"role": "approver"})
    r = await profile.client.post(f"/v1/customers/{survivor}/merge", json={"merged_ids": [duplicate], "reason": "same person"})
    assert r.status_code == 200, r.text
    after = (await profile.client.get(f"/v1/organisations/{org['id']}")).json()
    assert [(p["customer_id"], p["role"]) for p in after["people"]] == [(survivor, "approver")]
    assert after["billing_contacts"][0]["customer_id"] == survivor
