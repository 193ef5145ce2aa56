"""When the passage of time alone next changes a customer's value row: the first business day on which, with no new
booking and no other new fact, the loyalty status, the churn reasons about recency, the at-risk side of the churn
threshold or the points-lapsing signal would come out differently. The nightly run recomputes the rows due by
then (`review_on <= today`) and no others; between those days the figures that move every day (recency in days,
the churn score below the threshold, projected lifetime value) stay as of `computed_at`."""

from __future__ import annotations

import math
from datetime import date, timedelta

from services.profile import analytics

_FAR = 4000  # days: past 3 × any rhythm the score no longer moves, past 1.5 × rhythm or 365 the status neither


def _key(frequency: int, days: int, rhythm: float | None, signals: analytics.Signals, today: date,
         threshold: float) -> tuple:
    """What a row shows that changes in steps as recency grows by `days`."""
    score, reasons = analytics.churn(frequency, days, rhythm, signals, today)
    return analytics.loyalty_status(frequency, days, rhythm), score >= threshold, len(reasons)


def _guesses(frequency: int, rhythm: float | None, signals: analytics.Signals, today: date,
             threshold: float) -> list[int]:
    """Recencies at or near which each part changes (loyalty status, the recency reason, the threshold)."""
    cycle = rhythm or 365.0
    found = [366 if frequency == 1 else math.floor(1.5 * cycle) + 1, math.floor(cycle) + 1]
    others = analytics.churn(frequency, 0, rhythm, signals, today)[0]  # the score without recency
    if threshold - others <= 0.5:
        found.append(math.ceil((threshold - others) * 6 * cycle))
    return found


def _recency_step(frequency: int, recency: int, rhythm: float | None, signals: analytics.Signals, today: date,
                  threshold: float) -> int | None:
    """Days from now until the first recency-driven change. Each part changes at most once as recency grows, so
    the first change is found from the closed-form guesses, checked on the exact functions (bisection if off)."""
    def key(days: int) -> tuple:
        return _key(frequency, days, rhythm, signals, today, threshold)

    now_key = key(recency)
    ahead = [g for g in _guesses(frequency, rhythm, signals, today, threshold) if g > recency]
    guess = min(ahead) if ahead else recency + 1
    if key(guess) != now_key and (guess == recency + 1 or key(guess - 1) == now_key):
        return guess - recency
    high = recency + _FAR + int(3 * (rhythm or 365))
    if key(high) == now_key:
        return None
    low = recency  # invariant: key(low) == now_key != key(high)
    while high - low > 1:
        middle = (low + high) // 2
        if key(middle) == now_key:
            low = middle
        else:
            high = middle
    return high - recency


def review_on(frequency: int, recency_days: int | None, rhythm_days: float | None, signals: analytics.Signals,
              today: date, threshold: float) -> date | None:
    """The first day after `today` on which this row, recomputed with nothing new, would change; None for never."""
    candidates: list[date] = []
    if frequency > 0 and recency_days is not None:
        step = _recency_step(frequency, recency_days, rhythm_days, signals, today, threshold)
        if step is not None:
            candidates.append(today + timedelta(days=step))
    if signals.expiring_points > 0 and signals.expiring_on is not None:
        opens, closes = signals.expiring_on - timedelta(days=30), signals.expiring_on + timedelta(days=1)
        candidates += [d for d in (opens, closes) if d > today]
    return min(candidates, default=None)
