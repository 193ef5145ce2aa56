"""Adaptive batching on Kafka: how long a consumer's next fetch waits for records follows how long its batches take."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

from aiokafka.consumer.fetcher import Fetcher

from shared.kafka import KafkaBus
from shared.kafka_consumer import MIN_FETCH_WAIT_MS
from shared.metrics import Metrics


async def _nothing(records: list) -> None:
    return None


def test_a_consumer_waits_longer_for_records_only_while_its_batches_take_long() -> None:
    member = KafkaBus("127.0.0.1:1", fetch_wait_ms=150).consumer("g", ["t"], _nothing, metrics=Metrics("t"))
    client = SimpleNamespace(_fetcher=SimpleNamespace(_fetch_max_wait_ms=MIN_FETCH_WAIT_MS))
    waits = []
    for seconds in [0.005] * 20 + [0.060] * 20 + [2.0] * 5 + [0.005] * 30:
        member._pace(client, seconds)  # noqa: SLF001
        waits.append(client._fetcher._fetch_max_wait_ms)  # noqa: SLF001
    quick, loaded, slow, quick_again = waits[19], waits[39], waits[44], waits[-1]
    assert quick == MIN_FETCH_WAIT_MS  # quick batches: records are fetched as before, latency stays low
    assert 110 <= loaded <= 120  # 60 ms batches: about twice that, so applying takes about half the time
    assert slow == 150  # never longer than the setting
    assert quick_again == MIN_FETCH_WAIT_MS  # and back once batches are quick again


def test_the_kafka_client_still_reads_the_wait_the_consumer_adapts() -> None:
    """The wait is aiokafka's fetcher attribute, read for each fetch request it builds: a client version that renamed
    it would leave every consumer at a fixed 50 ms wait, silently."""
    assert "self._fetch_max_wait_ms" in inspect.getsource(Fetcher._get_actions_per_node)
    assert "self._fetch_max_wait_ms = fetch_max_wait_ms" in inspect.getsource(Fetcher.__init__)
