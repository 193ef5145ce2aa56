"""`tourcrm stack`: each service as its own process (`tourcrm serve <name>`, optionally several replicas of one)
on the local PostgreSQL (one database per service, created and migrated) and Kafka — production mode on one
machine. What runs is written down under the stack directory (default var/stack/): `stack.json` (databases,
topic prefix, ports, replicas), `<service>-<n>.pid` and `<service>-<n>.log` per process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import asyncpg
import httpx

from shared.db import make_engine, migrate
from shared.settings import Settings
from tourcrm import SERVICES, settings_for, spec

REPO = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = "postgresql://tourcrm:tourcrm@127.0.0.1:5432/postgres"  # scripts/postgres.sh's local test role
REPLICA_PORT_STEP = 100  # replica n of a service listens on its port + 100 × (n - 1)


@dataclass
class Stack:
    """What `stack up` started, as kept in stack.json."""

    directory: Path
    postgres: str  # admin URL (a database the role can connect to; others are made beside it)
    kafka: str
    topic_prefix: str
    database_prefix: str
    port_offset: int = 0
    replicas: dict[str, int] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)  # extra settings every process gets

    @property
    def manifest(self) -> Path:
        return self.directory / "stack.json"

    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = asdict(self) | {"directory": str(self.directory)}
        self.manifest.write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> Stack:
        path = directory / "stack.json"
        if not path.exists():
            raise LookupError(f"no stack in {directory} (start one: tourcrm stack up)")
        data = json.loads(path.read_text())
        return cls(**(data | {"directory": Path(data["directory"])}))

    def database(self, service: str) -> str:
        return f"{self.database_prefix}{service}"

    def database_url(self, service: str) -> str:
        return self.postgres.rsplit("/", 1)[0] + "/" + self.database(service)

    def processes(self) -> list[tuple[str, int]]:
        """(service, replica) of every process, replicas counted from 1."""
        return [(name, n) for name in SERVICES for n in range(1, self.replicas.get(name, 1) + 1)]

    def port(self, service: str, replica: int = 1) -> int:
        return spec(service).port + self.port_offset + REPLICA_PORT_STEP * (replica - 1)

    def url(self, service: str, replica: int = 1) -> str:
        return f"http://127.0.0.1:{self.port(service, replica)}"

    def pid_file(self, service: str, replica: int) -> Path:
        return self.directory / f"{service}-{replica}.pid"

    def log_file(self, service: str, replica: int) -> Path:
        return self.directory / f"{service}-{replica}.log"

    def env(self, service: str, replica: int = 1) -> dict[str, str]:
        """The settings of one process: its database, the broker, the prefix and its port."""
        return {
            "TOURCRM_CONSUMER_LAG_INTERVAL_SECONDS": "5",
            **self.environment,
            "DATABASE_URL": self.database_url(service),
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "TOURCRM_TOPIC_PREFIX": self.topic_prefix,
            "TOURCRM_PORT_OFFSET": str(self.port_offset),
            "TOURCRM_PORT": str(self.port(service, replica)),
        }

    def settings(self, service: str) -> Settings:
        """The settings of `service` in this stack (for commands that work on its database directly)."""
        env = self.env(service)
        return settings_for(service, Settings(
            service=service, database_url=env["DATABASE_URL"], kafka_bootstrap_servers=self.kafka,
            topic_prefix=self.topic_prefix, port_offset=self.port_offset))

    # --- processes ------------------------------------------------------------------------------

    def pid(self, service: str, replica: int) -> int | None:
        """The pid of the process if it runs (a pid file whose process is gone, or is another program, is None)."""
        path = self.pid_file(service, replica)
        try:
            pid = int(path.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            return None
        return pid if "tourcrm.cli serve" in cmdline and state != "Z" else None

    def spawn(self, service: str, replica: int = 1) -> int:
        """Start one process of `service` in a session of its own (it outlives the command that started it)."""
        if (running := self.pid(service, replica)) is not None:
            return running
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.log_file(service, replica), "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tourcrm.cli", "serve", service], cwd=REPO,
                env={**os.environ, **self.env(service, replica)}, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,
            )
        self.pid_file(service, replica).write_text(f"{proc.pid}\n")
        return proc.pid

    def wait_ready(self, processes: list[tuple[str, int]], timeout: float = 120) -> None:
        """Wait until each process answers /health/ready with 200; raise with its log's tail otherwise."""
        deadline = time.monotonic() + timeout
        waiting = list(processes)
        while waiting:
            service, replica = waiting[0]
            if self.pid(service, replica) is None:
                raise RuntimeError(f"{service}-{replica} exited; its log ends:\n{self.tail(service, replica)}")
            try:
                if httpx.get(f"{self.url(service, replica)}/health/ready", timeout=5).status_code == 200:
                    waiting.pop(0)
                    continue
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{service}-{replica} not ready after {timeout:.0f}s; its log ends:\n"
                                   f"{self.tail(service, replica)}")
            time.sleep(0.3)

    def tail(self, service: str, replica: int, lines: int = 30) -> str:
        path = self.log_file(service, replica)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"

    def stop(self, processes: list[tuple[str, int]], timeout: float = 20) -> list[tuple[str, int]]:
        """SIGTERM to each (a clean stop: the batch in flight commits, the group is left), SIGKILL to those
        still there after `timeout`; returns those that were running."""
        pids = {p: pid for p in processes if (pid := self.pid(*p)) is not None}
        for pid in pids.values():
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(self.pid(*p) is not None for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        for p, pid in pids.items():
            if self.pid(*p) is not None:
                os.kill(pid, signal.SIGKILL)
        for p in processes:
            self.pid_file(*p).unlink(missing_ok=True)
        return list(pids)

    def running(self) -> list[tuple[str, int]]:
        return [p for p in self.processes() if self.pid(*p) is not None]


# --- databases and topics ------------------------------------------------------------------------


async def prepare_databases(stack: Stack) -> None:
    """Create each service's database unless it exists, and migrate it to the latest revision."""
    conn = await asyncpg.connect(stack.postgres.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for name in SERVICES:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", stack.database(name)):
                await conn.execute(f'CREATE DATABASE "{stack.database(name)}"')
    finally:
        await conn.close()
    for name in SERVICES:
        engine = make_engine(stack.settings(name).db_url)
        try:
            await migrate(engine, spec(name).migrations)
        finally:
            await engine.dispose()


async def prepare_topics(stack: Stack) -> None:
    """Create every topic of the catalog before any service starts: a consumer that subscribes to a topic another
    process creates a moment later sees it only at its next metadata refresh (up to 30 s later)."""
    from shared.events import TOPICS
    from shared.kafka import KafkaBus

    bus = KafkaBus(stack.kafka, prefix=stack.topic_prefix)
    try:
        await bus.ensure_topics(TOPICS)
    finally:
        await bus.stop()


async def purge(stack: Stack) -> None:
    """Drop the stack's databases and delete the topics (and so the groups' positions) under its prefix."""
    from aiokafka.admin import AIOKafkaAdminClient

    from shared.kafka import separated

    conn = await asyncpg.connect(stack.postgres.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for name in SERVICES:
            await conn.execute(f'DROP DATABASE IF EXISTS "{stack.database(name)}" WITH (FORCE)')
    finally:
        await conn.close()
    prefix = separated(stack.topic_prefix)
    if not prefix:
        return  # never delete unprefixed topics: they may be someone else's
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka, request_timeout_ms=10_000)
    try:
        async with asyncio.timeout(20):
            await admin.start()
            topics = [t for t in await admin.list_topics() if t.startswith(prefix)]
            if topics:
                await admin.delete_topics(topics)
    finally:
        await admin.close()


def up(stack: Stack, *, timeout: float = 120) -> None:
    """Create and migrate the databases, start every process and wait until all are ready (stop all if one fails)."""
    if stack.running():
        raise RuntimeError(f"a stack already runs from {stack.directory}: {stack.running()} (tourcrm stack down)")
    asyncio.run(prepare_databases(stack))
    asyncio.run(prepare_topics(stack))
    stack.save()
    for process in stack.processes():
        stack.spawn(*process)
    try:
        stack.wait_ready(stack.processes(), timeout=timeout)
    except BaseException:
        stack.stop(stack.processes())
        raise


def down(stack: Stack, *, purge_all: bool = False) -> list[tuple[str, int]]:
    stopped = stack.stop(stack.processes())
    if purge_all:
        asyncio.run(purge(stack))
        stack.manifest.unlink(missing_ok=True)
    return stopped
