"""Tier benefits at checkout: the quote, and the use of a free upgrade (once per booking, Idempotency-Key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import quotes
from services.loyalty.api.redemptions import IdempotencyKey
from services.loyalty.checkout_schemas import Quote, QuoteCreate, UpgradeCreate, UpgradePublic
from services.loyalty.schemas import Id
from shared import idempotency
from shared.app import ReadSessionDep
from shared.auth import Scope
from shared.db import utcnow

router = APIRouter(prefix="/v1", tags=["loyalty"])


@router.post("/members/{customer_id}/quote", response_model=Quote)
async def quote(customer_id: Id, body: QuoteCreate, client: Scope("loyalty:read", customers=True),
                session: ReadSessionDep) -> Quote:
    """What the member's tier gives on a booking: the discount and the amount after it, a free upgrade (and how
    many are left this year), the points that can pay for it and their value, the points it would earn.
    Changes nothing."""
    return await quotes.quote(session, customer_id, body, utcnow())


@router.post("/members/{customer_id}/upgrades", status_code=201, response_model=UpgradePublic,
             responses={200: {"model": UpgradePublic, "description": "this booking used its upgrade already"}})
async def use_upgrade(customer_id: Id, body: UpgradeCreate, request: Request,
                      client: Scope("loyalty:redeem", customers=True),
                      idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Use a free upgrade of the member's tier on a booking: once per booking; 409 when the year's are used."""

    async def action(session: AsyncSession) -> tuple[int, Any]:
        upgrade, left, created = await quotes.use_upgrade(session, customer_id, body.booking_id, utcnow())
        answer = UpgradePublic(booking_id=upgrade.booking_id, customer_id=upgrade.customer_id,
                               used_by=upgrade.used_by, tier=upgrade.tier, year=upgrade.year, used_at=upgrade.used_at,
                               left_this_year=left)
        return (201 if created else 200), answer.model_dump(mode="json")

    return await idempotency.respond_once(request, client.name, idempotency_key, body, action)
