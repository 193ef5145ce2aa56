"""create_app(settings) -> FastAPI for the loyalty service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.loyalty import models  # noqa: F401 - the tables
from services.loyalty import service
from services.loyalty.api import router
from services.loyalty.jobs import housekeeping
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
    routers=[router],
    subscriptions=SUBSCRIPTIONS,
    after_batch=[service.apply_staged],  # earns the batch's booking-completed events at once
    jobs=[housekeeping],
)


def create_app(settings: Settings | None = None, *, bus: Bus | None = None) -> FastAPI:
    settings = settings or Settings(service="loyalty", port=SPEC.port)
    return build_app(SPEC, settings, bus=bus)
