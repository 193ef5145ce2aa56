"""A Kafka broker stopped and restarted mid-stream: nothing committed is lost, nothing hangs.

This test runs its own broker (own state directory and ports) so that stopping it does not
disturb other tests using the shared one.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, Backend, at_least, equals, eventually, free_port, require_postgres
from tests.sample import app as sample
from tests.shared.test_delivery import assert_each_applied_once, effect_count, place


class Broker:
    def __init__(self, state_dir: Path) -> None:
        self.port, self.controller_port = free_port(), free_port()
        self.env = {**os.environ, "KAFKA_STATE_DIR": str(state_dir), "KAFKA_PORT": str(self.port),
                    "KAFKA_CONTROLLER_PORT": str(self.controller_port)}

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def run(self, command: str) -> None:
        result = subprocess.run(["bash", "scripts/kafka.sh", command], cwd=REPO, env=self.env,
                                capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, f"kafka.sh {command} failed:\n{result.stderr[-3000:]}"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path / "kafka")
    broker.run("start")
    try:
        yield broker
    finally:
        broker.run("stop")


@pytest.fixture
async def kafka_backend(broker: Broker, tmp_path: Path) -> AsyncIterator[Backend]:
    backend = Backend("kafka", tmp_path, await require_postgres(), broker.bootstrap)
    try:
        yield backend
    finally:
        await backend.close()


async def test_broker_restart_mid_stream_loses_nothing_and_nothing_hangs(kafka_backend: Backend, broker: Broker) -> None:
    runtime = await kafka_backend.runtime(sample.SPEC, await kafka_backend.database(), consumer_batch_size=20)
    await place(runtime, "c-restart", range(0, 40))
    await eventually(lambda: at_least(effect_count(runtime), 10), timeout=60)

    await asyncio.to_thread(broker.run, "stop")
    await place(runtime, "c-restart", range(40, 80))  # committed while the broker is down
    assert not await asyncio.wait_for(runtime.bus.ready(), 15), "the bus reports ready with the broker down"
    await asyncio.sleep(3)  # relay and consumer retry against a dead broker meanwhile

    await asyncio.to_thread(broker.run, "start")
    await place(runtime, "c-restart", range(80, 100))
    await eventually(lambda: equals(effect_count(runtime), 100), timeout=120)
    assert await asyncio.wait_for(runtime.bus.ready(), 15)
    await asyncio.sleep(1)
    await assert_each_applied_once(runtime, {sample.booking_id("c-restart", s) for s in range(100)})
    assert runtime.metrics.outbox_publish_failures._value.get() > 0  # it did see the outage
