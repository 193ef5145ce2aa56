"""Periodic work: hold expiry, points expiry, the daily tier review and the notices.

The logic lives in service.py (callable with an explicit `now`); these loops only call it, each
step in its own transaction, and outlive any failure.
"""

from __future__ import annotations

import asyncio
import logging

from services.loyalty import service
from shared.db import transaction, utcnow

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 60.0
STEPS = (service.expire_holds, service.expire_points, service.review_tiers, service.emit_notices)


async def run_due_work(runtime) -> dict[str, int]:  # noqa: ANN001
    done: dict[str, int] = {}
    for step in STEPS:
        async with transaction(runtime.sessions) as session:
            done[step.__name__] = await step(session, utcnow())
    return done


async def housekeeping(runtime) -> None:  # noqa: ANN001
    while True:
        try:
            done = await run_due_work(runtime)
            if any(done.values()):
                log.info("loyalty housekeeping", extra=done)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the loop must outlive any failure
            log.warning("loyalty housekeeping failed", extra={"error_type": type(exc).__name__})
        await asyncio.sleep(INTERVAL_SECONDS)
