"""The SLA clock rules as pure functions, with a controllable clock: business hours across a weekend
and a holiday, around-the-clock in-trip targets, pauses, recomputation keeping pauses, alarms."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from services.complaints.sla import (
    Calendar, Stretch, add_working_time, deadline, deadlines, default_policy, due_alarms, working_time,
)

SH = ZoneInfo("Asia/Shanghai")
MID_AUTUMN = date(2026, 9, 25)  # a Friday
CAL = Calendar(SH, holidays=frozenset({MID_AUTUMN}))


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def test_business_hours_skip_the_evening_a_holiday_and_the_weekend() -> None:
    start = local(2026, 9, 24, 17, 0)  # Thursday 17:00, one working hour left that day
    assert add_working_time(CAL, start, timedelta(hours=2)) == local(2026, 9, 28, 10, 0)  # Monday 10:00
    assert working_time(CAL, start, local(2026, 9, 28, 10, 0)) == timedelta(hours=2)
    # filed on Saturday night: the clock starts Monday 09:00
    assert add_working_time(CAL, local(2026, 9, 26, 22, 0), timedelta(minutes=30)) == local(2026, 9, 28, 9, 30)


def test_in_trip_targets_run_around_the_clock_in_minutes() -> None:
    policy = default_policy()
    start = local(2026, 9, 25, 23, 50)  # the holiday, at night
    first, resolution = deadlines(policy, CAL, severity="critical", phase="during", start=start, pauses=[])
    assert first == start + timedelta(minutes=15) and resolution == start + timedelta(hours=2)
    first, _ = deadlines(policy, CAL, severity="critical", phase="after", start=start, pauses=[])
    assert first == local(2026, 9, 28, 10, 0)  # after the trip: one business hour, on Monday


def test_pauses_push_the_deadline_by_the_working_time_they_covered() -> None:
    start = local(2026, 9, 21, 9, 0)  # Monday
    span = timedelta(hours=4)
    assert deadline(CAL, start, span, []) == local(2026, 9, 21, 13, 0)
    paused = [Stretch(local(2026, 9, 21, 10, 0), local(2026, 9, 21, 11, 30))]
    assert deadline(CAL, start, span, paused) == local(2026, 9, 21, 14, 30)
    # a pause over the night counts only its working hours (17:00-18:00 and 09:00-10:00)
    overnight = [Stretch(local(2026, 9, 21, 17, 0), local(2026, 9, 22, 10, 0))]
    assert deadline(CAL, start, timedelta(hours=9), overnight) == local(2026, 9, 22, 11, 0)
    # an open pause stops the clock; a pause after the deadline changes nothing
    assert deadline(CAL, start, span, [Stretch(local(2026, 9, 21, 10, 0), None)]) is None
    assert deadline(CAL, start, span, [Stretch(local(2026, 9, 21, 15, 0), None)]) == local(2026, 9, 21, 13, 0)


def test_a_new_severity_recomputes_from_the_start_keeping_the_pauses() -> None:
    policy = default_policy()
    start = local(2026, 9, 21, 9, 0)
    pauses = [Stretch(local(2026, 9, 21, 9, 30), local(2026, 9, 21, 11, 30))]  # two working hours paused
    _, low = deadlines(policy, CAL, severity="low", phase="after", start=start, pauses=pauses)
    _, critical = deadlines(policy, CAL, severity="critical", phase="after", start=start, pauses=pauses)
    assert critical == local(2026, 9, 22, 11, 0)  # 9 working hours + 2 paused, from the start
    assert low > critical


def test_alarms_warning_breach_manager_each_once() -> None:
    policy = default_policy()
    target = policy.target("high", "during")  # first response 30 min
    due = datetime(2026, 9, 21, 12, 0, tzinfo=timezone.utc)
    kinds = lambda now, fired=set(): [a.name for a in due_alarms(policy, target, now=now, clock="first_response",  # noqa: E731
                                                                 due=due, fired=fired)]
    assert kinds(due - timedelta(minutes=7)) == []
    assert kinds(due - timedelta(minutes=6)) == ["first_response:warning"]
    assert kinds(due) == ["first_response:warning", "first_response:breach"]
    assert kinds(due + timedelta(minutes=15), {"first_response:warning", "first_response:breach"}) == \
        ["first_response:manager"]
    assert kinds(due + timedelta(days=1), {"first_response:warning", "first_response:breach",
                                           "first_response:manager"}) == []
    assert due_alarms(policy, target, now=due, clock="first_response", due=None, fired=set()) == []
