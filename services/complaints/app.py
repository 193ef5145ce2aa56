"""create_app(settings) -> FastAPI for the complaints service."""

from __future__ import annotations

from fastapi import FastAPI

from services.complaints.api import router
from services.complaints.subscriptions import SUBSCRIPTIONS
from shared.app import ServiceSpec, build_app
from shared.bus import Bus
from shared.settings import Settings

SPEC = ServiceSpec(
    name="complaints",
    title="tourcrm complaints — complaint handling",
    description="Intake, classification, investigation, solution, agreement, execution, follow-up and closure of complaints; SLA clocks, escalation and crisis detection.",
    routers=[router],
    subscriptions=SUBSCRIPTIONS,
)


def create_app(settings: Settings | None = None, *, bus: Bus | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings(service="complaints"), bus=bus)
