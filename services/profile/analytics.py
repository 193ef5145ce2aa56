"""Pure computations over a customer's facts: RFM by quintile, lifetime value, repeat and loyalty status,
value class by cumulative value share, the scale × loyalty quadrant, and churn risk with reasons.

Everything here is a function of its arguments (no clock, no database), so the results can be
checked against a hand-computed dataset.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
DEFAULT_VALUE_THRESHOLDS = (0.5, 0.8, 0.95)  # cumulative value share: most valuable / key / ordinary / small
LTV_HORIZON_YEARS = 3
TREATMENTS = {
    "large-high": "keep (保持): priority service, exclusive benefits and a personal account manager",
    "large-low": "build loyalty (培养忠诚): personal attention, tailored offers, find and remove what makes them drift",
    "small-high": "grow value (提升价值): upsell and cross-sell better products, referral incentives",
    "small-low": "serve efficiently (低成本维护): standard offers through low-cost channels, review periodically",
}


@dataclass(frozen=True, slots=True)
class Exchange:
    """Amounts in the business currency: its own as they are, others at a configured rate."""

    currency: str
    rates: Mapping[str, Decimal] = field(default_factory=dict)

    def convert(self, amount: Decimal, currency: str) -> Decimal | None:
        """The amount in the business currency, or None when there is no rate for `currency`."""
        if currency == self.currency:
            return Decimal(amount)
        rate = self.rates.get(currency)
        return None if rate is None else (Decimal(amount) * Decimal(rate)).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(slots=True)
class Facts:
    """One customer's completed (not cancelled) bookings, reduced. Money is in the business currency; bookings in a
    currency without a rate count as trips but not in `monetary`: their amounts are in `unconverted`."""

    frequency: int = 0
    monetary: Decimal = Decimal("0")
    first: datetime | None = None
    last: datetime | None = None
    rhythm_days: float | None = None  # mean days between consecutive bookings (2+ bookings)
    priced: int = 0  # bookings counted in `monetary`
    unconverted: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Spend:
    """A customer's completed bookings in one currency, reduced: how many, their total, the first and the last."""

    currency: str
    count: int
    amount: Decimal
    first: datetime
    last: datetime


def facts(spends: list[Spend], exchange: Exchange) -> Facts:
    """From the customer's live bookings, reduced per currency (`Spend`): a currency's total is converted at its
    rate (rounded once, to the cent), so the work is one row per currency however long the history."""
    if not spends:
        return Facts()
    frequency = sum(s.count for s in spends)
    first, last = min(s.first for s in spends), max(s.last for s in spends)
    rhythm = (last - first).total_seconds() / 86400 / (frequency - 1) if frequency >= 2 else None
    monetary, priced = Decimal("0"), 0
    unconverted: dict[str, Decimal] = {}
    for spend in spends:
        converted = exchange.convert(spend.amount, spend.currency)
        if converted is None:
            unconverted[spend.currency] = Decimal(spend.amount).quantize(CENT)
        else:
            monetary, priced = monetary + converted, priced + spend.count
    return Facts(frequency=frequency, monetary=monetary.quantize(CENT), first=first, last=last,
                 rhythm_days=round(rhythm, 2) if rhythm is not None else None, priced=priced, unconverted=unconverted)


def business_days_between(earlier: datetime, later: datetime, tz) -> int:  # noqa: ANN001
    """Whole calendar days between two instants, counted in the business time zone."""
    return (later.astimezone(tz).date() - earlier.astimezone(tz).date()).days


