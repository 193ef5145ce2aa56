"""Customer source and acquisition: how each customer came (referral, advertising, OTA, walk-in, partner agency,
franchise store, event; `unknown` when not recorded), and per source, for the files created in a period: how many,
how many booked at least once (first-booking conversion), and the value of their completed bookings. Value is in
the business currency at the configured rates; amounts in a currency without a rate are reported per currency as
`unconverted`, never added to it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import repository as repo
from services.profile.account_schemas import AcquisitionReport, SourceRow
from services.profile.analytics import CENT, Exchange
from services.profile.config import exchange_of, get_config
from services.profile.models import Booking, Customer
from shared.db import settings_of
from shared.errors import Unprocessable

UNKNOWN = "unknown"


def instant(day: date, tz) -> datetime:  # noqa: ANN001
    """The start of `day` in the business time zone."""
    return datetime.combine(day, time(0), tzinfo=tz)


def check_period(start: date, end: date) -> None:
    """A period [start, end) of at most ten years, within 1900..2999 (its previous period too)."""
    if start.year < 1910:
        raise Unprocessable("a period starts in 1910 or later", field="from")
    if end.year > 2999:
        raise Unprocessable("a period ends before 3000", field="to")
    if end <= start:
        raise Unprocessable("the period must end after it starts", field="to")
    if (end - start) > timedelta(days=3660):
        raise Unprocessable("a period is at most ten years", field="to")


@dataclass
class Tally:
    """A sum in the business currency plus the amounts that had no rate, per currency."""

    total: Decimal = Decimal("0")
    unconverted: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def add(self, amount: Decimal, currency: str, exchange: Exchange) -> bool:
        """Add one amount; False when it had no rate (kept in `unconverted`)."""
        converted = exchange.convert(Decimal(amount), currency)
        if converted is None:
            self.unconverted[currency] += Decimal(amount)
            return False
        self.total += converted
        return True

    def leftovers(self) -> dict[str, Decimal]:
        return {c: v.quantize(CENT) for c, v in sorted(self.unconverted.items())}


async def completed_bookings(session: AsyncSession, before: datetime | None = None) -> list[tuple[str, datetime, Decimal, str]]:
    """(customer, completed at, amount, currency) of every completed (not cancelled) booking, before `before`."""
    where = [Booking.status == "completed"]
    if before is not None:
        where.append(Booking.completed_at < before)
    return await repo.select_rows(session, Booking.customer_id, Booking.completed_at, Booking.amount, Booking.currency,
                                  where=where)


async def report(session: AsyncSession, start: date, end: date) -> AcquisitionReport:
    """Per source, the files created in [start, end) (business time zone): count, booked, conversion, value."""
    check_period(start, end)
    settings = settings_of(session)
    exchange = exchange_of(session, await get_config(session))
    files = await repo.select_rows(session, Customer.id, Customer.acquisition_source, where=(
        Customer.status != "merged", Customer.created_at >= instant(start, settings.tz),
        Customer.created_at < instant(end, settings.tz)))
    source_of = {cid: source or UNKNOWN for cid, source in files}
    booked: dict[str, set[str]] = defaultdict(set)
    value: dict[str, Tally] = defaultdict(Tally)
    for cid, _, amount, currency in await completed_bookings(session):
        if (source := source_of.get(cid)) is not None:
            booked[source].add(cid)
            value[source].add(amount, currency, exchange)
    counts: dict[str, int] = defaultdict(int)
    for source in source_of.values():
        counts[source] += 1
    rows = [SourceRow(source=s, customers=n, booked=len(booked[s]), conversion=round(len(booked[s]) / n, 4),
                      value=value[s].total.quantize(CENT), unconverted=value[s].leftovers())
            for s, n in sorted(counts.items())]
    return AcquisitionReport(start=start, end=end, currency=exchange.currency, sources=rows)
