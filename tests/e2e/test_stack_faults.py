"""Faults on the multi-process stack (real Kafka + PostgreSQL), observed through the public HTTP APIs only:
kcat writes two thousand bookings; meanwhile profile is killed with SIGKILL and one of two loyalty replicas is
too (its partitions move to the other: a rebalance), and both come back. Every booking is then in profile's
history once and earns in loyalty once: counts and sums compared with what was sent."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, eventually, free_port
from tests.e2e.stack import Stack, private_directory, running_stack
from tests.e2e.test_stack_flows import completed, get
from tests.shared.test_kafka_broker_restart import Broker
from tourcrm.status import ProcessStatus, probe

pytestmark = pytest.mark.servers
CUSTOMERS, TRIPS = 40, 50  # 2,000 bookings, sent in two waves of 1,000


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from running_stack(replicas={"loyalty": 2})


def amount(trip: int) -> Decimal:
    return Decimal(100 + trip)


def wave(stack: Stack, trips: range, customers: int = CUSTOMERS) -> None:
    stack.kcat("tourcrm.bookings", [(f"f-{c:03d}", completed(f"F-{c:03d}-{t:02d}", f"f-{c:03d}", f"{amount(t)}.00"))
                                    for t in trips for c in range(customers)])


async def consumed(client: httpx.AsyncClient) -> float:
    """Events this process has applied since it started (its /metrics)."""
    text = (await client.get("/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("tourcrm_events_consumed_total{") and 'type="booking-completed"' in line)


async def settled(stack: Stack) -> bool:
    """Every process ready, nothing left to consume, nothing left to publish (what `tourcrm status` reads)."""
    statuses = [probe(ProcessStatus(name, n, stack.url(name, n)), timeout=10) for name, n in stack.processes()]
    return all(s.ready and s.consumer_lag == 0 and s.outbox_backlog == 0 for s in statuses)


async def test_kill_9_and_a_rebalance_mid_stream_lose_nothing_and_double_nothing(stack: Stack) -> None:
    profile, loyalty_1, loyalty_2 = stack.client("profile"), stack.client("loyalty"), stack.client("loyalty", replica=2)
    try:
        for trip in range(TRIPS // 2):  # a trip at a time: the group gives the second replica its partitions
            wave(stack, range(trip, trip + 1))  # a few seconds after both are ready (the broker's rebalance delay)
            await asyncio.sleep(0.4)

        async def both_replicas_and_profile_busy() -> bool:  # the two replicas share the partitions
            counts = [await consumed(c) for c in (loyalty_1, loyalty_2, profile)]
            return all(counts) and counts[2] < CUSTOMERS * TRIPS
        await eventually(both_replicas_and_profile_busy, timeout=60, interval=0.05)
        stack.kill("profile")
        stack.kill("loyalty", replica=2)  # its partitions go to replica 1 once the group notices
        wave(stack, range(TRIPS // 2, TRIPS))  # the second half arrives while they are down

        code, statuses = stack.status()
        down = {(s["service"], s["replica"]): s for s in statuses if not s["ready"]}
        # the killed ones: no process, no answer (another may answer slowly while it works through the burst)
        assert code == 1 and {("profile", 1), ("loyalty", 2)} <= set(down)
        assert all(down[p]["pid"] is None and down[p]["problems"] == {"http": "ConnectError"}
                   for p in (("profile", 1), ("loyalty", 2)))

        stack.start(("profile", 1), ("loyalty", 2))
        await eventually(lambda: settled(stack), timeout=180, interval=1)

        await each_booking_once(profile, loyalty_1, CUSTOMERS, TRIPS)
    finally:
        for client in (profile, loyalty_1, loyalty_2):
            await client.aclose()


async def each_booking_once(profile: httpx.AsyncClient, loyalty: httpx.AsyncClient, customers: int, trips: int) -> None:
    """Every booking sent is in profile's history once (count and sum) and earned in loyalty once."""
    spent = sum(amount(t) for t in range(trips))
    for c in range(customers):
        customer, sent = f"f-{c:03d}", [f"F-{c:03d}-{t:02d}" for t in range(trips)]
        history = (await get(profile, f"/v1/customers/{customer}/bookings", limit=500))["items"]
        assert sorted(b["booking_id"] for b in history) == sent, customer
        value = await get(profile, f"/v1/customers/{customer}/value")
        assert (value["frequency"], Decimal(value["monetary"])) == (trips, spent), customer
        ledger = (await get(loyalty, f"/v1/members/{customer}/ledger", limit=500))["items"]
        assert sorted(e["cause"]["id"] for e in ledger if e["kind"] == "earn") == sent, customer
        member = await get(loyalty, f"/v1/members/{customer}")
        assert member["points_balance"] == sum(e["points"] for e in ledger) >= int(spent)  # ≥: tier multipliers


