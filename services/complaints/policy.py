"""The complaints policy in force: SLA targets per severity and trip phase, the business calendar
(hours, holidays), the warning and escalation points, the crisis threshold and window, and the
agents' compensation limits. Versioned in the database; a new version recomputes the targets of
every open complaint from its start, keeping its pauses."""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.complaints.models import PolicyVersion
from services.complaints.sla import Calendar, Policy, Target, default_policy
from shared.fields import TimeOfDay
from shared.db import settings_of

SEVERITIES = ("low", "medium", "high", "critical")
PHASES = ("before", "during", "after")
# Public holidays of the business calendar (mainland China, 2026), until operations set their own list.
HOLIDAYS_2026: list[date] = [
    date(2026, m, d) for m, days in {
        1: (1, 2, 3), 2: (15, 16, 17, 18, 19, 20, 21, 22, 23), 4: (4, 5, 6), 5: (1, 2, 3, 4, 5),
        6: (19, 20, 21), 9: (25, 26, 27), 10: (1, 2, 3, 4, 5, 6, 7),
    }.items() for d in days
]


class TargetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_response_minutes: int = Field(gt=0, le=525_600)
    resolution_minutes: int = Field(gt=0, le=525_600)
    business_hours: bool


class PolicyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targets: dict[str, TargetConfig] = Field(description='"<severity>/<phase>" → target, for every pair')
    warn_fraction: float = Field(default=0.2, gt=0, lt=1)
    manager_after: float = Field(default=0.5, gt=0, le=10)
    hours_start: TimeOfDay = time(9)
    hours_end: TimeOfDay = time(18)
    workdays: list[int] = Field(default=[0, 1, 2, 3, 4], description="Monday = 0")
    holidays: list[date] = Field(default_factory=lambda: list(HOLIDAYS_2026))
    crisis_threshold: int = Field(default=5, ge=2, le=10_000)
    crisis_window_minutes: int = Field(default=120, ge=1, le=43_200)
    agent_money_limits: dict[str, Decimal] = Field(default_factory=lambda: {
        "CNY": Decimal("500.00"), "USD": Decimal("70.00"), "EUR": Decimal("65.00"), "HKD": Decimal("550.00")})
    agent_points_limit: int = Field(default=2000, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> PolicyConfig:
        wanted = {f"{s}/{p}" for s in SEVERITIES for p in PHASES}
        if set(self.targets) != wanted:
            missing, extra = sorted(wanted - set(self.targets)), sorted(set(self.targets) - wanted)
            raise ValueError(f"targets must name every severity/phase pair; missing {missing}, unknown {extra}")
        if self.hours_end <= self.hours_start:
            raise ValueError("hours_end must come after hours_start")
        if any(not 0 <= d <= 6 for d in self.workdays) or not self.workdays:
            raise ValueError("workdays are 0 (Monday) to 6 (Sunday), at least one")
        return self

    @property
    def crisis_window(self) -> timedelta:
        return timedelta(minutes=self.crisis_window_minutes)

    def sla(self) -> Policy:
        targets = {}
        for key, t in self.targets.items():
            severity, phase = key.split("/")
            targets[(severity, phase)] = Target(timedelta(minutes=t.first_response_minutes),
                                                timedelta(minutes=t.resolution_minutes), t.business_hours)
        return Policy(targets, warn_fraction=self.warn_fraction, manager_after=self.manager_after)

    def calendar(self, tz) -> Calendar:  # noqa: ANN001 - a ZoneInfo
        return Calendar(tz, (self.hours_start, self.hours_end), frozenset(self.workdays), frozenset(self.holidays))


def default_config() -> PolicyConfig:
    sla = default_policy()
    return PolicyConfig(targets={
        f"{s}/{p}": TargetConfig(first_response_minutes=int(t.first_response.total_seconds() // 60),
                                 resolution_minutes=int(t.resolution.total_seconds() // 60),
                                 business_hours=t.business_hours)
        for (s, p), t in sla.targets.items()})


_CACHE = "complaints_policy"


async def current(session: AsyncSession) -> PolicyConfig:
    """The policy in force (read once per session)."""
    found = session.info.get(_CACHE)
    if found is None:
        row = (await session.execute(select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(1))
               ).scalar_one_or_none()
        found = session.info[_CACHE] = PolicyConfig.model_validate_json(row.config) if row else default_config()
    return found


async def version(session: AsyncSession) -> int:
    row = (await session.execute(select(PolicyVersion.version).order_by(PolicyVersion.version.desc()).limit(1))
           ).scalar_one_or_none()
    return row or 0


async def sla_of(session: AsyncSession) -> tuple[Policy, Calendar]:
    config = await current(session)
    return config.sla(), config.calendar(settings_of(session).tz)


async def change(session: AsyncSession, config: PolicyConfig, *, actor: str, now) -> tuple[int, int]:  # noqa: ANN001
    """A new policy version; the open complaints' targets are recomputed. Returns (version, recomputed)."""
    from services.complaints import clocks  # the clocks read the policy: imported here, not at module level

    number = await version(session) + 1
    session.add(PolicyVersion(version=number, config=config.model_dump_json(), actor=actor[:100], created_at=now))
    session.info[_CACHE] = config
    await session.flush()
    return number, await clocks.recompute_open(session)
