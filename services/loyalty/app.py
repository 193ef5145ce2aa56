"""create_app(settings) -> FastAPI for the loyalty service: the wiring, nothing else."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.loyalty import earning, points_counter
from services.loyalty import models  # noqa: F401 - the tables
from services.loyalty.api import routers
from services.loyalty.jobs import housekeeping
from services.loyalty.kpis import kpi_job
from services.loyalty.privacy import PRIVACY
from services.loyalty.subscriptions import SUBSCRIPTIONS
from shared.app import ServiceSpec, build_app
from shared.bus import Bus
from shared.settings import Settings

SPEC = ServiceSpec(
    name="loyalty",
    port=8003,
    migrations=Path(__file__).parent / "migrations",
    scopes=("loyalty:read", "loyalty:redeem", "loyalty:admin"),
    title="tourcrm loyalty — membership and points",
    description="Tiers, members, a points ledger, rewards, campaigns and referrals.",
    routers=[*routers, PRIVACY.router()],
    subscriptions=SUBSCRIPTIONS,
    after_batch=[earning.apply_staged],  # earns the batch's booking-completed events at once
    session_hooks={"before_commit": [earning.refuse_unapplied], "after_commit": [points_counter.counted],
                   "after_soft_rollback": [earning.forget_staged, points_counter.forget]},
    jobs=[housekeeping, kpi_job],
)


def create_app(settings: Settings | None = None, *, bus: Bus | None = None) -> FastAPI:
    settings = settings or Settings(service="loyalty", port=SPEC.port)
    return build_app(SPEC, settings, bus=bus)
