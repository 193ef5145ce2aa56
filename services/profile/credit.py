"""Credit management (资信管理) of an organisation: limit and currency, payment terms, charges (bookings on account)
and payments, outstanding and overdue per currency, the exposure compared with the limit, the credit rating with its
history, and the over-limit flag with its history.

Money never mixes currencies: outstanding and overdue are per currency. The exposure is in the limit's currency:
outstanding amounts in that currency, plus positive outstanding amounts in other currencies converted at the
configured exchange rates (GET/PUT /v1/config); currencies without a rate are reported as `unconverted` and not
counted. A charge that takes the organisation over its limit is still recorded (the booking happened) and is
flagged, and the organisation is flagged over its limit until payments or a higher limit bring it back under."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import repository as repo
from services.profile.account_models import (
    CreditCharge, CreditFlagChange, CreditPayment, CreditRatingChange, Organisation,
)
from services.profile.account_schemas import (
    ChargeIn, ChargePublic, ChargeRecorded, CreditPublic, CreditTermsIn, FlagChangePublic, PaymentIn, PaymentPublic,
    PaymentRecorded, RatingChangePublic, RatingIn,
)
from services.profile.analytics import CENT, Exchange
from services.profile.config import exchange_of, get_config
from services.profile.organisations import get
from shared.db import settings_of, utcnow
from shared.errors import Conflict

ZERO = Decimal("0.00")


# --- the rules (pure) -----------------------------------------------------------------------------------------


@dataclass
class Balance:
    outstanding: dict[str, Decimal] = field(default_factory=dict)
    overdue: dict[str, Decimal] = field(default_factory=dict)
    exposure: Decimal | None = None
    unconverted: dict[str, Decimal] = field(default_factory=dict)


def to_currency(amount: Decimal, source: str, target: str, exchange: Exchange) -> Decimal | None:
    """`amount` in `source` expressed in `target` through the business currency's rates; None without a rate."""
    if source == target:
        return amount
    in_business = exchange.convert(amount, source)
    if in_business is None:
        return None
    if target == exchange.currency:
        return in_business
    rate = exchange.rates.get(target)
    return None if rate is None else (in_business / Decimal(rate)).quantize(CENT, rounding=ROUND_HALF_UP)


def balance(charges: list[tuple[Decimal, str, date]], payments: list[tuple[Decimal, str]], today: date,
            limit_currency: str | None, exchange: Exchange) -> Balance:
    """Outstanding = charges − payments and overdue = charges due before `today` − payments (payments settle the
    oldest charges first), each per currency; the exposure in the limit's currency."""
    charged: dict[str, Decimal] = defaultdict(Decimal)
    due: dict[str, Decimal] = defaultdict(Decimal)
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for amount, currency, due_on in charges:
        charged[currency] += amount
        if due_on < today:
            due[currency] += amount
    for amount, currency in payments:
        paid[currency] += amount
    out = Balance()
    for currency in sorted(set(charged) | set(paid)):
        out.outstanding[currency] = (charged[currency] - paid[currency]).quantize(CENT)
        out.overdue[currency] = max(ZERO, due[currency] - paid[currency]).quantize(CENT)
    if limit_currency is not None:
        exposure = out.outstanding.get(limit_currency, ZERO)
        for currency, amount in out.outstanding.items():
            if currency == limit_currency or amount <= 0:
                continue
            converted = to_currency(amount, currency, limit_currency, exchange)
            if converted is None:
                out.unconverted[currency] = amount
            else:
                exposure += converted
        out.exposure = exposure.quantize(CENT)
    return out


def is_over(limit: Decimal | None, exposure: Decimal | None) -> bool:
    return limit is not None and exposure is not None and exposure > limit


# --- use cases ------------------------------------------------------------------------------------------------


def _today(session: AsyncSession) -> date:
    return utcnow().astimezone(settings_of(session).tz).date()


async def _balance(session: AsyncSession, org: Organisation) -> Balance:
    charges = await repo.select_rows(session, CreditCharge.amount, CreditCharge.currency, CreditCharge.due_on,
                                     where=(CreditCharge.organisation_id == org.id,))
    payments = await repo.select_rows(session, CreditPayment.amount, CreditPayment.currency,
                                      where=(CreditPayment.organisation_id == org.id,))
    exchange = exchange_of(session, await get_config(session))
    return balance([(Decimal(a), c, d) for a, c, d in charges], [(Decimal(a), c) for a, c in payments],
                   _today(session), org.credit_currency, exchange)


async def _reflag(session: AsyncSession, org: Organisation, cause: str, now: datetime) -> Balance:
    """Flag the organisation over its limit (or clear the flag) when that changed, keeping the history."""
    await session.flush()
    b = await _balance(session, org)
    over = is_over(org.credit_limit, b.exposure)
    if over != org.over_limit:
        org.over_limit, org.over_limit_since = over, now if over else None
        session.add(CreditFlagChange(organisation_id=org.id, over_limit=over, exposure=b.exposure or ZERO,
                                     credit_limit=org.credit_limit or ZERO, currency=org.credit_currency or "",
                                     cause=cause, changed_at=now))
        await session.flush()
    return b


