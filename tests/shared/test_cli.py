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

from shared.auth import KeyStore, SCOPES
from shared.cli import app
from shared.db import make_engine, make_sessionmaker, transaction
from shared.inbox import DeadLetter
from shared.settings import Settings
from tests.conftest import REPO

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
    offset = random.randint(20000, 30000)
    env = {**os.environ, "TOURCRM_VAR_DIR": str(tmp_path), "TOURCRM_PORT_OFFSET": str(offset)}
    env.pop("DATABASE_URL", None)
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    for start in (1, 2):
        proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "run", "--no-demo"], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            lines = []
            deadline = time.monotonic() + 60
            while "stop with Ctrl-C" not in "".join(lines):
                assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
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
    assert development.find(first_key.strip()).scopes == set(SCOPES)