def quintile(value: float, population_sorted: list[float]) -> int:
    """1..5: 1 + ⌊5 × (share of the population strictly below value)⌋, ties share a score."""
    n = len(population_sorted)
    if n == 0:
        return 1
    below = bisect.bisect_left(population_sorted, value)
    return min(5, 1 + (5 * below) // n)


def repeat_status(frequency: int) -> str | None:
    if frequency <= 0:
        return None
    return "first-time" if frequency == 1 else "repeat" if frequency <= 3 else "frequent"


def loyalty_status(frequency: int, recency_days: int | None, rhythm_days: float | None) -> str | None:
    """new: one booking within a year; loyal: back within 1.5 × their own rhythm; else wavering."""
    if frequency <= 0 or recency_days is None:
        return None
    if frequency == 1:
        return "new" if recency_days <= 365 else "wavering"
    return "loyal" if recency_days <= 1.5 * (rhythm_days or 365) else "wavering"


def lifetime_value(f: Facts, now: datetime) -> Decimal:
    """Historical net spend + average order × bookings per year (tenure ≥ 1 year) × a 3-year horizon, all in the
    business currency: only priced bookings count (a booking in a currency without a rate is not projected at the
    average of the others; its amount is in `unconverted`)."""
    if f.priced == 0 or f.first is None:
        return Decimal("0.00")
    tenure_years = max((now - f.first).total_seconds() / 86400 / 365, 1.0)
    average = f.monetary / f.priced  # the average priced order
    per_year = Decimal(str(f.priced / tenure_years))
    return (f.monetary + average * per_year * LTV_HORIZON_YEARS).quantize(CENT, rounding=ROUND_HALF_UP)


def value_class(monetary: Decimal, greater_total: Decimal, total: Decimal, thresholds=DEFAULT_VALUE_THRESHOLDS) -> str:  # noqa: ANN001
    """By cumulative value share: the share of all value held by customers worth strictly more than this one."""
    if total <= 0 or monetary <= 0:
        return "small"
    before = float(greater_total / total)
    most, key, ordinary = thresholds
    if before < most:
        return "most-valuable"
    if before < key:
        return "key"
    if before < ordinary:
        return "ordinary"
    return "small"


def quadrant(value_cls: str | None, loyalty: str | None) -> str | None:
    if value_cls is None or loyalty is None:
        return None
    scale = "large" if value_cls in ("most-valuable", "key") else "small"
    return f"{scale}-{'high' if loyalty == 'loyal' else 'low'}"


@dataclass(slots=True)
class Signals:
    """What other services told us that bears on churn."""

    open_complaints: int = 0
    badly_handled: int = 0  # SLA breached, or closed with the customer not satisfied
    last_nps: int | None = None
    csat: list[float] = field(default_factory=list)  # oldest → newest
    expiring_points: int = 0
    expiring_on: date | None = None


def churn(frequency: int, recency_days: int | None, rhythm_days: float | None, signals: Signals,
          today: date) -> tuple[float, list[str]]:
    """A score in [0, 1] with its reasons; non-decreasing in recency, everything else equal."""
    score, reasons = 0.0, []
    if frequency > 0 and recency_days is not None:
        rhythm = rhythm_days or 365.0
        ratio = recency_days / rhythm
        score += 0.5 * min(1.0, ratio / 3)
        if ratio > 1:
            reasons.append(f"no booking for {recency_days} days, {ratio:.1f}x their usual {rhythm:.0f}-day rhythm")
    if signals.open_complaints:
        score += 0.15 * min(signals.open_complaints, 2)
        reasons.append(f"{signals.open_complaints} open complaint(s)")
    if signals.badly_handled:
        score += 0.15
        reasons.append(f"{signals.badly_handled} complaint(s) badly handled (SLA breached or customer not satisfied)")
    if signals.last_nps is not None and signals.last_nps <= 6:
        score += 0.2
        reasons.append(f"detractor score {signals.last_nps}")
    if len(signals.csat) >= 2 and signals.csat[-1] < signals.csat[-2]:
        score += 0.1
        reasons.append(f"satisfaction falling ({signals.csat[-2]:g} -> {signals.csat[-1]:g})")
    if signals.expiring_points > 0 and signals.expiring_on and 0 <= (signals.expiring_on - today).days <= 30:
        score += 0.1
        reasons.append(f"{signals.expiring_points} points lapse on {signals.expiring_on.isoformat()}")
    return round(min(1.0, score), 4), reasons