async def view(session: AsyncSession, organisation_id: str) -> CreditPublic:
    """The organisation's credit standing as of today, with its rating and over-limit history."""
    return await _view(session, await get(session, organisation_id))


async def _view(session: AsyncSession, org: Organisation, b: Balance | None = None) -> CreditPublic:
    b = b or await _balance(session, org)
    ratings = await repo.rows(session, CreditRatingChange, where=(CreditRatingChange.organisation_id == org.id,),
                              order=(CreditRatingChange.id,))
    flags = await repo.rows(session, CreditFlagChange, where=(CreditFlagChange.organisation_id == org.id,),
                            order=(CreditFlagChange.id,))
    available = (org.credit_limit - b.exposure) if org.credit_limit is not None and b.exposure is not None else None
    return CreditPublic(
        organisation_id=org.id, credit_limit=org.credit_limit, currency=org.credit_currency,
        payment_terms_days=org.payment_terms_days, rating=org.credit_rating, outstanding=b.outstanding,
        overdue=b.overdue, exposure=b.exposure, unconverted=b.unconverted, available=available,
        over_limit=org.over_limit, over_limit_since=org.over_limit_since, as_of=_today(session),
        rating_history=[RatingChangePublic(old=r.old_rating, new=r.new_rating, reason=r.reason, changed_by=r.changed_by,
                                           changed_at=r.changed_at) for r in ratings],
        flag_history=[FlagChangePublic(over_limit=f.over_limit, exposure=f.exposure, credit_limit=f.credit_limit,
                                       currency=f.currency, cause=f.cause, changed_at=f.changed_at) for f in flags])


async def set_terms(session: AsyncSession, organisation_id: str, body: CreditTermsIn) -> CreditPublic:
    """Credit limit, its currency and the payment terms; the flag follows the new limit."""
    org = await get(session, organisation_id, for_update=True)
    now = utcnow()
    org.credit_limit, org.credit_currency, org.payment_terms_days = body.credit_limit, body.currency, body.payment_terms_days
    org.updated_at = now
    return await _view(session, org, await _reflag(session, org, "credit terms changed", now))


async def rate(session: AsyncSession, organisation_id: str, body: RatingIn, *, changed_by: str) -> CreditPublic:
    """A new credit rating, kept in the history with who, when and why (no entry when it is the same rating)."""
    org = await get(session, organisation_id, for_update=True)
    if body.rating != org.credit_rating:
        now = utcnow()
        session.add(CreditRatingChange(organisation_id=org.id, old_rating=org.credit_rating, new_rating=body.rating,
                                       reason=body.reason, changed_by=changed_by, changed_at=now))
        org.credit_rating, org.updated_at = body.rating, now
        await session.flush()
    return await _view(session, org)


async def _once(session: AsyncSession, column: Any, value: str, organisation_id: str, field: str, message: str) -> None:
    """A 409 naming `field` when the organisation already has a row with this business key (a retry never doubles)."""
    table = column.class_
    if await repo.select_rows(session, column, where=(table.organisation_id == organisation_id, column == value)):
        raise Conflict(f"{field} {value} is {message} for organisation {organisation_id}",
                       errors=[{"field": field, "message": message}])


async def charge(session: AsyncSession, organisation_id: str, body: ChargeIn) -> ChargeRecorded:
    """A booking on account, due after the payment terms; recorded even when it takes the organisation over its
    limit (then the charge and the organisation are flagged). Once per booking id."""
    org = await get(session, organisation_id, for_update=True)
    await _once(session, CreditCharge.booking_id, body.booking_id, org.id, "booking_id", "already charged")
    now = utcnow()
    row = CreditCharge(organisation_id=org.id, booking_id=body.booking_id, customer_id=body.customer_id,
                       amount=body.amount, currency=body.currency, booked_on=body.booked_on,
                       due_on=body.booked_on + timedelta(days=org.payment_terms_days), recorded_at=now)
    session.add(row)
    b = await _reflag(session, org, f"charge {body.booking_id}", now)
    row.over_limit = is_over(org.credit_limit, b.exposure)
    return ChargeRecorded(charge=ChargePublic(
        booking_id=row.booking_id, customer_id=row.customer_id, amount=row.amount, currency=row.currency,
        booked_on=row.booked_on, due_on=row.due_on, over_limit=row.over_limit), credit=await _view(session, org, b))


async def pay(session: AsyncSession, organisation_id: str, body: PaymentIn) -> PaymentRecorded:
    """A payment received, once per reference; it may bring the organisation back under its limit."""
    org = await get(session, organisation_id, for_update=True)
    await _once(session, CreditPayment.reference, body.reference, org.id, "reference", "already recorded")
    now = utcnow()
    session.add(CreditPayment(organisation_id=org.id, reference=body.reference, amount=body.amount,
                              currency=body.currency, paid_on=body.paid_on, recorded_at=now))
    b = await _reflag(session, org, f"payment {body.reference}", now)
    return PaymentRecorded(payment=PaymentPublic(reference=body.reference, amount=body.amount, currency=body.currency,
                                                 paid_on=body.paid_on), credit=await _view(session, org, b))
