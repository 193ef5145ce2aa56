"""Sample processes the tests kill with SIGKILL.

  python -m tests.sample.main produce-and-die DB_URL CUSTOMER COUNT
      commits COUNT orders with their outbox rows, then kills itself before any relay runs.
  python -m tests.sample.main consume DB_URL BOOTSTRAP PREFIX SLOW_SECONDS BATCH
      consumes as group "sample" with a slow handler, until killed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from shared.app import Runtime
from shared.db import transaction
from shared.settings import Settings
from tests.sample import app as sample


async def produce_and_die(url: str, customer: str, count: int) -> None:
    runtime = Runtime(sample.SPEC, Settings(service="sample", environment="test", database_url=url))
    await runtime.start()
    await runtime.relay.stop()  # no relay: the events stay in the outbox
    for seq in range(count):
        async with transaction(runtime.sessions) as session:
            await sample.place_order(session, customer_id=customer, seq=seq)
    print("committed", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


async def consume(url: str, bootstrap: str, prefix: str, slow: float, batch: int) -> None:
    sample.SLOW["seconds"] = slow
    settings = Settings(service="sample", environment="test", database_url=url, kafka_bootstrap_servers=bootstrap,
                        topic_prefix=prefix, consumer_batch_size=batch)
    runtime = Runtime(sample.SPEC, settings)
    await runtime.start()
    await runtime.relay.stop()
    print("consuming", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "produce-and-die":
        asyncio.run(produce_and_die(args[0], args[1], int(args[2])))
    elif command == "consume":
        asyncio.run(consume(args[0], args[1], args[2], float(args[3]), int(args[4])))
    else:
        raise SystemExit(f"unknown command {command}")
