"""Customer care (客户关怀): schedule the tasks falling due in the next week (birthday, post-trip thanks,
first-trip anniversary, win-back, festival greetings on the configured dates; worklist.py adds the tasks loyalty's
events and staff's return visits bring), and emit care-task-due for those due, through a consented channel, outside
quiet hours. Functions take an explicit `now`."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import repository as repo
from services.profile.config import get_config
from services.profile.models import Booking, CareTask, Customer, CustomerValue
from services.profile.public import CareTaskPublic, Items, care_public
from services.profile.schemas import ValueConfig
from shared import events as ev
from shared import outbox
from shared.db import new_id, settings_of
from shared.pages import Page, decode_cursor, page_of

CARE_PURPOSE = {"birthday": "marketing", "anniversary": "marketing", "win-back": "marketing",
                "festival-greeting": "marketing", "post-trip-thanks": "service", "points-expiring": "service",
                "tier-downgrade-warning": "service", "return-visit": "service"}
CARE_WINDOW_DAYS = 7
Wanted = tuple[str, str, str, datetime]  # customer, kind, occasion, due


def _local(day: date, hour: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(timezone.utc)


def _next_anniversary(original: date, today: date) -> date:
    for year in (today.year, today.year + 1):
        try:
            candidate = original.replace(year=year)
        except ValueError:  # 29 February in a common year
            candidate = date(year, 2, 28)
        if candidate >= today:
            return candidate
    raise AssertionError("unreachable")


async def _birthdays(session: AsyncSession, today: date, horizon: date, tz: ZoneInfo) -> list[Wanted]:
    wanted = []
    for cid, born in await repo.select_rows(session, Customer.id, Customer.birth_date, where=(
            Customer.status == "active", Customer.birth_date.is_not(None))):
        day = _next_anniversary(born, today)
        if day <= horizon:
            wanted.append((cid, "birthday", str(day.year), _local(day, 9, tz)))
    return wanted


async def _post_trip(session: AsyncSession, today: date, horizon: date, tz: ZoneInfo, config: ValueConfig) -> list[Wanted]:
    wanted = []
    earliest = today - timedelta(days=config.post_trip_days + CARE_WINDOW_DAYS)
    for cid, booking_id, end in await repo.select_rows(session, Booking.customer_id, Booking.booking_id,
                                                       Booking.travel_end, where=(
            Booking.status == "completed", Booking.travel_end >= earliest, Booking.travel_end <= horizon)):
        day = end + timedelta(days=config.post_trip_days)
        if today - timedelta(days=CARE_WINDOW_DAYS) <= day <= horizon:
            wanted.append((cid, "post-trip-thanks", booking_id, _local(day, 10, tz)))
    return wanted


async def _anniversaries(session: AsyncSession, today: date, horizon: date, tz: ZoneInfo) -> list[Wanted]:
    firsts: dict[str, date] = {}
    for cid, start, at in await repo.select_rows(session, Booking.customer_id, Booking.travel_start,
                                                 Booking.completed_at, where=(Booking.status == "completed",)):
        day = start or at.astimezone(tz).date()
        if cid not in firsts or day < firsts[cid]:
            firsts[cid] = day
    wanted = []
    for cid, first in firsts.items():
        day = _next_anniversary(first, today)
        if day.year > first.year and day <= horizon:
            wanted.append((cid, "anniversary", str(day.year), _local(day, 10, tz)))
    return wanted


async def _festivals(session: AsyncSession, today: date, horizon: date, tz: ZoneInfo,
                     config: ValueConfig) -> list[Wanted]:
    days = [f for f in config.festivals if today <= f.date <= horizon]
    if not days:
        return []
    customers = await repo.select_rows(session, Customer.id, where=(Customer.status == "active",))
    return [(cid, "festival-greeting", f"{f.name}-{f.date.isoformat()}", _local(f.date, 9, tz))
            for f in days for (cid,) in customers]


async def _win_back(session: AsyncSession, now: datetime) -> list[Wanted]:
    return [(cid, "win-back", since.date().isoformat() if since else "open", now)
            for cid, since in await repo.select_rows(session, CustomerValue.customer_id, CustomerValue.at_risk_since,
                                                     where=(CustomerValue.at_risk.is_(True),))]


async def schedule_care(session: AsyncSession, *, now: datetime, tz: ZoneInfo | None = None) -> int:
    """Create the care tasks falling due in the next week, once per occasion; how many were created."""
    tz = tz or settings_of(session).tz
    config = await get_config(session)
    today = now.astimezone(tz).date()
    horizon = today + timedelta(days=CARE_WINDOW_DAYS)
    wanted = [*await _birthdays(session, today, horizon, tz), *await _post_trip(session, today, horizon, tz, config),
              *await _anniversaries(session, today, horizon, tz), *await _win_back(session, now),
              *await _festivals(session, today, horizon, tz, config)]
    if not wanted:
        return 0
    customers = await repo.customers_by_id(session, {w[0] for w in wanted})
    existing = await repo.care_keys(session, {w[0] for w in wanted})
    created = 0
    for cid, kind, occasion, due in wanted:
        if cid not in customers or customers[cid].status != "active" or (cid, kind, occasion) in existing:
            continue
        existing.add((cid, kind, occasion))
        session.add(CareTask(id=new_id(), customer_id=cid, kind=kind, occasion=occasion, due_at=due))
        created += 1
    await session.flush()
    return created


def in_quiet_hours(local: datetime, quiet: list[int]) -> bool:
    start, end = quiet
    hour = local.hour
    return (start <= hour or hour < end) if start > end else (start <= hour < end)


async def emit_due_care(session: AsyncSession, *, now: datetime, tz: ZoneInfo | None = None) -> dict[str, int]:
    """Emit care-task-due for tasks now due through a consented channel; nothing in quiet hours."""
    config = await get_config(session)
    if in_quiet_hours(now.astimezone(tz or settings_of(session).tz), config.quiet_hours):
        return {"emitted": 0, "skipped": 0, "deferred": 1}
    tasks = await repo.due_care_tasks(session, now)
    counts = {"emitted": 0, "skipped": 0, "deferred": 0}
    customers = await repo.customers_by_id(session, [t.customer_id for t in tasks])
    consented = {purpose: await repo.granted_channels_of(session, customers, purpose)
                 for purpose in set(CARE_PURPOSE.values())}
    for task in tasks:
        customer = customers.get(task.customer_id)
        channels = consented[CARE_PURPOSE[task.kind]].get(task.customer_id, [])
        if customer is None or customer.status != "active":
            task.status, task.note = "skipped", "customer file not active"
        elif not channels:
            task.status, task.note = "skipped", f"no channel consented for {CARE_PURPOSE[task.kind]}"
        if task.status == "skipped":
            counts["skipped"] += 1
            continue
        channel = customer.preferred_channel if customer.preferred_channel in channels else channels[0]
        task.status, task.channel, task.emitted_at = "emitted", channel, now
        outbox.emit(session, ev.CareTaskDue(customer_id=customer.id, task_id=task.id, kind=task.kind, channel=channel,
                                            language=customer.preferred_language or "zh-CN", due_at=task.due_at),
                    customer.id)
        counts["emitted"] += 1
    return counts


async def care_tasks_page(session: AsyncSession, cursor: str | None, limit: int,
                          status: str | None) -> Page[CareTaskPublic]:
    """The care schedule, by task id."""
    rows = await repo.page_by_id(session, CareTask, decode_cursor(cursor, str), limit, status=status)
    return page_of(rows, limit, lambda t: (t.id,), care_public)


async def care_tasks_of(session: AsyncSession, customer_id: str) -> Items[CareTaskPublic]:
    """One customer's care tasks, by due time."""
    await repo.get_customer(session, customer_id)
    return Items(items=[care_public(t) for t in await repo.care_tasks_of(session, customer_id)])
