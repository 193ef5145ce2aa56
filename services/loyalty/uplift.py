"""The arithmetic of a campaign with a control group, pure: who goes to which group, the figures of each group,
the uplift with a 95% Welch's t interval, and the ROI on margin. Nothing here reads or writes the database.

A member's group comes from a hash of (campaign id, customer id): random across members, the same however often
it is asked; segments.py records it once, when the member becomes eligible.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

CENT = Decimal("0.01")
RATIO = Decimal("0.0001")
CONFIDENCE = 0.95


def group_of(campaign_id: str, customer_id: str, control_pct: Decimal) -> str:
    """'control' for about `control_pct` % of the members, 'treated' for the others; deterministic."""
    digest = hashlib.sha256(f"{campaign_id}\x00{customer_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % 10_000  # 0.01 % steps
    return "control" if bucket < control_pct * 100 else "treated"


@dataclass(slots=True)
class Member:
    """One member's figures over the campaign window (zeros when it did not book)."""

    bookings: int
    revenue: Decimal
    margin: Decimal


@dataclass(slots=True)
class GroupFigures:
    members: int
    participants: int
    bookings: int
    revenue: Decimal
    margin: Decimal

    def per_member(self, total: Decimal | int) -> Decimal | None:
        return Decimal(total) / self.members if self.members else None


def figures(members: Sequence[Member]) -> GroupFigures:
    return GroupFigures(members=len(members), participants=sum(1 for m in members if m.bookings > 0),
                        bookings=sum(m.bookings for m in members),
                        revenue=sum((m.revenue for m in members), Decimal(0)),
                        margin=sum((m.margin for m in members), Decimal(0)))


def mean_and_variance(values: Sequence[Decimal]) -> tuple[float, float]:
    """The mean and the sample variance (n − 1)."""
    xs = [float(v) for v in values]
    mean = sum(xs) / len(xs)
    return mean, sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)


def welch_interval(treated: Sequence[Decimal], control: Sequence[Decimal],
                   confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The confidence interval of mean(treated) − mean(control) by Welch's t (unequal variances); None with
    fewer than two members in a group."""
    if len(treated) < 2 or len(control) < 2:
        return None
    (m1, v1), (m0, v0) = mean_and_variance(treated), mean_and_variance(control)
    a, b = v1 / len(treated), v0 / len(control)
    diff, se = m1 - m0, math.sqrt(a + b)
    if se == 0:
        return diff, diff
    df = (a + b) ** 2 / (a * a / (len(treated) - 1) + b * b / (len(control) - 1))
    half = t_quantile(0.5 + confidence / 2, df) * se
    return diff - half, diff + half


def share(part: int, whole: int) -> str | None:
    """part / whole to 4 places, as text (None of nothing)."""
    return str((Decimal(part) / whole).quantize(RATIO)) if whole else None


def roi(incremental_margin: Decimal, cost: Decimal) -> Decimal | None:
    """(incremental margin − cost) / cost; None when the campaign cost nothing."""
    return ((incremental_margin - cost) / cost).quantize(RATIO) if cost > 0 else None


# --- Student's t ---------------------------------------------------------------------------------


def t_quantile(p: float, df: float) -> float:
    """The p-quantile (p > 0.5) of Student's t with `df` (real) degrees of freedom, by bisection on the CDF."""
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2


def t_cdf(t: float, df: float) -> float:
    tail = 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t >= 0 else tail


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (continued fraction, Lentz)."""
    if x <= 0 or x >= 1:
        return 0.0 if x <= 0 else 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x > (a + 1) / (a + b + 2):
        return 1 - _betainc(b, a, 1 - x)
    tiny, c, d = 1e-300, 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return front * f / a
