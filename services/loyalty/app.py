"""create_app(settings) -> FastAPI for the loyalty service."""

from __future__ import annotations

from fastapi import FastAPI

from services.loyalty import models  # noqa: F401 - the tables
from services.loyalty.api import router
from services.loyalty.jobs import housekeeping
from services.loyalty.ledger import CONTEXT
from services.loyalty.subscriptions import SUBSCRIPTIONS
from shared.app import ServiceSpec, build_app
from shared.bus import Bus
from shared.settings import Settings

SPEC = ServiceSpec(
    name="loyalty",
    title="tourcrm loyalty — membership and points",
    description="Tiers, members, a points ledger, rewards, campaigns and referrals.",
    routers=[router],
    subscriptions=SUBSCRIPTIONS,
    jobs=[housekeeping],
)


def create_app(settings: Settings | None = None, *, bus: Bus | None = None) -> FastAPI:
    settings = settings or Settings(service="loyalty")
    CONTEXT["tz"] = settings.tz  # business dates (expiry, reviews, campaign calendars) in the business time zone
    return build_app(SPEC, settings, bus=bus)