async def outage(stack: Stack, server: Broker | Postgres, check: str, customers: int, trips: int) -> None:
    """Half the bookings, then `server` stopped: every process reports the failing `check` (not ready); the other
    half written (Kafka keeps them when the database is down; the producer retries when the broker is), the
    server started again: the stack recovers by itself, nothing is parked, and every booking lands once."""
    profile, loyalty = stack.client("profile"), stack.client("loyalty")
    try:
        wave(stack, range(0, trips // 2), customers)
        await eventually(lambda: consumed(profile), timeout=60, interval=0.05)
        server.run("stop")

        async def not_ready() -> bool:
            statuses = [probe(ProcessStatus(name, 1, stack.url(name)), timeout=10) for name, _ in stack.processes()]
            return all(not s.ready and s.problems.get(check, "ok") != "ok" for s in statuses)
        await eventually(not_ready, timeout=60, interval=0.5)
        if check == "database":
            wave(stack, range(trips // 2, trips), customers)
        server.run("start")  # the same data directory: topics, offsets and tables are back
        if check == "bus":
            wave(stack, range(trips // 2, trips), customers)
        await eventually(lambda: settled(stack), timeout=180, interval=1)
        for name, _ in stack.processes():  # an outage parks nothing: the events wait for the server
            async with stack.client(name) as client:
                parked = await get(client, "/v1/ops/dead-letters")
            assert parked["items"] == [], (name, [(p["event_type"], p["error"]) for p in parked["items"]])

        async def all_applied() -> bool:  # lag can read 0 a moment before the last batch is visible
            try:
                await each_booking_once(profile, loyalty, customers, trips)
                return True
            except AssertionError:
                return False
        await eventually(all_applied, timeout=120, interval=2)
        await each_booking_once(profile, loyalty, customers, trips)
    finally:
        await profile.aclose()
        await loyalty.aclose()


async def test_a_kafka_broker_stopped_and_restarted_mid_stream_loses_nothing_and_the_stack_recovers_by_itself() -> None:
    """On a broker of its own (own ports and data directory): the shared one is never stopped."""
    state = private_directory(f"kafka-{uuid.uuid4().hex[:8]}")
    broker = Broker(state)
    broker.run("start")
    try:
        with contextlib.contextmanager(running_stack)(kafka=broker.bootstrap) as stack:
            await outage(stack, broker, "bus", customers=20, trips=30)
    finally:
        broker.run("stop")
    shutil.rmtree(state, ignore_errors=True)


class Postgres:
    """A PostgreSQL cluster of the test's own (scripts/postgres.sh with its own port and directory): the shared
    one is never stopped."""

    def __init__(self, state_dir: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, "PGPORT": str(self.port), "PG_STATE_DIR": str(state_dir)}

    @property
    def admin_url(self) -> str:
        return f"postgresql://tourcrm:tourcrm@127.0.0.1:{self.port}/postgres"

    def run(self, command: str) -> None:
        result = subprocess.run(["bash", "scripts/postgres.sh", command], cwd=REPO, env=self.env,
                                capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, f"postgres.sh {command} failed:\n{result.stderr[-3000:]}"


async def test_postgresql_stopped_and_started_makes_services_not_ready_then_they_recover_by_themselves() -> None:
    """Bookings written while the database is down wait on the topic; every service reports it is not ready
    (database), then recovers alone when PostgreSQL is back, and every booking lands exactly once (before the
    fix, the consumer's per-event retries dead-lettered them with ConnectionRefusedError)."""
    state = private_directory(f"pg-{uuid.uuid4().hex[:8]}")
    database = Postgres(state)
    database.run("start")
    try:
        with contextlib.contextmanager(running_stack)(postgres=database.admin_url) as stack:
            await outage(stack, database, "database", customers=10, trips=20)
    finally:
        database.run("stop")
    shutil.rmtree(state, ignore_errors=True)
    Path(f"{state}.lock").unlink(missing_ok=True)
