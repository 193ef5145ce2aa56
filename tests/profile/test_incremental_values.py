"""The nightly value run is incremental: after a run it recomputes only the customers whose bookings changed and
those the passage of time moves across a step (loyalty status, a recency reason, the churn threshold) — exactly
those — and leaves every row as a full recompute would."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from services.profile import value_nightly
from services.profile.models import CustomerValue
from tests.conftest import Backend
from tests.profile.helpers import booking, create, post_booking, wait_bookings

T0 = datetime(2025, 6, 30, 4, 0, tzinfo=timezone.utc)  # 12:00 in Shanghai
MOVING = {"computed_at", "recency_days", "churn_score", "churn_reasons", "lifetime_value"}  # as of computed_at
TRIPS = {  # days before T0
    "steady": [120, 20],  # rhythm 100, last 20 days ago: loyal for a long while yet
    "quick": [15, 5],  # rhythm 10: past 15 days without a booking it wavers, past 10 a reason appears
    "once": [340],  # one booking: new for 365 days, then wavering
    "big": [200, 100, 1],
    "none": [],
}


async def _rows(profile: Any) -> dict[str, dict[str, Any]]:
    async with profile.runtime.read_sessions() as session:
        rows = (await session.execute(select(CustomerValue))).scalars()
        return {r.customer_id: r.model_dump() for r in rows}


def _without(rows: dict[str, dict[str, Any]], columns: set[str]) -> dict[str, dict[str, Any]]:
    return {cid: {k: v for k, v in row.items() if k not in columns} for cid, row in rows.items()}


def _steps(row: dict[str, Any]) -> tuple:
    return row["loyalty_status"], row["at_risk"], len(row["churn_reasons"]), row["quadrant"], row["value_class"]


async def _run(profile: Any, now: datetime, *, full: bool = False) -> value_nightly.Run:
    async with profile.runtime.sessions() as session, session.begin():
        return await value_nightly.run(session, now=now, tz=profile.runtime.settings.tz, full=full)


async def test_the_nightly_run_recomputes_the_changed_and_the_due_and_equals_a_full_run(backend: Backend) -> None:
    profile = await backend.service("profile")
    cfg = (await profile.client.get("/v1/config")).json()
    assert (await profile.client.put("/v1/config", json=cfg | {"churn_threshold": 0.45})).status_code == 200
    ids, count = {}, 0
    for key, days in TRIPS.items():
        ids[key] = (await create(profile, name=f"客户{key}"))["id"]
        for n, ago in enumerate(days):
            await post_booking(profile, booking(f"{key}-{n}", ids[key], amount=f"{1000 * (n + 1)}.00",
                                                completed_at=T0 - timedelta(days=ago)))
            count += 1
    await wait_bookings(profile, count)

    first = await _run(profile, T0)
    assert (first.mode, first.customers) == ("full", len(TRIPS))
    quiet = await _run(profile, T0 + timedelta(hours=1))  # nothing changed, nobody due: nothing to do
    assert (quiet.mode, quiet.ids, quiet.reranked) == ("incremental", (), 0)

    # one customer's bookings change: that customer alone is recomputed, and the rows are a full run's
    await post_booking(profile, booking("steady-new", ids["steady"], amount="9000.00", completed_at=T0))
    await wait_bookings(profile, count + 1)
    later = T0 + timedelta(hours=2)
    changed = await _run(profile, later)
    assert changed.ids == (ids["steady"],)
    incremental = await _rows(profile)
    assert (await _run(profile, later, full=True)).mode == "full"
    assert _without(incremental, {"computed_at"}) == _without(await _rows(profile), {"computed_at"})

    # 45 days on, nothing new: exactly those whose rows step (quick wavers, once passes a year) are recomputed
    before = await _rows(profile)
    days_on = T0 + timedelta(days=45)
    moved = await _run(profile, days_on)
    incremental = await _rows(profile)
    await _run(profile, days_on, full=True)
    full = await _rows(profile)
    assert _without(incremental, MOVING) == _without(full, MOVING)
    stepped = {cid for cid in full if _steps(before[cid]) != _steps(full[cid])}
    assert set(moved.ids) == stepped == {ids["quick"], ids["once"]}
    assert full[ids["quick"]]["at_risk"] and full[ids["quick"]]["loyalty_status"] == "wavering"
