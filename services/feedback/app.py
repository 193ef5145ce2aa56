"""create_app(settings) -> FastAPI for the feedback service: wiring only."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.feedback import invitations, models  # noqa: F401 - the tables
from services.feedback.api import router
from services.feedback.jobs import surveys, warm_up
from services.feedback.privacy import PRIVACY
from services.feedback.subscriptions import SUBSCRIPTIONS
from shared.app import ServiceSpec, build_app
from shared.bus import Bus
from shared.settings import Settings

SPEC = ServiceSpec(
    name="feedback",
    port=8004,
    migrations=Path(__file__).parent / "migrations",
    scopes=("feedback:read", "feedback:write", "feedback:admin"),
    title="tourcrm feedback — surveys and satisfaction",
    description="Post-trip and follow-up surveys, NPS / CSAT / CSI, reviews and comment sentiment.",
    routers=[router, PRIVACY.router()],
    subscriptions=SUBSCRIPTIONS,
    after_batch=[invitations.POST_TRIPS.apply],  # writes the batch's post-trip invitations at once
    session_hooks={"before_commit": [invitations.POST_TRIPS.refuse_unapplied]},
    jobs=[surveys, warm_up],
)


def create_app(settings: Settings | None = None, *, bus: Bus | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings(service="feedback", port=SPEC.port), bus=bus)
