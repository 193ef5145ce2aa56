"""Incident records: the handbook's checklist per kind, insurance claim, outcome, the report in zh / en."""

from __future__ import annotations

import subprocess

from tests.conftest import Backend

LOST_BAG = {"customer_id": "c-1", "kind": "lost_luggage", "booking_id": "b-1", "occurred_at": "2026-10-02T08:30:00",
            "location": "成都双流机场", "description": "托运行李未到达", "supplier": "某航空公司",
            "details": {"bag_description": "黑色拉杆箱", "last_seen_where": "北京首都机场值机柜台"}}


async def test_record_tick_claim_and_report(backend: Backend) -> None:
    svc = await backend.service("complaints")
    r = await svc.client.post("/v1/incidents", json=LOST_BAG)
    assert r.status_code == 201, r.text
    incident = r.json()
    assert [s["step"] for s in incident["checklist"]][:2] == ["report_to_carrier", "describe_bag"]
    path = f"/v1/incidents/{incident['id']}"
    r = await svc.client.post(f"{path}/checklist/report_to_carrier", json={"note": "PIR CTU12345"})
    assert r.status_code == 200 and r.json()["checklist"][0]["done"] is True
    assert (await svc.client.post(f"{path}/checklist/police", json={})).status_code == 404
    patch = {"insurance": {"insurer": "平安保险", "claim_number": "CL-1", "status": "filed", "amount": "2000.00"},
             "outcome": "行李于两天后找回并送达酒店"}
    assert (await svc.client.patch(path, json=patch)).status_code == 428
    r = await svc.client.patch(path, json=patch, headers={"If-Match": r.headers["ETag"]})
    assert r.status_code == 200, r.text
    assert r.json()["insurance"] == {"insurer": "平安保险", "claim_number": "CL-1", "status": "filed",
                                     "amount": "2000.00", "currency": "CNY"}
    zh = await svc.client.get(f"{path}/report")
    assert zh.status_code == 200 and zh.headers["content-type"].startswith("text/markdown")
    assert "# 事故报告: 行李丢失" in zh.text and "2026-10-02 16:30 CST" in zh.text and "- [x] 立即向承运人报失并取得报失编号" in zh.text
    assert "PIR CTU12345" in zh.text and "平安保险" in zh.text and "行李于两天后找回" in zh.text
    en = (await svc.client.get(f"{path}/report", params={"lang": "en"})).text
    assert "# Incident report: Lost luggage" in en and "- [ ] Describe the bag and its contents" in en
    assert (await svc.client.get(f"{path}/report", params={"lang": "fr"})).status_code == 422
    pdf = await svc.client.get(f"{path}/report", params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf.content, capture_output=True, check=True).stdout.decode()
    assert "事故报告: 行李丢失" in text and "平安保险" in text  # the font is in the file: any viewer shows the Chinese
    assert (await svc.client.get(f"{path}/report", params={"format": "doc"})).status_code == 422
    listed = (await svc.client.get("/v1/incidents", params={"customer": "c-1"})).json()["items"]
    assert [i["id"] for i in listed] == [incident["id"]]


async def test_every_kind_has_its_checklist_and_bad_kinds_are_refused(backend: Backend) -> None:
    svc = await backend.service("complaints")
    for kind, first in (("lost_traveller", "last_seen"), ("injured_traveller", "first_aid"),
                        ("missed_connection", "carrier"), ("overbooking", "alternative")):
        r = await svc.client.post("/v1/incidents", json=LOST_BAG | {"kind": kind, "details": {}})
        assert r.status_code == 201 and r.json()["checklist"][0]["step"] == first
        assert (await svc.client.get(f"/v1/incidents/{r.json()['id']}/report", params={"lang": "en"})).status_code == 200
    r = await svc.client.post("/v1/incidents", json=LOST_BAG | {"kind": "alien_abduction"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"
    async with svc.client_as("customer", customer="c-1") as app:
        assert (await app.get("/v1/incidents")).status_code == 403
