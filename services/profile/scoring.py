"""Customer value and churn: RFM, lifetime value, value class, quadrant, churn risk. One scoring path,
`recompute_customers`, serves the consumer's end of batch (the customers it touched), a merge (the survivor) and
the nightly run (everyone): each customer is scored against the stored values of everyone else plus the fresh
facts of the customers being recomputed. Money counts in the business currency (`config.exchange_of`)."""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import analytics, population, repository as repo, value_inputs, value_review, winback
from services.profile.config import config_of, exchange_of
from services.profile.schemas import ValueConfig
from shared import events as ev
from shared import outbox
from shared.db import settings_of, utcnow

log = logging.getLogger(__name__)

TOUCHED = "profile.touched"  # session.info: customer ids whose value the batch must recompute
OPEN_LEADS = "profile.open_leads"  # session.info: of those, the ones with an open lead (for leads.settle_touched)


def touch(session: AsyncSession, *customer_ids: str) -> None:
    """Note customers whose value and churn the end of this batch (`recompute_touched`) recomputes."""
    session.info.setdefault(TOUCHED, set()).update(customer_ids)


async def recompute_touched(session: AsyncSession) -> None:
    """The consumer's after_batch hook: recompute, once each, the customers the batch's handlers touched (a stub whose
    event was rolled back has no file to value), and note which of them have an open lead (`OPEN_LEADS`)."""
    touched = session.info.pop(TOUCHED, None)
    if not touched:
        return
    inputs = await value_inputs.read(session, touched, config=True)
    session.info[OPEN_LEADS] = inputs.open_leads
    # their change moves others' ranks: the nightly run re-ranks them (mark_dirty)
    await recompute_customers(session, inputs.existing & touched, now=utcnow(), inputs=inputs, mark_dirty=True)


class Population:
    """The buyers' recency, frequency and value, sorted once, to score any number of customers against."""

    def __init__(self, lasts: list[datetime], freqs: list[int], moneys: list[Decimal]) -> None:
        self.lasts, self.freqs, self.moneys = sorted(lasts), sorted(freqs), sorted(moneys)
        self.prefix = [Decimal("0")]
        for m in self.moneys:
            self.prefix.append(self.prefix[-1] + m)
        self.total = self.prefix[-1]

    def score(self, f: analytics.Facts, thresholds: tuple[float, float, float]) -> tuple[int, int, int, str]:
        """(r, f, m, value class) of a buyer who is part of this population."""
        greater = self.total - self.prefix[bisect.bisect_right(self.moneys, f.monetary)]
        return (analytics.quintile(f.last, self.lasts), analytics.quintile(f.frequency, self.freqs),
                analytics.quintile(f.monetary, self.moneys),
                analytics.value_class(f.monetary, greater, self.total, thresholds))


async def _population(session: AsyncSession, fresh: dict[str, analytics.Facts],
                      stored: dict[str, dict[str, Any]]) -> Population | population.View | None:
    """Everyone else's stored value and these customers' fresh facts (`stored`: their stored rows); None when nobody
    here bought anything. The process's population (population.py) with this batch's changes; a full read of the
    stored buyers when it cannot serve."""
    removed = [population.point(r["last_booking_at"], r["frequency"], r["monetary"])
               for r in stored.values() if r["frequency"] > 0]
    added = [population.point(f.last, f.frequency, f.monetary)  # type: ignore[arg-type]
             for f in fresh.values() if f.frequency > 0]
    if not added:
        population.note(session, removed, [])
        return None
    return await population.view(session, removed, added) or await full_population(session, fresh)


async def full_population(session: AsyncSession, fresh: dict[str, analytics.Facts]) -> Population:
    """Every stored buyer but these customers, and these customers' fresh facts, read from the database."""
    lasts: list[datetime] = []
    freqs: list[int] = []
    moneys: list[Decimal] = []
    for cid, last, frequency, monetary in await repo.stored_buyers(session):
        if cid not in fresh:
            lasts.append(last)
            freqs.append(frequency)
            moneys.append(Decimal(monetary))
    for f in fresh.values():
        if f.frequency > 0:
            lasts.append(f.last)  # type: ignore[arg-type]
            freqs.append(f.frequency)
            moneys.append(f.monetary)
    return Population(lasts, freqs, moneys)


