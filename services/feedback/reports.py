"""Scores for staff and for Prometheus: NPS, CSAT %, CSI, response rates by a dimension and a period."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from prometheus_client import Gauge
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from services.feedback import repository as repo
from services.feedback.models import Invitation, Response
from services.feedback.scores import Measures, Row, measure
from shared.db import settings_of

Dimension = Literal["product", "destination", "guide", "supplier", "channel", "tier", "kind", "period"]
Period = Literal["day", "week", "month", "quarter", "year"]
ROLLING_DAYS = 90


class Group(Measures):
    """The scores of one value of the dimension asked for (`key`: null for the whole)."""

    key: str | None


class WordOfMouth(BaseModel):
    """口碑 among promoters (NPS 9–10): how many referred another customer, and how many came referred by one
    (from loyalty's referral points, which name both)."""

    promoters: int
    referrers: int
    referrer_share: float | None
    referred: int
    referred_share: float | None


class Scores(BaseModel):
    start: date | None
    end: date | None
    by: str | None
    period: str
    weights: dict[str, float]
    small_sample_below: int
    overall: Group
    groups: list[Group]
    word_of_mouth: WordOfMouth


def _bucket(moment: datetime, tz: Any, period: Period) -> str:
    day = moment.astimezone(tz).date()
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    if period == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return str(day.year)


def _key(by: Dimension | None, period: Period, tz: Any) -> Callable[[Any, datetime | None], str | None]:
    if by is None:
        return lambda _row, _at: None
    if by == "period":
        return lambda _row, at: _bucket(at, tz, period) if at else None
    column = "product_id" if by == "product" else by
    return lambda row, _at: getattr(row, column)


async def scores(session: AsyncSession, *, by: Dimension | None, period: Period, start: date | None, end: date | None,
                 product: str | None = None, destination: str | None = None, supplier: str | None = None,
                 guide: str | None = None, element: str | None = None) -> Scores:
    """The measures overall and per group; the dates are business days (inclusive), in the business time zone."""
    cfg = await repo.config(session)
    tz = settings_of(session).tz
    lo = datetime.combine(start, time(0), tzinfo=tz) if start else None
    hi = datetime.combine(end + timedelta(days=1), time(0), tzinfo=tz) if end else None
    filters = {"product_id": product, "destination": destination, "supplier": supplier, "guide": guide}

    def keep(row: Response | Invitation) -> bool:
        return all(v is None or getattr(row, k) == v for k, v in filters.items())

    responses = [r for r in await repo.responses_between(session, lo, hi) if keep(r)]
    invited = [i for i in await repo.sent_between(session, lo, hi) if keep(i)]
    if element:
        responses = [r for r in responses if element in r.ratings]
    key = _key(by, period, tz)
    rows: dict[str | None, list[Row]] = defaultdict(list)
    sent: dict[str | None, int] = defaultdict(int)
    for r in responses:
        rows[key(r, r.submitted_at)].append(Row(r.nps, r.csat, r.ratings, r.sentiment_score))
    for i in invited:
        sent[key(i, i.sent_at)] += 1

    def group(name: str | None, members: Sequence[Row], invitations: int) -> Group:
        return Group(key=name, **measure(members, invitations, cfg.csi_weights, cfg.small_sample).model_dump())

    everyone = [row for members in rows.values() for row in members]
    groups = [group(k, rows.get(k, []), sent.get(k, 0)) for k in sorted(set(rows) | set(sent), key=lambda k: (k is None, k or ""))]
    promoters = {r.customer_id for r in responses if r.nps is not None and r.nps >= 9}
    referrers, referred = await repo.referrers(session, promoters), await repo.referred(session, promoters)

    def share(of: set[str]) -> float | None:
        return round(len(of) / len(promoters), 3) if promoters else None
    mouth = WordOfMouth(promoters=len(promoters), referrers=len(referrers), referrer_share=share(referrers),
                        referred=len(referred), referred_share=share(referred))
    return Scores(start=start, end=end, by=by, period=period, weights=cfg.csi_weights, small_sample_below=cfg.small_sample,
                  overall=group(None, everyone, sum(sent.values())), groups=groups if by else [], word_of_mouth=mouth)


def _gauges(registry: Any) -> tuple[Gauge, Gauge, Gauge, Gauge]:
    found = getattr(registry, "_feedback_gauges", None)
    if found is None:
        found = (Gauge("tourcrm_feedback_nps_rolling", f"NPS of the answers of the last {ROLLING_DAYS} days", registry=registry),
                 Gauge("tourcrm_feedback_response_rate", f"Answered / sent invitations of the last {ROLLING_DAYS} days",
                       registry=registry),
                 Gauge("tourcrm_feedback_responses_rolling", f"Answers of the last {ROLLING_DAYS} days", registry=registry),
                 Gauge("tourcrm_feedback_csi_rolling", f"Customer satisfaction index of the answers of the last {ROLLING_DAYS} days",
                       registry=registry))
        registry._feedback_gauges = found  # noqa: SLF001 - one set per service registry
    return found


async def refresh_gauges(session: AsyncSession, registry: Any, now: datetime) -> dict[str, float | None]:
    """Set the service's business gauges: rolling NPS, CSI, response rate and sample size."""
    since = now - timedelta(days=ROLLING_DAYS)
    cfg = await repo.config(session)
    responses = await repo.responses_between(session, since, None)
    invited = await repo.sent_between(session, since, None)
    m = measure([Row(r.nps, r.csat, r.ratings) for r in responses], len(invited), cfg.csi_weights, cfg.small_sample)
    nps_gauge, rate_gauge, count_gauge, csi_gauge = _gauges(registry)
    nps_gauge.set(m.nps if m.nps is not None else float("nan"))
    csi_gauge.set(m.csi if m.csi is not None else float("nan"))
    rate_gauge.set(m.response_rate if m.response_rate is not None else float("nan"))
    count_gauge.set(m.responses)
    return {"nps": m.nps, "csi": m.csi, "response_rate": m.response_rate}
