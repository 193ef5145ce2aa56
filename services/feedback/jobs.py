"""Periodic work: send the invitations that are due (or suppress them), one reminder, expiry, the member
survey twice a year, the business gauges. Each step takes `now`, so tests drive the clock."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

from services.feedback import invitations, reports, sentiment
from shared.app import every
from shared.db import transaction

if TYPE_CHECKING:
    from shared.app import Runtime

INTERVAL_SECONDS = 60.0


async def run_due_work(runtime: Runtime, now: datetime) -> dict[str, int]:
    """One round: member surveys scheduled, due invitations sent, reminders, expiry; each in its own transaction."""
    done: dict[str, int] = {}
    async with transaction(runtime.sessions) as session:
        done["member_surveys"] = await invitations.schedule_member_surveys(session, now)
    async with transaction(runtime.sessions) as session:
        done.update(await invitations.send_due(session, now))
    async with transaction(runtime.sessions) as session:
        done.update(await invitations.remind_and_expire(session, now))
    async with runtime.read_sessions() as session:
        await reports.refresh_gauges(session, runtime.metrics.registry, now)
    return {k: v for k, v in done.items() if v}


surveys = every(INTERVAL_SECONDS, run_due_work, name="feedback-surveys")


async def warm_up(runtime: Runtime) -> None:
    """Load the analysers' models once at start, in a worker thread, so the first answer does not wait for them."""
    await asyncio.to_thread(sentiment.warm_up)
