"""Faults on the multi-process stack (real Kafka + PostgreSQL), observed through the public HTTP APIs only:
kcat writes two thousand bookings; meanwhile profile is killed with SIGKILL and one of two loyalty replicas is
too (its partitions move to the other: a rebalance), and both come back. Every booking is then in profile's
history once and earns in loyalty once: counts and sums compared with what was sent."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from tests.conftest import eventually
from tests.e2e.stack import Stack, running_stack
from tests.e2e.test_stack_flows import completed, get
from tourcrm.status import ProcessStatus, probe

pytestmark = pytest.mark.servers
CUSTOMERS, TRIPS = 40, 50  # 2,000 bookings, sent in two waves of 1,000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from running_stack(tmp_path_factory.mktemp("stack-faults"), replicas={"loyalty": 2})


def amount(trip: int) -> Decimal:
    return Decimal(100 + trip)


def wave(stack: Stack, trips: range) -> None:
    stack.kcat("tourcrm.bookings", [(f"f-{c:03d}", completed(f"F-{c:03d}-{t:02d}", f"f-{c:03d}", f"{amount(t)}.00"))
                                    for t in trips for c in range(CUSTOMERS)])


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
        wave(stack, range(0, TRIPS // 2))

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

        sent = {t: amount(t) for t in range(TRIPS)}
        for c in range(CUSTOMERS):
            customer = f"f-{c:03d}"
            history = (await get(profile, f"/v1/customers/{customer}/bookings", limit=500))["items"]
            assert sorted(b["booking_id"] for b in history) == [f"F-{c:03d}-{t:02d}" for t in range(TRIPS)], customer
            value = await get(profile, f"/v1/customers/{customer}/value")
            assert (value["frequency"], Decimal(value["monetary"])) == (TRIPS, sum(sent.values())), customer
            ledger = (await get(loyalty_1, f"/v1/members/{customer}/ledger", limit=500))["items"]
            earns = [e for e in ledger if e["kind"] == "earn"]
            assert sorted(e["cause"]["id"] for e in earns) == [f"F-{c:03d}-{t:02d}" for t in range(TRIPS)], customer
            member = await get(loyalty_1, f"/v1/members/{customer}")
            assert member["points_balance"] == sum(e["points"] for e in ledger) >= sum(int(a) for a in sent.values())
        assert sum([await consumed(c) for c in (loyalty_1, loyalty_2)]) > 0
    finally:
        for client in (profile, loyalty_1, loyalty_2):
            await client.aclose()
