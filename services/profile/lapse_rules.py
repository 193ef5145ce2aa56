"""Pure rules of churn analysis (客户流失分析): the switching cause a customer's complaints suggest, and a lost
customer's average yearly booking value. Functions of their arguments only (no clock, no database)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from services.profile.analytics import CENT, Exchange
from services.profile.models import ComplaintView

# complaint category (complaints service) → switching cause (Keaveney 1995)
CATEGORY_CAUSE = {
    "price": "price",
    "product_not_as_described": "core-service-failure",
    "service_quality": "core-service-failure",
    "safety_incident": "core-service-failure",
    "communication": "service-encounter-failure",
    "slow_response": "response-to-failure",
}
YEAR_SECONDS = Decimal(365 * 86400)


def suggest(complaints: list[ComplaintView]) -> tuple[str, list[str], str] | None:
    """(cause, complaint ids, basis) suggested by the customer's complaints, or None: a complaint handled badly (SLA
    breached, customer not satisfied) suggests a poor response to the failure; otherwise the cause most of the
    complaints' categories map to (ties: the latest complaint's)."""
    badly = [c for c in complaints if c.sla_met is False or c.satisfied is False]
    if badly:
        return "response-to-failure", [c.complaint_id for c in badly], "complaint handled badly"
    mapped = [(CATEGORY_CAUSE[c.category], c) for c in complaints if c.category in CATEGORY_CAUSE]
    if not mapped:
        return None
    counts = Counter(cause for cause, _ in mapped)
    top = max(counts.values())
    cause = next(cause for cause, _ in reversed(mapped) if counts[cause] == top)
    return cause, [c.complaint_id for k, c in mapped if k == cause], "complaint category"


def yearly_value(trips: list[tuple[datetime, Decimal, str]],
                 exchange: Exchange) -> tuple[Decimal, dict[str, Decimal]]:
    """Average yearly booking value of (completed_at, amount, currency) trips: their total over the years between
    the first and the last (at least one), in the business currency; amounts without a rate per currency apart."""
    if not trips:
        return Decimal("0.00"), {}
    moments = [t[0] for t in trips]
    years = max(Decimal(1), Decimal(int((max(moments) - min(moments)).total_seconds())) / YEAR_SECONDS)
    total = Decimal("0")
    unconverted: dict[str, Decimal] = {}
    for _, amount, currency in trips:
        converted = exchange.convert(Decimal(amount), currency)
        if converted is None:
            unconverted[currency] = unconverted.get(currency, Decimal("0")) + Decimal(amount)
        else:
            total += converted
    per_year = {c: (a / years).quantize(CENT, rounding=ROUND_HALF_UP) for c, a in sorted(unconverted.items())}
    return (total / years).quantize(CENT, rounding=ROUND_HALF_UP), per_year
