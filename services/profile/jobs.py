"""Periodic work of the profile service; the logic lives in service.py and takes an explicit `now`."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from services.profile import service
from shared.db import transaction, utcnow

if TYPE_CHECKING:
    from shared.app import Runtime

log = logging.getLogger(__name__)

NIGHTLY_AT = time(2, 0)  # business time zone
CARE_EVERY_SECONDS = 300


def seconds_until_nightly(now: datetime, tz) -> float:  # noqa: ANN001
    local = now.astimezone(tz)
    target = datetime.combine(local.date(), NIGHTLY_AT, tzinfo=tz)
    if target <= local:
        target = datetime.combine(local.date() + timedelta(days=1), NIGHTLY_AT, tzinfo=tz)
    return (target - local).total_seconds()


async def run_nightly(runtime: Runtime, now: datetime) -> int:
    async with transaction(runtime.sessions) as session:
        return await service.recompute_all(session, now=now, tz=runtime.settings.tz)


async def run_care(runtime: Runtime, now: datetime) -> dict[str, int]:
    async with transaction(runtime.sessions) as session:
        created = await service.schedule_care(session, now=now, tz=runtime.settings.tz)
    async with transaction(runtime.sessions) as session:
        counts = await service.emit_due_care(session, now=now, tz=runtime.settings.tz)
    return {"scheduled": created, **counts}


async def nightly_values(runtime: Runtime) -> None:
    """Recompute RFM, value classes and churn for everyone at 02:00 business time."""
    while True:
        await asyncio.sleep(seconds_until_nightly(utcnow(), runtime.settings.tz))
        try:
            count = await run_nightly(runtime, utcnow())
            log.info("nightly value batch done", extra={"customers": count})
        except Exception as exc:  # noqa: BLE001 - the job outlives one failure
            log.error("nightly value batch failed", extra={"error_type": type(exc).__name__})


async def care_schedule(runtime: Runtime) -> None:
    """Schedule care tasks and emit those due, every few minutes."""
    while True:
        await asyncio.sleep(CARE_EVERY_SECONDS)
        try:
            counts = await run_care(runtime, utcnow())
            log.info("care tasks run", extra=counts)
        except Exception as exc:  # noqa: BLE001
            log.error("care task run failed", extra={"error_type": type(exc).__name__})


JOBS = (nightly_values, care_schedule)
