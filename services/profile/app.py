"""create_app(settings) -> FastAPI for the profile service."""

from __future__ import annotations

from fastapi import FastAPI

from services.profile import handlers, models  # noqa: F401 - the tables
from services.profile.api import router
from services.profile.jobs import JOBS
from services.profile.subscriptions import SUBSCRIPTIONS
from shared.app import ServiceSpec, build_app
from shared.bus import Bus
from shared.settings import Settings

SPEC = ServiceSpec(
    name="profile",
    title="tourcrm profile — customer files",
    description="Customer files, segments, value classes, churn risk, recommendations, customer care, export and erasure.",
    routers=[router],
    subscriptions=SUBSCRIPTIONS,
    jobs=JOBS,
)


def create_app(settings: Settings | None = None, *, bus: Bus | None = None) -> FastAPI:
    settings = settings or Settings(service="profile")
    handlers.CONTEXT["tz"] = settings.tz
    return build_app(SPEC, settings, bus=bus)
