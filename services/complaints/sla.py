"""SLA clock rules, pure functions of a policy, the complaint's start, its pauses and `now`.

A target is working time: wall-clock minutes for a 24/7 policy (complaints during a trip), or the
working hours of the business calendar (time zone, weekdays, hours, holidays) otherwise. Pauses
(waiting on the customer or a supplier) push a deadline by the working time they covered. A
deadline is always computed from the complaint's start with every pause so far, so a change of
severity or policy keeps the time already paused and the calendar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_DAYS = 3660  # a target never runs longer than ten years of calendar


@dataclass(frozen=True)
class Calendar:
    """Working hours in the business time zone; `None` hours: around the clock."""

    tz: ZoneInfo
    hours: tuple[time, time] | None = (time(9), time(18))
    workdays: frozenset[int] = frozenset(range(5))  # Monday = 0
    holidays: frozenset[date] = frozenset()

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The working window of a local day, as aware datetimes, or None for a day off."""
        if self.hours is None:
            start = datetime.combine(day, time(0), self.tz)
            return start, datetime.combine(day + timedelta(days=1), time(0), self.tz)
        if day.weekday() not in self.workdays or day in self.holidays:
            return None
        return datetime.combine(day, self.hours[0], self.tz), datetime.combine(day, self.hours[1], self.tz)

    def around_the_clock(self) -> Calendar:
        return Calendar(self.tz, None, self.workdays, self.holidays)


@dataclass(frozen=True)
class Target:
    first_response: timedelta
    resolution: timedelta
    business_hours: bool


@dataclass(frozen=True)
class Policy:
    """Targets per (severity, trip phase); in-trip targets run around the clock in minutes."""

    targets: dict[tuple[str, str], Target] = field(default_factory=dict)
    warn_fraction: float = 0.2  # warn when this share of the target's wall-clock span remains
    manager_after: float = 0.5  # escalate to the manager this share of the target after the breach

    def target(self, severity: str, phase: str) -> Target:
        return self.targets[(severity, phase)]


def _m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def _h(hours: float) -> timedelta:
    return timedelta(hours=hours)


def default_policy() -> Policy:
    """The handbook's rule of thumb: during the trip in minutes, before and after it in hours or days."""
    targets: dict[tuple[str, str], Target] = {}
    during = {"critical": (_m(15), _h(2)), "high": (_m(30), _h(4)), "medium": (_h(1), _h(8)), "low": (_h(2), _h(24))}
    other = {"critical": (_h(1), _h(9)), "high": (_h(2), _h(18)), "medium": (_h(4), _h(27)), "low": (_h(9), _h(45))}
    for severity, (first, resolution) in during.items():
        targets[(severity, "during")] = Target(first, resolution, business_hours=False)
    for phase in ("before", "after"):
        for severity, (first, resolution) in other.items():
            targets[(severity, phase)] = Target(first, resolution, business_hours=True)
    return Policy(targets)


def working_time(calendar: Calendar, start: datetime, end: datetime) -> timedelta:
    """Working time between two moments."""
    if end <= start:
        return timedelta(0)
    total = timedelta(0)
    day = start.astimezone(calendar.tz).date()
    last = end.astimezone(calendar.tz).date()
    while day <= last:
        window = calendar.window(day)
        if window:
            lo, hi = max(window[0], start), min(window[1], end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def add_working_time(calendar: Calendar, start: datetime, span: timedelta) -> datetime:
    """The moment `span` of working time after `start`."""
    left = span
    day = start.astimezone(calendar.tz).date()
    for _ in range(MAX_DAYS):
        window = calendar.window(day)
        if window:
            lo = max(window[0], start)
            if window[1] > lo:
                if lo + left <= window[1]:
                    return lo + left
                left -= window[1] - lo
        day += timedelta(days=1)
    raise ValueError("the target runs past the calendar")


@dataclass(frozen=True)
class Stretch:
    started_at: datetime
    ended_at: datetime | None


def deadline(calendar: Calendar, start: datetime, span: timedelta, pauses: Sequence[Stretch]) -> datetime | None:
    """When `span` of working time has run since `start`, not counting the pauses; None while a pause
    that began before the deadline is still open (the clock stands still)."""
    due = add_working_time(calendar, start, span)
    for pause in sorted(pauses, key=lambda p: p.started_at):
        if pause.started_at >= due:
            break
        if pause.ended_at is None:
            return None
        due = add_working_time(calendar, due, working_time(calendar, max(pause.started_at, start), pause.ended_at))
    return due


def calendar_for(target: Target, business: Calendar) -> Calendar:
    return business if target.business_hours else business.around_the_clock()


def deadlines(policy: Policy, business: Calendar, *, severity: str, phase: str, start: datetime,
              pauses: Sequence[Stretch]) -> tuple[datetime | None, datetime | None]:
    """(first-response due, resolution due) from the start, keeping every pause."""
    target = policy.target(severity, phase)
    calendar = calendar_for(target, business)
    return (deadline(calendar, start, target.first_response, pauses),
            deadline(calendar, start, target.resolution, pauses))


@dataclass(frozen=True)
class Alarm:
    clock: str  # first_response, resolution
    kind: str  # warning, breach, manager
    level: int  # escalation level it brings (0: none; 1: team lead; 2: manager)

    @property
    def name(self) -> str:
        return f"{self.clock}:{self.kind}"


def due_alarms(policy: Policy, target: Target, *, now: datetime, clock: str, due: datetime | None,
               fired: set[str]) -> list[Alarm]:
    """The alarms of one clock that are due at `now` and not yet fired, in order."""
    if due is None:
        return []
    span = target.first_response if clock == "first_response" else target.resolution
    steps = [
        Alarm(clock, "warning", 0, ), Alarm(clock, "breach", 1), Alarm(clock, "manager", 2),
    ]
    at = {"warning": due - span * policy.warn_fraction, "breach": due, "manager": due + span * policy.manager_after}
    return [a for a in steps if now >= at[a.kind] and a.name not in fired]
