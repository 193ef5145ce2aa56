"""Test backends: (MemoryBus + SQLite) and (KafkaBus + PostgreSQL), the same cases on each.

PostgreSQL and Kafka are started by `make test` (scripts/postgres.sh, scripts/kafka.sh). A test
that needs them fails — never skips — when they are not there.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import random
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
import httpx
import pytest
import uvicorn

from shared.app import Runtime, ServiceSpec
from shared.auth import hash_key
from shared.bus import Bus, MemoryBus
from shared.kafka import KafkaBus
from shared.logging import JsonFormatter, quiet_libraries
from shared.settings import Settings
from tourcrm import SERVICES, all_scopes, spec

SCOPES = all_scopes()

PG_ADMIN_URL = os.environ.get("TOURCRM_TEST_PG", "postgresql://tourcrm:tourcrm@127.0.0.1:5432/postgres")
KAFKA = os.environ.get("TOURCRM_TEST_KAFKA", "127.0.0.1:9092")
REPO = Path(__file__).resolve().parent.parent


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 60, interval: float = 0.1) -> None:
    """Wait until `check()` is true; fail with the time spent otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def equals(value: Awaitable[object], expected: object) -> bool:
    return (await value) == expected


async def at_least(value: Awaitable[int], expected: int) -> bool:
    return (await value) >= expected


@contextlib.contextmanager
def capture_logs() -> Iterator[io.StringIO]:
    """The JSON log lines written meanwhile, exactly as production would write them (libraries quietened as
    `shared.logging.configure` does, whatever earlier tests left)."""
    quiet_libraries()
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)


_reachable: dict[str, str] = {}


async def require_postgres() -> str:
    """The admin URL of the test PostgreSQL, or a test failure saying how to start it."""
    if "pg" not in _reachable:
        try:
            conn = await asyncio.wait_for(asyncpg.connect(PG_ADMIN_URL), 10)
            await conn.close()
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc!r}); start it: scripts/postgres.sh start")
        _reachable["pg"] = PG_ADMIN_URL
    return _reachable["pg"]


async def require_kafka() -> str:
    """The bootstrap servers of the test Kafka, or a test failure saying how to start it."""
    if "kafka" not in _reachable:
        bus = KafkaBus(KAFKA, timeout=10)
        try:
            if not await bus.ready():
                pytest.fail(f"Kafka is not reachable at {KAFKA}; start it: scripts/kafka.sh start")
        finally:
            await bus.stop()
        _reachable["kafka"] = KAFKA
    return _reachable["kafka"]


