"""The `tourcrm` CLI: embedded run, migrate, dead-letter list and replay, keys."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from shared.auth import KeyStore
from tourcrm.cli import app
from shared.db import make_engine, make_sessionmaker, transaction
from shared.inbox import DeadLetter
from shared.settings import Settings
from tests.conftest import REPO, free_offset

runner = CliRunner()


def test_migrate_then_dead_letters_can_be_listed_and_replayed(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    url = f"sqlite+aiosqlite:///{tmp_path}/loyalty.db"
    monkeypatch.setenv("DATABASE_URL", url)
    result = runner.invoke(app, ["migrate", "loyalty"])
    assert result.exit_code == 0, result.output

    async def park() -> None:
        engine = make_engine(url)
        async with transaction(make_sessionmaker(engine)) as session:
            session.add(DeadLetter(consumer="loyalty", fingerprint="tourcrm.bookings:0:7", topic="tourcrm.bookings",
                                   partition=0, offset=7, payload=b"{broken", error="record is not JSON"))
        await engine.dispose()

    asyncio.run(park())
    listed = runner.invoke(app, ["dlq", "list", "loyalty", "--json"])
    assert listed.exit_code == 0, listed.output
    [letter] = [json.loads(line) for line in listed.output.splitlines()]
    assert letter["topic"] == "tourcrm.bookings" and letter["offset"] == 7 and letter["status"] == "parked"
    replayed = runner.invoke(app, ["dlq", "replay", "loyalty"])
    assert replayed.exit_code == 1  # it still cannot be applied, and says so
    assert "still failing: record is not JSON" in replayed.output
    shown = runner.invoke(app, ["dlq", "show", "loyalty", str(letter["id"])])
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.output)
    assert record["value"]["text"] == "{broken" and record["error"].startswith("record is not JSON")
    discarded = runner.invoke(app, ["dlq", "discard", "loyalty", str(letter["id"]), "--reason", "a broken test record"])
    assert discarded.exit_code == 0, discarded.output
    [kept] = [json.loads(line) for line in runner.invoke(app, ["dlq", "list", "loyalty", "--status", "discarded",
                                                              "--json"]).output.splitlines()]
    assert (kept["id"], kept["note"], kept["settled_by"].startswith("cli:")) == (letter["id"], "a broken test record", True)
    assert runner.invoke(app, ["dlq", "list", "loyalty", "--json"]).output == ""  # no longer parked
    assert runner.invoke(app, ["dlq", "discard", "loyalty", str(letter["id"]), "--reason", "again"]).exit_code == 1
    assert runner.invoke(app, ["dlq", "show", "loyalty", "999"]).exit_code == 1
    assert runner.invoke(app, ["dlq", "list", "nowhere"]).exit_code != 0


def test_keys_new_prints_a_key_once_and_an_entry_holding_only_its_hash() -> None:
    result = runner.invoke(app, ["keys", "new", "--client", "booking-web", "--scope", "profile:read",
                                 "--scope", "events:publish"])
    assert result.exit_code == 0, result.output
    key_line, entry_line = result.output.strip().splitlines()
    key = key_line.removeprefix("key: ")
    entry = json.loads(entry_line)
    assert key not in entry_line
    store = KeyStore()
    store.load(json.dumps([entry]))
    assert store.find(key).scopes == {"profile:read", "events:publish"}
    assert runner.invoke(app, ["keys", "new", "--client", "x", "--scope", "root"]).exit_code != 0


def test_embedded_run_serves_all_four_services_and_keeps_its_development_key(tmp_path: Path) -> None:
    offset = free_offset()  # below the ephemeral range: a random one up to 38004 met a port in use under load
    env = {**os.environ, "TOURCRM_VAR_DIR": str(tmp_path), "TOURCRM_PORT_OFFSET": str(offset)}
    env.pop("DATABASE_URL", None)
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    for start in (1, 2):
        with (tmp_path / f"stderr-{start}.log").open("w") as errors:  # shown if it stops before it serves
            proc = subprocess.Popen([sys.executable, "-m", "tourcrm.cli", "run", "--no-demo"], cwd=REPO, env=env,
                                    stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            lines = []
            deadline = time.monotonic() + 60
            while "stop with Ctrl-C" not in "".join(lines):
                assert time.monotonic() < deadline and proc.poll() is None, (
                    "".join(lines) + (tmp_path / f"stderr-{start}.log").read_text())
                lines.append(proc.stdout.readline())
            output = "".join(lines)
            key = (tmp_path / "dev-api-key").read_text()
            assert key.count("\n") == 1 and key.strip() in output
            if start == 1:
                first_key = key
            assert key == first_key  # reused on later starts
            for port in (8001, 8002, 8003, 8004):
                assert f"http://127.0.0.1:{port + offset}" in output
                ready = httpx.get(f"http://127.0.0.1:{port + offset}/health/ready", timeout=10)
                assert ready.status_code == 200, ready.text
            assert {p.name for p in tmp_path.glob("*.db")} == {"profile.db", "complaints.db", "loyalty.db", "feedback.db"}
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0
    development = KeyStore.from_settings(Settings(var_dir=tmp_path))
    assert development.find(first_key.strip()).every_scope


async def test_serve_with_two_workers_shares_one_database_and_one_consumer_group(kafka_only, tmp_path: Path) -> None:  # noqa: ANN001
    """`TOURCRM_WORKERS=2 tourcrm serve loyalty`: both processes migrate one fresh database at start (one at a
    time), redemptions from both never overdraw one member, /metrics counts both, and booking-completed is
    applied once."""
    from shared.bus import Record
    from shared.events import CustomerRegistered, new_event
    from tests.conftest import TEST_KEY_ENTRIES, TEST_KEYS, eventually, free_port
    from tests.loyalty.support import completed

    url = (await kafka_only.database("loyalty")).replace("+asyncpg", "")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": kafka_only.kafka_servers,
           "TOURCRM_TOPIC_PREFIX": kafka_only.prefix, "TOURCRM_ENVIRONMENT": "test", "TOURCRM_PORT": str(port),
           "TOURCRM_WORKERS": "2", "TOURCRM_API_KEYS": TEST_KEY_ENTRIES, "TOURCRM_LOG_LEVEL": "WARNING",
           "TOURCRM_VAR_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "tourcrm.cli", "serve", "loyalty"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                     headers={"Authorization": f"Bearer {TEST_KEYS['all']}"}) as client:
            async def ready() -> bool:
                assert proc.poll() is None, proc.stderr.read()
                try:
                    return (await client.get("/health/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, timeout=90)
            bus = kafka_only.bus()  # profile registers w1 first: loyalty enrols only customers it knows
            known = new_event(CustomerRegistered(customer_id="w1"), source="tourcrm/profile", subject="w1")
            await bus.publish([Record(known.topic, "w1", known.to_bytes())])

            async def enrolled() -> bool:
                return (await client.post("/v1/members", json={"customer_id": "w1"})).status_code in (200, 201)

            await eventually(enrolled, timeout=60)
            adjust = await client.post("/v1/members/w1/adjustments", json={"points": 1000, "reason": "test"},
                                       headers={"Idempotency-Key": "w1-credit"})
            assert adjust.status_code == 201, adjust.text
            holds = await asyncio.gather(*[
                client.post("/v1/members/w1/redemptions", json={"points": 100}, headers={"Idempotency-Key": f"w1-{i}"})
                for i in range(40)
            ])
            assert sorted({h.status_code for h in holds}) == [201, 409]
            assert sum(h.status_code == 201 for h in holds) == 10

            async def counted_by_every_worker() -> bool:  # whichever process answers /metrics sums them all
                text = (await client.get("/metrics")).text
                return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                           if line.startswith("tourcrm_http_requests_total{")
                           and 'route="/v1/members/{customer_id}/redemptions"' in line) == 40

            for _ in range(5):
                await eventually(counted_by_every_worker, timeout=10)
            event = new_event(completed("w1", "B-w1", "1000.00"), source="booking-web", subject="w1")
            for _ in range(2):  # a retried booking-completed earns once
                await bus.publish([Record(event.topic, "w1", event.to_bytes())])

            async def earned() -> bool:
                member = (await client.get("/v1/members/w1")).json()
                return member["points_balance"] > 1000

            await eventually(earned, timeout=60)
            await asyncio.sleep(1)
            member = (await client.get("/v1/members/w1")).json()
            assert member["points_balance"] == 1000 + 1000  # base 1 point per CNY at regular tier, once
            assert sum(h["points"] for h in member["pending_holds"]) == 1000
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0


def test_status_without_services_says_not_ready_and_stack_refuses_bad_replicas(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("TOURCRM_PORT_OFFSET", str(random.randint(20000, 24000)))  # nothing listens there
    monkeypatch.setenv("COLUMNS", "200")  # the table on one line a row
    result = runner.invoke(app, ["status", "--dir", str(tmp_path / "no-stack"), "--json"])
    assert result.exit_code == 1
    statuses = [json.loads(line) for line in result.output.splitlines()]
    assert [s["service"] for s in statuses] == ["profile", "complaints", "loyalty", "feedback"]
    assert all(not s["ready"] and s["problems"] == {"http": "ConnectError"} for s in statuses)
    table = runner.invoke(app, ["status", "--dir", str(tmp_path / "no-stack")])
    assert table.exit_code == 1 and "not ready" in table.output
    for bad in ("loyalty=0", "loyalty=x", "nowhere=2"):
        refused = runner.invoke(app, ["stack", "up", "--dir", str(tmp_path / "s"), "--replicas", bad])
        assert refused.exit_code == 2, refused.output
    assert not (tmp_path / "s" / "stack.json").exists()
    assert runner.invoke(app, ["stack", "down", "--dir", str(tmp_path / "s")]).exit_code == 0  # nothing to stop
