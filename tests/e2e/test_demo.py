"""`tourcrm demo` fills a running stack through the public API, and what it reports is what the APIs then
list: customers, bookings, complaints per state, survey answers, members and redemptions. A second run is
refused and doubles nothing. On both backends (the four services over HTTP, each on its own port)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta

import httpx
import pytest

from services.complaints.workflow import STATES
from tests.conftest import REPO, TEST_KEYS, Backend, free_offset
from tourcrm import SERVICES, demo, spec
from tourcrm.demo.plan import make_plan

CUSTOMERS = 30
SEED = 3


async def every(client: httpx.AsyncClient, path: str, **params: object) -> list[dict]:
    """All items of a paged list."""
    items, cursor = [], None
    while True:
        page = (await client.get(path, params={**params, "limit": 500, **({"cursor": cursor} if cursor else {})})).json()
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items


def is_chinese(name: str) -> bool:
    return all("\u4e00" <= ch <= "\u9fff" for ch in name)


async def counts(services: dict) -> dict:
    profile, complaints, feedback = services["profile"].client, services["complaints"].client, services["feedback"].client
    customers = await every(profile, "/v1/customers")
    bookings = [b for c in customers for b in await every(profile, f"/v1/customers/{c['id']}/bookings")]
    filed = [c for c in await every(complaints, "/v1/complaints") if c["channel"] != "survey"]  # survey: the loop's
    answered = await every(feedback, "/v1/surveys/invitations", kind="post-trip", status="answered")
    return {"customers": customers, "bookings": bookings, "complaints": filed, "answered": answered}


async def test_demo_enters_what_it_reports_and_a_second_run_doubles_nothing(backend: Backend) -> None:
    services = {name: await backend.service(name) for name in SERVICES}
    urls = {name: s.url for name, s in services.items()}
    report = await demo.run(urls, TEST_KEYS["all"], customers=CUSTOMERS, seed=SEED, wait_seconds=60)
    plan = make_plan(SEED, CUSTOMERS, date.today())

    seen = await counts(services)
    assert report.customers == len(seen["customers"]) == CUSTOMERS
    names = [c["name"] for c in seen["customers"]]
    assert any(is_chinese(n) for n in names) and any(n.isascii() for n in names)
    assert all(c["phones"] and c["address"]["city"] and c["preferences"]["interests"] for c in seen["customers"])
    assert report.bookings == len(seen["bookings"]) == len(plan.trips)
    assert {b["product"]["kind"] for b in seen["bookings"]} == {"tour", "hotel", "package"}
    assert report.cancelled == sum(b["status"] == "cancelled" for b in seen["bookings"]) > 0

    assert Counter(c["state"] for c in seen["complaints"]) == report.complaints
    assert set(report.complaints) == set(STATES)
    assert sum(c["reopen_count"] == 1 for c in seen["complaints"]) == report.reopened == 1
    assert sum(c["severity"] == "critical" and c["state"] == "received" for c in seen["complaints"]) >= report.escalating == 1

    assert report.answers == len(seen["answered"]) > 0
    scores = (await services["feedback"].client.get("/v1/feedback/scores")).json()["overall"]
    assert scores["responses"] == report.answers
    comments = [r["comment"] for i in seen["answered"]
                for r in (await services["feedback"].client.get(f"/v1/customers/{i['customer_id']}/feedback")).json()["responses"]
                if r["comment"]]
    assert any(is_chinese(c[0]) for c in comments) and any(c.isascii() for c in comments)

    loyalty = services["loyalty"].client
    members = [(await loyalty.get(f"/v1/members/{c['id']}")).json() for c in seen["customers"]]
    assert report.members == len([m for m in members if m.get("tier")]) == CUSTOMERS
    assert report.redemptions["captured"] >= 1 and sum(report.redemptions.values()) == len(plan.redeemers)
    campaigns = {c["id"]: c for c in (await loyalty.get("/v1/campaigns")).json()["items"]}
    assert set(campaigns) == {report.campaign, report.segment_campaign}
    assert campaigns[report.segment_campaign]["segment_id"] and float(campaigns[report.segment_campaign]["control_pct"]) > 0
    assert campaigns[report.segment_campaign]["status"] == "ended"  # a finished campaign, judged against its control group
    grouped = (await loyalty.get(f"/v1/campaigns/{report.segment_campaign}/members", params={"limit": 200})).json()
    beach = [c["id"] for c in seen["customers"] if "beach" in c["preferences"]["interests"]]
    assert sorted(m["customer_id"] for m in grouped["items"]) == sorted(beach)  # the segment reached loyalty
    uplift = (await loyalty.get(f"/v1/campaigns/{report.segment_campaign}/report")).json()["uplift"]
    assert uplift["treated"]["members"] + uplift["control"]["members"] == len(beach)

    profile = services["profile"].client
    contacts = [x for c in seen["customers"] for x in await every(profile, f"/v1/customers/{c['id']}/contacts")]
    assert report.contacts == len(contacts) > 0 and report.leads > 0
    assert report.organisations == len(await every(profile, "/v1/organisations")) > 0

    with pytest.raises(demo.AlreadyLoaded):
        await demo.run(urls, TEST_KEYS["all"], customers=CUSTOMERS, seed=SEED + 1, wait_seconds=5)
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tourcrm.cli", "demo", "--customers", "5", "--key", TEST_KEYS["all"],
        *[arg for name, url in urls.items() for arg in ("--url", f"{name}={url}")],
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(cli.communicate(), 120)
    assert cli.returncode == 1 and "holds demo data already" in err.decode(), (out, err)
    again = await counts(services)
    assert {k: len(v) for k, v in again.items()} == {k: len(v) for k, v in seen.items()}


def test_the_same_seed_plans_the_same_data_and_another_seed_other_data() -> None:
    today = date(2026, 12, 2)
    first, again, other = make_plan(SEED, 50, today), make_plan(SEED, 50, today), make_plan(SEED + 1, 50, today)
    assert first == again
    assert [p.body["name"] for p in first.people] != [p.body["name"] for p in other.people]
    assert all(today - date.fromisoformat(t.body["travel_end"]) <= timedelta(days=365) for t in first.trips)


def test_make_run_loads_a_small_set_on_first_start_only(tmp_path) -> None:  # noqa: ANN001
    """`tourcrm run` (what `make run` starts) loads demo data once, in the background of the running services;
    started again on the same var/, it loads nothing more."""
    env = {**os.environ, "TOURCRM_VAR_DIR": str(tmp_path), "TOURCRM_PORT_OFFSET": str(free_offset()),
           "TOURCRM_LOG_LEVEL": "WARNING"}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None), env.pop("DATABASE_URL", None)
    profile = f"http://127.0.0.1:{spec('profile').port + int(env['TOURCRM_PORT_OFFSET'])}"
    for start in (1, 2):
        proc = subprocess.Popen([sys.executable, "-m", "tourcrm.cli", "run", "--demo-customers", "6"], cwd=REPO,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            output = ""
            while "demo data loaded" not in output and not (start == 2 and "stop with Ctrl-C" in output):
                line = proc.stdout.readline()
                assert line, output[-3000:]
                output += line
            time.sleep(2 * (start - 1))  # a second load, were there one, would have begun
            key = (tmp_path / "dev-api-key").read_text().strip()
            customers = httpx.get(f"{profile}/v1/customers", headers={"Authorization": f"Bearer {key}"}, timeout=30)
            assert len(customers.json()["items"]) == 6
            assert "customers   6" in (tmp_path / "demo-loaded").read_text()
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
