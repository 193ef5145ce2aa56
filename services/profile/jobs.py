"""Periodic work of the profile service; the logic lives in scoring.py and care.py and takes an explicit `now`."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from services.profile import care, kpis, segment_membership, value_nightly
from services.profile import popularity
from shared.app import every
from shared.db import transaction

if TYPE_CHECKING:
    from shared.app import Runtime

NIGHTLY_AT = time(2, 0)  # business time zone
CARE_EVERY_SECONDS = 300
POPULARITY_EVERY_SECONDS = 600
KPI_EVERY_SECONDS = 600


def seconds_until_nightly(now: datetime, tz) -> float:  # noqa: ANN001
    local = now.astimezone(tz)
    target = datetime.combine(local.date(), NIGHTLY_AT, tzinfo=tz)
    if target <= local:
        target = datetime.combine(local.date() + timedelta(days=1), NIGHTLY_AT, tzinfo=tz)
    return (target - local).total_seconds()


async def run_nightly(runtime: Runtime, now: datetime, *, full: bool = False) -> value_nightly.Run:
    """Values and churn: the changed customers and those time moves today (everyone when `full` or on a new version)."""
    async with transaction(runtime.sessions) as session:
        done = await value_nightly.run(session, now=now, tz=runtime.settings.tz, full=full)
    if done.mode == "full":
        await value_nightly.refresh_statistics(runtime.engine)
    return done


async def run_popularity(runtime: Runtime, now: datetime) -> int:
    """How many customers booked each product, for the recommendations (a read must not count the history)."""
    async with transaction(runtime.sessions) as session:
        return await popularity.refresh_popularity(session)


async def run_care(runtime: Runtime, now: datetime) -> dict[str, int]:
    async with transaction(runtime.sessions) as session:
        created = await care.schedule_care(session, now=now, tz=runtime.settings.tz)
    async with transaction(runtime.sessions) as session:
        counts = await care.emit_due_care(session, now=now, tz=runtime.settings.tz)
    return {"scheduled": created, **counts}


async def run_segments(runtime: Runtime, now: datetime) -> dict[str, int]:
    async with transaction(runtime.sessions) as session:
        return await segment_membership.evaluate_all(session, now)


async def run_kpi_gauges(runtime: Runtime, now: datetime) -> None:
    async with runtime.read_sessions() as session:
        await kpis.refresh_gauges(session, runtime.metrics.registry, now)


JOBS = (
    # RFM, value classes and churn at 02:00 business time: the changed customers and those time moves (value_nightly).
    every(lambda now, settings: seconds_until_nightly(now, settings.tz), run_nightly, name="profile-nightly-values"),
    # Product popularity for the recommendations, every ten minutes.
    every(POPULARITY_EVERY_SECONDS, run_popularity, name="profile-popularity"),
    # Care tasks: schedule, and emit those due, every few minutes.
    every(CARE_EVERY_SECONDS, run_care, name="profile-care"),
    # Segment memberships stored and their changes sent as segment-membership-changed.
    every(segment_membership.EVERY_SECONDS, run_segments, name="profile-segments"),
    # tourcrm_profile_kpi{kpi=...} for the trailing year.
    every(KPI_EVERY_SECONDS, run_kpi_gauges, name="profile-kpi-gauges"),
)
