"""Periodic work: hold expiry, points expiry, the daily tier review and the notices.

The logic lives in the use-case modules (callable with an explicit `now`); `shared.app.every` runs the steps
every minute, each in its own transaction, and outlives any failed run (logged and counted).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from services.loyalty.expiry import emit_notices, expire_points
from services.loyalty.redemptions import expire_holds
from services.loyalty.tiers import review_tiers
from shared.app import every
from shared.db import transaction

if TYPE_CHECKING:
    from shared.app import Runtime

INTERVAL_SECONDS = 60.0
STEPS = (expire_holds, expire_points, review_tiers, emit_notices)


async def run_due_work(runtime: Runtime, now: datetime) -> dict[str, int]:
    done: dict[str, int] = {}
    for step in STEPS:
        async with transaction(runtime.sessions) as session:
            done[step.__name__] = await step(session, now)
    return done if any(done.values()) else {}


housekeeping = every(INTERVAL_SECONDS, run_due_work, name="loyalty-housekeeping")
