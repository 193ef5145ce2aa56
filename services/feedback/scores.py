"""Satisfaction measures, pure: NPS, CSAT %, the customer satisfaction index (CSI), response rates.

- NPS = % promoters (9–10) − % detractors (0–6) of the answers to the NPS question, −100 … 100.
- CSAT % = share of CSAT answers that are 4 or 5, 0 … 100.
- CSI = Σ wₑ · (mean rating of element e − 1) / 4 · 100 / Σ wₑ over the elements rated at least once,
  with configurable weights per element (an element without weight counts 1), 0 … 100.
- response rate = answered / invitations sent (sent, answered or expired), 0 … 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict


def nps(scores: Sequence[int]) -> float | None:
    if not scores:
        return None
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return round(100 * (promoters - detractors) / len(scores), 1)


def csat_percent(scores: Sequence[int]) -> float | None:
    if not scores:
        return None
    return round(100 * sum(1 for s in scores if s >= 4) / len(scores), 1)


def element_means(ratings: Iterable[Mapping[str, int]]) -> dict[str, float]:
    sums: dict[str, list[int]] = {}
    for r in ratings:
        for element, value in r.items():
            sums.setdefault(element, []).append(value)
    return {e: round(sum(v) / len(v), 3) for e, v in sorted(sums.items())}


def csi(means: Mapping[str, float], weights: Mapping[str, float]) -> float | None:
    rated = {e: m for e, m in means.items() if weights.get(e, 1) > 0}
    if not rated:
        return None
    total = sum(weights.get(e, 1) for e in rated)
    return round(sum(weights.get(e, 1) * (m - 1) / 4 * 100 for e, m in rated.items()) / total, 1)


def is_detractor(nps_score: int | None, csat: int | None, sentiment: float | None, strongly_negative: float) -> list[str]:
    """Why an answer calls for recovery (empty: it does not): NPS 0–6, CSAT ≤ 2, a strongly negative comment."""
    reasons = []
    if nps_score is not None and nps_score <= 6:
        reasons.append("nps")
    if csat is not None and csat <= 2:
        reasons.append("csat")
    if sentiment is not None and sentiment <= strongly_negative:
        reasons.append("comment")
    return reasons


@dataclass(frozen=True)
class Row:
    """What the scores need of one response."""

    nps: int | None
    csat: int | None
    ratings: Mapping[str, int]
    sentiment: float | None = None


class Measures(BaseModel):
    """The scores of a group of answers (a product, a guide, a month…)."""

    model_config = ConfigDict(frozen=True)

    responses: int
    invited: int
    response_rate: float | None
    nps: float | None
    nps_sample: int
    promoters_pct: float | None
    detractors_pct: float | None
    csat_pct: float | None
    csat_sample: int
    csi: float | None
    elements: dict[str, float]
    sentiment_mean: float | None
    small_sample: bool


def measure(rows: Sequence[Row], invited: int, weights: Mapping[str, float], small: int) -> Measures:
    """Every measure of a group of responses; `invited`: the invitations sent to the group."""
    npss = [r.nps for r in rows if r.nps is not None]
    csats = [r.csat for r in rows if r.csat is not None]
    sentiments = [r.sentiment for r in rows if r.sentiment is not None]
    means = element_means(r.ratings for r in rows)
    pct = (lambda n: round(100 * n / len(npss), 1)) if npss else (lambda n: None)
    return Measures(
        responses=len(rows), invited=invited,
        response_rate=round(len(rows) / invited, 3) if invited else None,
        nps=nps(npss), nps_sample=len(npss),
        promoters_pct=pct(sum(1 for s in npss if s >= 9)), detractors_pct=pct(sum(1 for s in npss if s <= 6)),
        csat_pct=csat_percent(csats), csat_sample=len(csats),
        csi=csi(means, weights), elements=means,
        sentiment_mean=round(sum(sentiments) / len(sentiments), 3) if sentiments else None,
        small_sample=len(rows) < small,
    )
