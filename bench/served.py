"""Benchmark harness: a service in its own process, as production runs it, and wrk as the client.

`async with served("loyalty") as svc:` creates a fresh PostgreSQL database, starts
`tourcrm serve <service>` (PostgreSQL + Kafka, one uvicorn process) and yields its URL, an
authorised httpx client and the key. `wrk(...)` runs Debian's wrk (installed on first use) so that
the load generator costs little CPU and does not share the server's event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from shared.auth import hash_key  # noqa: E402
from tourcrm import all_scopes  # noqa: E402
from tests.conftest import free_port  # noqa: E402

PG = os.environ.get("TOURCRM_TEST_PG", "postgresql://tourcrm:tourcrm@127.0.0.1:5432/postgres")
KAFKA = os.environ.get("TOURCRM_TEST_KAFKA", "127.0.0.1:9092")


@dataclass
class Served:
    url: str
    key: str
    client: httpx.AsyncClient
    pid: int
    database: str  # its PostgreSQL database
    topic_prefix: str  # of its Kafka topics

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server and its worker processes (Linux /proc)."""
        return cpu_seconds(self.pid)


def processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds so far) of every process, read from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    return stats


def cpu_seconds(root: int) -> float:
    """CPU seconds of process `root` and its descendants, read from /proc (Linux)."""
    stats = processes()
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, (ppid, _) in stats.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sum(stats[pid][1] for pid in tree if pid in stats)


@asynccontextmanager
async def scratch_databases(count: int, prefix: str = "bench") -> AsyncIterator[list[str]]:
    """`count` fresh PostgreSQL databases, dropped afterwards."""
    names = [f"{prefix}_{uuid.uuid4().hex[:8]}" for _ in range(count)]
    admin = await asyncpg.connect(PG)
    try:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
        yield names
    finally:
        for name in names:
            await _drop(admin, name)
        await admin.close()


async def _drop(admin: asyncpg.Connection, name: str, tries: int = 120) -> None:
    """DROP … WITH (FORCE), waiting while a backend it may not terminate (an autovacuum worker after a large write)
    is still on the database: a scale run's results are written only after its databases are gone."""
    for attempt in range(tries):
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except asyncpg.InsufficientPrivilegeError:
            if attempt == tries - 1:
                raise
            await asyncio.sleep(1)


def database_url(name: str, driver: str = "postgresql") -> str:
    return PG.rsplit("/", 1)[0].replace("postgresql://", f"{driver}://") + "/" + name


@asynccontextmanager
async def served(service: str, *, workers: int = 1, env: dict[str, str] | None = None) -> AsyncIterator[Served]:
    async with scratch_databases(1) as [database], _serve(service, database, workers, env) as svc:
        yield svc


@asynccontextmanager
async def _serve(service: str, database: str, workers: int = 1, extra: dict[str, str] | None = None,
                 prefix: str | None = None) -> AsyncIterator[Served]:
    """`extra`: more environment; `prefix`: the Kafka topic prefix (services given the same one form one pipeline)."""
    key = "tcrm_bench_" + uuid.uuid4().hex
    port, prefix = free_port(), prefix or f"bench{uuid.uuid4().hex[:6]}."
    env = {
        **os.environ,
        "DATABASE_URL": database_url(database),
        "KAFKA_BOOTSTRAP_SERVERS": KAFKA,
        "TOURCRM_TOPIC_PREFIX": prefix,
        "TOURCRM_ENVIRONMENT": "test",
        "TOURCRM_PORT": str(port),
        "TOURCRM_WORKERS": str(workers),
        "TOURCRM_LOG_LEVEL": "WARNING",
        "TOURCRM_API_KEYS": json.dumps([{"client": "bench", "key_sha256": hash_key(key), "scopes": list(all_scopes())}]),
        **(extra or {}),
    }
    server = subprocess.Popen([sys.executable, "-m", "tourcrm.cli", "serve", service], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            for _ in range(300):
                try:
                    if (await client.get("/health/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"{service} did not become ready")
            yield Served(url, key, client, server.pid, database, prefix)
    finally:
        server.terminate()
        server.wait(timeout=30)


def wrk(args: list[str], env: dict[str, str] | None = None) -> str:
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return subprocess.run(["wrk", *args], capture_output=True, text=True, env={**os.environ, **(env or {})},
                          check=True).stdout


def requests_per_second(output: str) -> float:
    """wrk's rate; a run with non-2xx answers is refused (errors can be fast)."""
    if "Non-2xx" in output:
        raise RuntimeError(f"some answers were not 2xx:\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def script(name: str) -> str:
    return str(REPO / "bench" / "wrk" / name)


async def steady_rate(count, total: int, *, poll: float = 0.05) -> float:  # noqa: ANN001
    """Events/s from the first applied event to the last: startup (migrations, group join) excluded.

    `count()` returns how many of the `total` events are applied so far.
    """
    loop = asyncio.get_running_loop()
    while (first := await count()) == 0:
        await asyncio.sleep(poll / 5)
    started = loop.time()
    while await count() < total:
        await asyncio.sleep(poll)
    return (total - first) / (loop.time() - started)
