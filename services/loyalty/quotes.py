"""Tier benefits at checkout: the quote (discount, free upgrade, points to redeem and to earn) and the use of
a free upgrade, once per booking and within the tier's yearly allowance.

The points a booking would earn come from `rules.booking_points`, the rule the consumer earns by — one
earning rule, read here without writing anything. The tier is the account's (a family head's, a pooling
enterprise's), as when the booking earns.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import repository, rules
from services.loyalty.checkout_schemas import Quote, QuoteCreate, Redeemable, UpgradeAllowance
from services.loyalty.models import Upgrade
from services.loyalty.programme import Programme
from services.loyalty.rules import CENT, effective_tier, floor_int
from shared.errors import Conflict, Unprocessable


async def _used(session: AsyncSession, account_id: str, year: int) -> int:
    return int((await session.execute(select(func.count()).select_from(Upgrade).where(
        Upgrade.customer_id == account_id, Upgrade.year == year))).scalar_one())


async def _upgrade_of(session: AsyncSession, booking_id: str) -> Upgrade | None:
    return (await session.execute(select(Upgrade).where(Upgrade.booking_id == booking_id))).scalar_one_or_none()


def _rate(prog: Programme, currency: str) -> Decimal:
    try:
        return rules.rate(prog, currency)
    except rules.EarnError as error:
        raise Unprocessable(str(error), field="currency") from None


async def quote(session: AsyncSession, customer_id: str, body: QuoteCreate, now: datetime) -> Quote:
    """What the member's tier gives on a booking of `body.amount`: the discount, a free upgrade, the points
    that can pay for it and the points it would earn."""
    member = await repository.require_member(session, customer_id)
    account = await repository.account_of(session, member)
    _, prog = await repository.programme(session)
    today = repository.local_date(session, now)
    tier = effective_tier(account, today)
    rule = prog.tier(tier)
    discount = (body.amount * rule.benefits.discount_pct / 100).quantize(CENT)
    after = body.amount - discount
    rate = _rate(prog, body.currency)
    _, _, earned = rules.booking_points(prog, tier, SimpleNamespace(amount=after, currency=body.currency,
                                                                     product=body.product))
    available = max(0, account.balance - await repository.held(session, account.customer_id, now))
    covers = floor_int((after * rate).quantize(CENT) * prog.cash_points_per_unit)  # points worth the amount
    redeemable = min(available, covers)
    used = await _used(session, account.customer_id, today.year)
    left = max(0, rule.benefits.free_upgrades - used)
    used_here = body.booking_id is not None and await _upgrade_of(session, body.booking_id) is not None
    return Quote(
        customer_id=member.customer_id, account_id=account.customer_id, tier=tier, tier_label=rule.label,
        amount=body.amount, currency=body.currency, discount_pct=rule.benefits.discount_pct, discount=discount,
        amount_after_discount=after,
        upgrade=UpgradeAllowance(per_year=rule.benefits.free_upgrades, used_this_year=used, left_this_year=left,
                                 available=left > 0 and not used_here),
        redeemable=Redeemable(points=redeemable, cash_value=prog.cash_value(redeemable), currency=prog.currency),
        points_to_earn=earned, earn_multiplier=rule.multiplier, benefits=rule.benefits,
    )


async def use_upgrade(session: AsyncSession, customer_id: str, booking_id: str,
                      now: datetime) -> tuple[Upgrade, int, bool]:
    """Use a free upgrade of the member's tier on a booking: (the upgrade, left this year, created).

    Once per booking: the same booking again gives the upgrade it used. The account's row is locked, so two
    bookings at once cannot both take the last upgrade of the year; one beyond the allowance is a 409."""
    member, account = await repository.require_account(session, customer_id)
    _, prog = await repository.programme(session)
    today = repository.local_date(session, now)
    allowance = prog.tier(effective_tier(account, today)).benefits.free_upgrades
    found = await _upgrade_of(session, booking_id)
    if found is not None:
        if found.customer_id != account.customer_id:
            raise Conflict(f"booking {booking_id} used another member's upgrade", code="booking_taken")
        return found, max(0, allowance - await _used(session, account.customer_id, found.year)), False
    used = await _used(session, account.customer_id, today.year)
    if used >= allowance:
        raise Conflict(f"no free upgrade left in {today.year}: {used} of {allowance} used",
                       code="no_upgrade_left", per_year=allowance, used_this_year=used)
    upgrade = Upgrade(booking_id=booking_id, customer_id=account.customer_id, used_by=member.customer_id,
                      tier=effective_tier(account, today), year=today.year, used_at=now)
    session.add(upgrade)
    await session.flush()
    return upgrade, allowance - used - 1, True

