"""create_app(settings) -> FastAPI for the profile service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.profile import models  # noqa: F401 - the tables
from services.profile import commands, leads, population
from services.profile.api import ROUTERS
from services.profile.bookings import write_deferred
from services.profile.handlers import MEMBER_VIEWS
from services.profile.jobs import JOBS
from services.profile.scoring import recompute_touched
from services.profile.subscriptions import SUBSCRIPTIONS
from shared.app import ServiceSpec, build_app
from shared.bus import Bus
from shared.settings import Settings

SPEC = ServiceSpec(
    name="profile",
    port=8001,
    migrations=Path(__file__).parent / "migrations",
    scopes=("profile:read", "profile:write"),
    title="tourcrm profile — customer files",
    description="Customer files, segments, value classes, churn risk, recommendations, customer care, export and erasure.",
    routers=list(ROUTERS),
    subscriptions=SUBSCRIPTIONS,
    # loyalty's staged member events, the batch's deferred bookings in a few statements, the leads they win, then the
    # values of the customers it touched, once each
    after_batch=[MEMBER_VIEWS.apply, write_deferred, recompute_touched, leads.settle_touched],
    session_hooks={"before_commit": [MEMBER_VIEWS.refuse_unapplied], "after_commit": [population.committed],
                   "after_soft_rollback": [population.rolled_back]},
    jobs=JOBS,
    commands=[commands.app, commands.values],
)


def create_app(settings: Settings | None = None, *, bus: Bus | None = None) -> FastAPI:
    return build_app(SPEC, settings or Settings(service="profile", port=SPEC.port), bus=bus)