async def recompute_customers(session: AsyncSession, customer_ids: Iterable[str], *, now: datetime | None = None,
                              tz: ZoneInfo | None = None, config: ValueConfig | None = None,
                              inputs: value_inputs.ValueInputs | None = None,
                              mark_dirty: bool = False) -> dict[str, SimpleNamespace]:
    """These customers' value and churn, each scored against the population: the stored values of everyone
    else plus these customers' fresh facts. Set-based: the inputs read by one query per 500 customers
    (`value_inputs.read`, with the configuration when not given), the rows written back by one upsert (no ORM
    objects: they cost more than the scoring). `inputs`: read already (with the configuration, when not given);
    `mark_dirty`: the customers are marked for the nightly run (`repo.mark_dirty`) by the same statement."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    now = now or utcnow()
    tz = tz or settings_of(session).tz
    inputs = inputs or await value_inputs.read(session, ids, config=config is None)
    if config is None:
        config = config_of(inputs.config)
    exchange = exchange_of(session, config)
    facts = {cid: analytics.facts(inputs.trips.get(cid, []), exchange) for cid in ids}
    stored = {cid: inputs.rows[cid] for cid in ids if cid in inputs.rows}
    scored_against = await _population(session, facts, stored)
    rows: dict[str, SimpleNamespace] = {}
    today = now.astimezone(tz).date()
    for cid in ids:
        row = rows[cid] = SimpleNamespace(**(stored.get(cid) or _fresh(cid)))
        _score(row, facts[cid], scored_against, config, now, tz)
        signals = _signals(inputs.complaints.get(cid, []), inputs.feedback.get(cid, []), inputs.members.get(cid))
        score, reasons = analytics.churn(row.frequency, row.recency_days, row.rhythm_days, signals, today)
        await _apply_churn(session, row, score, reasons, config.churn_threshold, now)
        row.review_on = value_review.review_on(row.frequency, row.recency_days, row.rhythm_days, signals, today,
                                               config.churn_threshold)
        row.computed_at = now
    await repo.write_values(session, [vars(row) for row in rows.values()], dirty=mark_dirty)
    return rows


def _fresh(customer_id: str) -> dict[str, Any]:
    """The columns of a customer's first value row (the model's defaults)."""
    return {"customer_id": customer_id, "frequency": 0, "monetary": Decimal("0"), "first_booking_at": None,
            "last_booking_at": None, "recency_days": None, "rhythm_days": None, "r_score": None, "f_score": None,
            "m_score": None, "lifetime_value": Decimal("0"), "repeat_status": None, "loyalty_status": None,
            "value_class": None, "quadrant": None, "churn_score": 0.0, "churn_reasons": [], "at_risk": False,
            "at_risk_since": None, "computed_at": None, "unconverted": {}, "review_on": None}


async def recompute_customer(session: AsyncSession, customer_id: str, *, now: datetime | None = None,
                             tz: ZoneInfo | None = None, config: ValueConfig | None = None) -> SimpleNamespace:
    """One customer's value and churn, scored against the stored rest of the population."""
    rows = await recompute_customers(session, [customer_id], now=now, tz=tz, config=config, mark_dirty=True)
    return rows[customer_id]


async def recompute_all(session: AsyncSession, *, now: datetime | None = None, tz: ZoneInfo | None = None) -> int:
    """The nightly run: every customer with a value, through `recompute_customers` (so against everyone's fresh facts)."""
    ids = await repo.valued_customer_ids(session)
    await recompute_customers(session, ids, now=now, tz=tz)
    await session.flush()
    log.info("customer values recomputed", extra={"customers": len(ids)})
    return len(ids)


def _score(row: SimpleNamespace, f: analytics.Facts, against: Population | population.View | None, config: ValueConfig,
           now: datetime, tz: ZoneInfo) -> None:
    row.frequency, row.monetary, row.first_booking_at, row.last_booking_at, row.rhythm_days = (
        f.frequency, f.monetary, f.first, f.last, f.rhythm_days)
    row.unconverted = {currency: str(amount) for currency, amount in sorted(f.unconverted.items())}
    row.recency_days = analytics.business_days_between(f.last, now, tz) if f.last else None
    if f.frequency > 0 and against is not None:
        row.r_score, row.f_score, row.m_score, row.value_class = against.score(f, config.value_class_thresholds)
    else:
        row.r_score = row.f_score = row.m_score = None
        row.value_class = None
    row.lifetime_value = analytics.lifetime_value(f, now)
    row.repeat_status = analytics.repeat_status(f.frequency)
    row.loyalty_status = analytics.loyalty_status(f.frequency, row.recency_days, f.rhythm_days)
    row.quadrant = analytics.quadrant(row.value_class, row.loyalty_status)


def _signals(complaints: list[SimpleNamespace], feedback: list[SimpleNamespace],
             member: SimpleNamespace | None) -> analytics.Signals:
    nps = [f.nps for f in feedback if f.nps is not None]
    detractor_flags = [f for f in feedback if f.detractor]
    last_nps = nps[-1] if nps else (detractor_flags[-1].nps if detractor_flags else None)
    return analytics.Signals(
        open_complaints=sum(1 for c in complaints if c.status == "open"),
        badly_handled=sum(1 for c in complaints if c.sla_met is False or c.satisfied is False),
        last_nps=last_nps,
        csat=[f.csat for f in feedback if f.csat is not None],
        expiring_points=member.expiring_points if member else 0,
        expiring_on=member.expiring_on if member else None,
    )


async def _apply_churn(session: AsyncSession, row: SimpleNamespace, score: float, reasons: list[str], threshold: float,
                       now: datetime) -> None:
    row.churn_score, row.churn_reasons = score, reasons
    if winback.booked_since_mark(row):  # won back: a booking after the mark clears it, whatever the score says
        row.at_risk, row.at_risk_since = False, None
        await winback.close(session, row.customer_id, now, ended_by="booking")
    elif score >= threshold and not row.at_risk:
        row.at_risk, row.at_risk_since = True, now
        winback.mark(session, row, now)
        outbox.emit(session, ev.CustomerAtRisk(customer_id=row.customer_id, score=score, reasons=reasons),
                    row.customer_id)
    elif score < threshold and row.at_risk:
        row.at_risk, row.at_risk_since = False, None  # the episode is over; a new crossing is a new episode
        await winback.close(session, row.customer_id, now, ended_by="score")
