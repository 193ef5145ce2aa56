"""create_app(settings) -> FastAPI for the complaints service: the wiring, nothing else."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.complaints.api import ROUTERS
from services.complaints.handlers import BOOKINGS
from services.complaints.jobs import JOBS
from services.complaints.privacy import PRIVACY
from services.complaints.subscriptions import SUBSCRIPTIONS
from shared.app import ServiceSpec, build_app
from shared.bus import Bus
from shared.settings import Settings

SPEC = ServiceSpec(
    name="complaints",
    port=8002,
    migrations=Path(__file__).parent / "migrations",
    scopes=("complaints:read", "complaints:write", "complaints:agent", "complaints:manage"),
    title="tourcrm complaints — complaint handling",
    description="Intake, classification, investigation, solution, agreement, execution, follow-up and closure of "
                "complaints; SLA clocks, escalation, crisis detection and response.",
    routers=[*ROUTERS, PRIVACY.router()],
    subscriptions=SUBSCRIPTIONS,
    after_batch=[BOOKINGS.apply],  # writes the batch's booking facts at once
    session_hooks={"before_commit": [BOOKINGS.refuse_unapplied]},
    jobs=JOBS,
)


def create_app(settings: Settings | None = None, *, bus: Bus | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings(service="complaints", port=SPEC.port), bus=bus)
