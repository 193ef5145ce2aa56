"""Periodic work: the SLA round (warnings, breaches, escalations, each once) and the gauges.

`run_sla(runtime, now)` takes its clock from the caller: tests drive it with any `now`; what fired
is kept on the complaints, so a restart repeats nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from services.complaints import clocks, stats
from shared.app import every
from shared.db import transaction

if TYPE_CHECKING:
    from shared.app import Runtime

INTERVAL_SECONDS = 30.0


async def run_sla(runtime: Runtime, now: datetime) -> dict[str, int]:
    async with transaction(runtime.sessions) as session:
        fired = await clocks.run_round(session, now)
    async with runtime.read_sessions() as session:
        await stats.gauges(runtime).refresh(session, now)
    return {"alarms": fired} if fired else {}


JOBS = [every(INTERVAL_SECONDS, run_sla, name="complaints-sla")]
