"""Customer source and acquisition: how each customer came (referral, advertising, OTA, walk-in, partner agency,
franchise store, event; `unknown` when not recorded), and per source, for the files created in a period: how many,
how many booked at least once (first-booking conversion), and the value of their completed bookings. Value is in
the business currency at the configured rates; amounts in a currency without a rate are reported per currency as
`unconverted`, never added to it. Counted and summed in the database (GROUP BY), whatever the number of files."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, null, select
from sqlmodel.ext.asyncio.session import AsyncSession

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


def priced_currencies(exchange: Exchange) -> list[str]:
    """The currencies whose amounts count in the business currency: it, and those with a rate."""
    return sorted({exchange.currency, *exchange.rates})


async def tallies(session: AsyncSession, exchange: Exchange, group: Any, *where: Any) -> dict[Any, Tally]:
    """Per value of `group` (a column or expression over booking), the Tally of the completed bookings matching
    `where`, summed in the database. Amounts in a rated currency are converted booking by booking as `Tally.add`
    does (so grouped by amount: each distinct amount converted once, times its count)."""
    rated = [c for c in priced_currencies(exchange) if c != exchange.currency]
    each = case((Booking.currency.in_(rated), Booking.amount), else_=None) if rated else null()
    rows = select(group.label("g"), Booking.currency.label("currency"), each.label("each"),
                  Booking.amount.label("amount")).where(Booking.status == "completed", *where).subquery()
    query = select(rows.c.g, rows.c.currency, rows.c.each, func.count(), func.sum(rows.c.amount)).group_by(
        rows.c.g, rows.c.currency, rows.c.each)
    found: dict[Any, Tally] = defaultdict(Tally)
    for key, currency, amount, count, total in (await session.execute(query)).all():
        tally = found[key]
        if currency == exchange.currency:
            tally.total += Decimal(total)
        elif amount is not None:
            tally.total += exchange.convert(Decimal(amount), currency) * count  # type: ignore[operator]
        else:
            tally.unconverted[currency] += Decimal(total)
    return found


async def report(session: AsyncSession, start: date, end: date) -> AcquisitionReport:
    """Per source, the files created in [start, end) (business time zone): count, booked, conversion, value;
    counted and summed in the database."""
    check_period(start, end)
    settings = settings_of(session)
    exchange = exchange_of(session, await get_config(session))
    source = func.coalesce(func.nullif(Customer.acquisition_source, ""), UNKNOWN)
    files = (Customer.status != "merged", Customer.created_at >= instant(start, settings.tz),
             Customer.created_at < instant(end, settings.tz))
    counts = dict((await session.execute(select(source, func.count()).where(*files).group_by(source))).all())
    booked = dict((await session.execute(
        select(source, func.count(func.distinct(Customer.id))).join(Booking, Booking.customer_id == Customer.id)
        .where(*files, Booking.status == "completed").group_by(source))).all())
    value = await tallies(session, exchange, source, Customer.id == Booking.customer_id, *files)
    rows = [SourceRow(source=s, customers=n, booked=booked.get(s, 0), conversion=round(booked.get(s, 0) / n, 4),
                      value=value[s].total.quantize(CENT), unconverted=value[s].leftovers())
            for s, n in sorted(counts.items())]
    return AcquisitionReport(start=start, end=end, currency=exchange.currency, sources=rows)
