"""create_app(settings) -> FastAPI for the feedback service: wiring only."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.feedback import invitations, models  # noqa: F401 - the tables
from services.feedback.api import router
from services.feedback.handlers import TIERS
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
    # write the batch's staged tiers and post-trip invitations at once (at most one of the two holds events)
    after_batch=[TIERS.apply, invitations.POST_TRIPS.apply],
    session_hooks={"before_commit": [TIERS.refuse_unapplied, invitations.POST_TRIPS.refuse_unapplied]},
    jobs=[surveys, warm_up],
)


def create_app(settings: Settings | None = None, *, bus: Bus | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings(service="feedback", port=SPEC.port), bus=bus)