# Test API keys: 'all' holds every scope, 'none' no scope, one key per single scope, and 'customer':
# a customer-facing key with every scope (it must name the signed-in customer in X-Customer-Id).
TEST_KEYS = {"all": "tcrm_test_all", "none": "tcrm_test_none", "customer": "tcrm_test_customer"} | {
    scope: f"tcrm_test_{scope.replace(':', '_')}" for scope in SCOPES
}
TEST_KEY_ENTRIES = json.dumps(
    [
        {"client": f"test-{label}", "key_sha256": hash_key(key), "customer_facing": label == "customer",
         "scopes": list(SCOPES) if label in ("all", "customer") else [] if label == "none" else [label]}
        for label, key in TEST_KEYS.items()
    ]
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_offset(replicas: int = 1) -> int:
    """A TOURCRM_PORT_OFFSET under which every service's port (and its replicas') is free — below the ephemeral
    range (from 32768), where outgoing connections (Kafka clients, a broker's) could take a port between the
    check and the bind."""
    from tourcrm.stack import REPLICA_PORT_STEP  # replica n listens on its port + 100 × (n - 1)

    for _ in range(50):
        offset = random.randrange(2000, 24000)
        ports = [spec(name).port + offset + REPLICA_PORT_STEP * r for name in SERVICES for r in range(replicas)]
        try:
            for port in ports:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return offset
        except OSError:
            continue
    raise RuntimeError("no free ports for the services")


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete the topics a test made under its prefix: each partition holds files open in the broker, and a
    broker that kept every test's topics ran out of file descriptors after a few dozen runs of the suite."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        async with asyncio.timeout(15):
            await admin.start()
            mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
            if mine:
                await admin.delete_topics(mine)
    except Exception as exc:  # noqa: BLE001 - a topic left behind fails no test
        logging.getLogger(__name__).warning("test topics left behind", extra={"error": type(exc).__name__})
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


async def drop_database(conn: asyncpg.Connection, database: str) -> None:
    """Drop a test database; a server process of another role (autovacuum) on it can refuse FORCE for a
    moment, so try again, and leave it behind rather than fail a test that passed."""
    for attempt in range(5):
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            return
        except asyncpg.InsufficientPrivilegeError:
            await asyncio.sleep(0.2 * (attempt + 1))
    logging.getLogger(__name__).warning("test database left behind", extra={"database": database})


@dataclass
class RunningService:
    """A service served by uvicorn on a free port; `client` holds every scope."""

    name: str
    url: str
    runtime: Runtime
    client: httpx.AsyncClient
    server: uvicorn.Server
    task: asyncio.Task

    def client_as(self, label: str | None, *, customer: str | None = None) -> httpx.AsyncClient:
        """A client using the test key `label` ('none', 'all', 'customer' or one scope), or no key at all;
        `customer`: the signed-in customer it names in X-Customer-Id."""
        headers = {"Authorization": f"Bearer {TEST_KEYS[label]}"} if label else {}
        if customer is not None:
            headers["X-Customer-Id"] = customer
        return httpx.AsyncClient(base_url=self.url, timeout=30, headers=headers)

    async def stop(self) -> None:
        await self.client.aclose()
        self.server.should_exit = True
        await asyncio.gather(self.task, return_exceptions=True)


class Backend:
    """One storage + bus pair; makes fresh databases and buses, and stops what it started."""

    def __init__(self, name: str, tmp_path: Path, pg_admin: str | None, kafka_servers: str | None) -> None:
        self.name = name
        self.tmp_path = tmp_path
        self.pg_admin = pg_admin
        self.kafka_servers = kafka_servers
        self.prefix = f"t{uuid.uuid4().hex[:10]}."
        self.memory_bus = MemoryBus()
        self.databases: list[str] = []
        self.runtimes: list[Runtime] = []
        self.buses: list[Bus] = []
        self.services: list[RunningService] = []
        self.ports = {name: free_port() for name in SERVICES}

    @property
    def is_kafka(self) -> bool:
        return self.name == "kafka"

    async def database(self, name: str = "db") -> str:
        if not self.pg_admin:
            return f"sqlite+aiosqlite:///{self.tmp_path / (name + '.db')}"
        database = f"{self.prefix.rstrip('.')}_{name}".lower()
        conn = await asyncpg.connect(self.pg_admin)
        try:
            await conn.execute(f'CREATE DATABASE "{database}"')
        finally:
            await conn.close()
        self.databases.append(database)
        return self.pg_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{database}"

    def bus(self) -> Bus:
        """A bus as another process would have it: the shared in-process one, or a new Kafka client."""
        if not self.kafka_servers:
            return self.memory_bus
        bus = KafkaBus(self.kafka_servers, prefix=self.prefix, timeout=5)
        self.buses.append(bus)
        return bus

    def settings(self, url: str, **changes: object) -> Settings:
        return Settings(
            service="sample", environment="test", database_url=url,
            kafka_bootstrap_servers=self.kafka_servers, topic_prefix=self.prefix,
            relay_idle_seconds=0.1, **changes,
        )

    async def runtime(self, spec: ServiceSpec, url: str, *, start: bool = True, **changes: object) -> Runtime:
        runtime = Runtime(spec, self.settings(url, **changes), bus=self.bus())
        if start:
            await runtime.start()
        self.runtimes.append(runtime)
        return runtime

    async def service(self, name: str, **changes: object) -> RunningService:
        """Start service `name` over HTTP on this backend, as its own process would run it."""
        module = __import__(f"services.{name}.app", fromlist=["create_app"])
        settings = self.settings(await self.database(name), **changes).model_copy(
            update={"service": name, "port": self.ports[name], "api_keys": TEST_KEY_ENTRIES,
                    "service_urls": {s: f"http://127.0.0.1:{p}" for s, p in self.ports.items()},
                    "service_key": TEST_KEYS["feedback:read"],  # complaints reads survey comments from feedback
                    "privacy_services": changes.get("privacy_services") or list(SERVICES)}
        )
        app = module.create_app(settings, bus=self.bus())
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.http_port, log_config=None))
        server.config.load()
        server.lifespan = server.config.lifespan_class(server.config)
        task = asyncio.create_task(server._serve())  # noqa: SLF001 - no signal capture inside tests
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError(f"{name} did not start")
            await asyncio.sleep(0.02)
        url = f"http://127.0.0.1:{settings.http_port}"
        client = httpx.AsyncClient(base_url=url, timeout=30, headers={"Authorization": f"Bearer {TEST_KEYS['all']}"})
        running = RunningService(name, url, app.state.runtime, client, server, task)
        self.services.append(running)
        return running

    async def close(self) -> None:
        for running in reversed(self.services):
            await running.stop()
        for runtime in reversed(self.runtimes):
            await runtime.stop()
        for bus in self.buses:
            await bus.stop()
        if self.kafka_servers:
            await delete_topics(self.kafka_servers, self.prefix)
        if self.pg_admin and self.databases:
            conn = await asyncpg.connect(self.pg_admin)
            try:
                for database in self.databases:
                    await drop_database(conn, database)
            finally:
                await conn.close()


# --- the two halves of the suite ------------------------------------------------------------------
# Tests that need the real PostgreSQL and Kafka are marked `servers` (`make test-fast` deselects them).
# At the end, the numbers of each half are written to var/test-counts.json; CI fails when the
# servers half ran nothing (a wrong marker or PYTEST_ADDOPTS must not make it silently green).

SERVER_FIXTURES = {"kafka_only", "kafka_backend"}  # fixtures that start or need the servers
COUNTS = REPO / "var" / "test-counts.json"
_outcomes: dict[str, dict[str, int]] = {"servers": {}, "local": {}}


def needs_servers(item: pytest.Item) -> bool:
    params = getattr(getattr(item, "callspec", None), "params", {})
    return (params.get("backend") == "kafka" or bool(SERVER_FIXTURES & set(getattr(item, "fixturenames", ())))
            or item.get_closest_marker("servers") is not None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if needs_servers(item):
            item.add_marker(pytest.mark.servers)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        half = "servers" if "servers" in report.keywords else "local"
        _outcomes[half][report.outcome] = _outcomes[half].get(report.outcome, 0) + 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    COUNTS.parent.mkdir(parents=True, exist_ok=True)
    COUNTS.write_text(json.dumps(_outcomes))


@pytest.fixture(params=["memory", "kafka"], ids=["memory+sqlite", "kafka+postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "kafka":
        b = Backend("kafka", tmp_path, await require_postgres(), await require_kafka())
    else:
        b = Backend("memory", tmp_path, None, None)
    try:
        yield b
    finally:
        await b.close()



@pytest.fixture
async def kafka_only(tmp_path: Path) -> AsyncIterator[Backend]:
    """Kafka + PostgreSQL alone, for what only Kafka has (several members in one consumer group)."""
    b = Backend("kafka", tmp_path, await require_postgres(), await require_kafka())
    try:
        yield b
    finally:
        await b.close()
