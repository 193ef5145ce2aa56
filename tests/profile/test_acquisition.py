"""Customer source: set on create, update and import; the report by source counts the files created in a period,
their first-booking conversion and their booking value in the business currency, amounts without a rate apart."""

from __future__ import annotations

import csv
from datetime import date, timedelta

from services.profile.importer import COLUMNS, import_customers
from tests.conftest import Backend
from tests.profile.accounts_support import problem_fields
from tests.profile.helpers import booking, create, post_booking, wait_bookings


async def test_customers_by_source_with_conversion_and_value(backend: Backend, tmp_path) -> None:  # noqa: ANN001
    profile = await backend.service("profile")
    ota = (await create(profile, name="携程客", acquisition_source="ota", acquisition_detail="Ctrip"))["id"]
    assert (await profile.client.get(f"/v1/customers/{ota}")).json()["acquisition_detail"] == "Ctrip"
    ota2 = (await create(profile, name="飞猪客", acquisition_source="ota", acquisition_detail="Fliggy"))["id"]
    friend = (await create(profile, name="朋友介绍"))["id"]
    await create(profile, name="门店客", acquisition_source="walk-in")
    # the source set later by update
    r = await profile.client.get(f"/v1/customers/{friend}")
    r = await profile.client.patch(f"/v1/customers/{friend}", headers={"If-Match": r.headers["etag"]},
                                   json={"acquisition_source": "referral", "acquisition_detail": "老客户张伟"})
    assert r.status_code == 200 and r.json()["acquisition_source"] == "referral"
    # and by import
    path = tmp_path / "c.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerow({"name": "展会客", "phone": "13700000001", "acquisition_source": "event",
                         "acquisition_detail": "2026 旅博会"})
        writer.writerow({"name": "坏来源", "phone": "13700000002", "acquisition_source": "billboard"})
    report = await import_customers(profile.runtime.sessions, path)
    assert report.created == 1 and [(r.line, r.field) for r in report.rejected] == [(3, "acquisition_source")]
    await create(profile, name="无来源")

    await post_booking(profile, booking("O-1", ota, amount="3000.00"))
    await post_booking(profile, booking("O-2", ota, amount="1000.00"))
    await post_booking(profile, {**booking("O-3", ota2, amount="500.00"), "currency": "USD"})
    await post_booking(profile, booking("R-1", friend, amount="2500.00"))
    await wait_bookings(profile, 4)

    today = date.today()
    period = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=2)).isoformat()}
    r = await profile.client.get("/v1/reports/acquisition", params=period)
    assert r.status_code == 200, r.text
    rows = {row["source"]: row for row in r.json()["sources"]}
    assert r.json()["currency"] == "CNY"
    # OTA: two files, both booked; 4000 CNY and 500 USD (no rate) kept apart
    assert rows["ota"] == {"source": "ota", "customers": 2, "booked": 2, "conversion": 1.0, "value": "4000.00",
                           "unconverted": {"USD": "500.00"}}
    assert rows["referral"] == {"source": "referral", "customers": 1, "booked": 1, "conversion": 1.0,
                                "value": "2500.00", "unconverted": {}}
    assert (rows["walk-in"]["customers"], rows["walk-in"]["booked"], rows["walk-in"]["conversion"]) == (1, 0, 0.0)
    assert rows["event"]["customers"] == 1 and rows["unknown"]["customers"] == 1

    earlier = {"from": (today - timedelta(days=30)).isoformat(), "to": (today - timedelta(days=1)).isoformat()}
    assert (await profile.client.get("/v1/reports/acquisition", params=earlier)).json()["sources"] == []
    bad = await profile.client.post("/v1/customers", json={"name": "x", "acquisition_source": "billboard"})
    assert problem_fields(bad) == ["acquisition_source"]
    assert problem_fields(await profile.client.get("/v1/reports/acquisition", params={"from": "2025-02-01",
                                                                                      "to": "2025-01-01"})) == ["to"]
