"""The multi-process stack for end-to-end tests: started with `tourcrm stack up` on the real PostgreSQL and Kafka,
on a topic prefix, database names and ports of its own, and always stopped (and purged) with `tourcrm stack down`.
Tests speak to it only as outsiders do: HTTP, and records that Debian's kcat writes to Kafka."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import KAFKA, PG_ADMIN_URL, REPO, TEST_KEY_ENTRIES, TEST_KEYS, free_offset
from tourcrm import SERVICES, spec
from tourcrm.stack import REPLICA_PORT_STEP as REPLICA_STEP  # replica n listens on its port + 100 × (n - 1)


class Stack:
    """One running stack: its URLs, its processes, and kcat on its topics."""

    def __init__(self, replicas: dict[str, int] | None = None, kafka: str = KAFKA, postgres: str = PG_ADMIN_URL) -> None:
        self.prefix = f"e{uuid.uuid4().hex[:10]}"
        tmp = private_directory(self.prefix)
        self.directory = tmp / "stack"
        self.kafka, self.postgres = kafka, postgres
        self.replicas = replicas or {}
        self.offset = free_offset(max(self.replicas.values(), default=1))
        self.env = {**os.environ, "TOURCRM_ENVIRONMENT": "test", "TOURCRM_API_KEYS": TEST_KEY_ENTRIES,
                    "TOURCRM_VAR_DIR": str(tmp / "var"), "TOURCRM_RELAY_IDLE_SECONDS": "0.1",
                    "TOURCRM_CONSUMER_LAG_INTERVAL_SECONDS": "1", "TOURCRM_LOG_LEVEL": "WARNING"}
        for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "TOURCRM_PORT", "TOURCRM_TOPIC_PREFIX"):
            self.env.pop(name, None)

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tourcrm.cli", *args], cwd=REPO, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def up(self) -> None:
        counts = [arg for name, n in self.replicas.items() for arg in ("--replicas", f"{name}={n}")]
        done = self.cli("stack", "up", "--dir", str(self.directory), "--topic-prefix", self.prefix,
                        "--database-prefix", f"{self.prefix}_", "--port-offset", str(self.offset),
                        "--kafka", self.kafka, "--postgres", self.postgres, *counts)
        assert done.returncode == 0, f"stack up failed:\n{done.stdout}\n{done.stderr[-5000:]}"

    def down(self) -> None:
        done = self.cli("stack", "down", "--dir", str(self.directory), "--purge")
        assert done.returncode == 0, done.stderr[-3000:]

    def url(self, service: str, replica: int = 1) -> str:
        return f"http://127.0.0.1:{spec(service).port + self.offset + REPLICA_STEP * (replica - 1)}"

    def client(self, service: str, label: str = "all", replica: int = 1, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url(service, replica), timeout=30,
                                 headers={"Authorization": f"Bearer {TEST_KEYS[label]}", **headers})

    def processes(self) -> list[tuple[str, int]]:
        return [(name, n) for name in SERVICES for n in range(1, self.replicas.get(name, 1) + 1)]

    def pid(self, service: str, replica: int = 1) -> int:
        return int((self.directory / f"{service}-{replica}.pid").read_text())

    def kill(self, service: str, replica: int = 1) -> None:
        """kill -9: no clean stop, no offsets committed on the way out."""
        pid = self.pid(service, replica)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30  # dead, not dying: a restart must not find it still there
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def start(self, *processes: tuple[str, int]) -> None:
        """`tourcrm stack start` for each (service, replica), one after the other; returns when all are ready.
        (Two `stack start` commands at once sometimes report the other's process as exited: left as a known
        limit of the tool, which ops run one at a time.)"""
        for service, replica in processes:
            done = self.cli("stack", "start", service, "--replica", str(replica), "--dir", str(self.directory))
            assert done.returncode == 0, f"stack start failed:\n{done.stderr[-3000:]}"

    def status(self) -> tuple[int, list[dict[str, Any]]]:
        done = self.cli("status", "--dir", str(self.directory), "--json", timeout=60)
        return done.returncode, [json.loads(line) for line in done.stdout.splitlines()]

    def topic(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    def kcat(self, topic: str, records: Iterable[tuple[str, dict[str, Any] | str]]) -> None:
        """Write records with Debian's kcat (librdkafka, no Python): one `key<TAB>value` line each, structured
        CloudEvents JSON, content-type application/cloudevents+json."""
        lines = "".join(f"{key}\t{value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}\n"
                        for key, value in records)
        done = subprocess.run(["kcat", "-P", "-b", self.kafka, "-t", self.topic(topic), "-K", "\t",
                               "-H", "content-type=application/cloudevents+json", "-X", "acks=all"],
                              input=lines.encode(), capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()[-2000:]

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-20:])
                         for p in sorted(self.directory.glob("*.log")))


def _alive(pid: int) -> bool:
    """The process runs (a zombie, or no process at all, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def private_directory(name: str) -> Path:
    """A directory of this test's own under the repository's var/e2e/ (git-ignored) — not under pytest's tmp root,
    which other pytest sessions of the same user prune while this one still runs (the pid files, logs and a
    broker's data went with it)."""
    path = REPO / "var" / "e2e" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def running_stack(replicas: dict[str, int] | None = None, kafka: str = KAFKA,
                  postgres: str = PG_ADMIN_URL) -> Iterator[Stack]:
    """Start a stack, hand it over, stop and purge it whatever happened; its logs stay when a test failed."""
    stack = Stack(replicas, kafka, postgres)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
    shutil.rmtree(stack.directory.parent, ignore_errors=True)


def envelope(event_type: str, data: dict[str, Any], subject: str, *, event_id: str | None = None) -> dict[str, Any]:
    """A structured CloudEvents 1.0 record, as a booking backend without tourcrm's code writes it."""
    return {"specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": "booking-web", "type": event_type,
            "subject": subject, "time": datetime.now(timezone.utc).isoformat(),
            "datacontenttype": "application/json", "dataschema": f"tourcrm:{event_type}:1", "data": data}
