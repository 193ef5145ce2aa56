"""Redemptions at checkout (hold, capture, release) and admin adjustments: the routes that move points."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import bonuses, checkout_calls, redemptions, repository
from services.loyalty.models import Redemption
from services.loyalty.schemas import (
    Adjustment, AdjustmentPublic, Id, RedemptionCreate, RedemptionPublic, entry_public,
)
from shared import idempotency
from shared.app import ReadSessionDep, RuntimeDep
from shared.auth import Client, Scope
from shared.db import utcnow
from shared.errors import NotFound
from shared.lane import lane
from shared.responses import JSONText

router = APIRouter(prefix="/v1", tags=["loyalty"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


def public(redemption: Any) -> dict[str, Any]:  # a Redemption, or a plain row of one
    return RedemptionPublic.model_validate(redemption).model_dump(mode="json")


def public_json(redemption: Any) -> str:
    """`public` as its JSON text, encoded once: what the answer sends and the Idempotency-Key stores."""
    return RedemptionPublic.model_validate(redemption).model_dump_json()


@router.post("/members/{customer_id}/redemptions", status_code=201, response_model=RedemptionPublic)
async def redeem(customer_id: Id, body: RedemptionCreate, request: Request,
                 client: Scope("loyalty:redeem", customers=True),
                 runtime: RuntimeDep, idempotency_key: IdempotencyKey = None) -> Response:
    """Reserve points (a hold) for a reward or as cash at checkout; capture or release it later."""
    key, digest = idempotency.key_and_digest(request, idempotency_key, body)
    if body.points is not None:  # points-as-cash at checkout: the fast lane, the general path if it does not apply
        answer: dict[str, Any] = {}
        try:
            if runtime.engine.dialect.name == "postgresql":  # one call of a server-side function
                text = await checkout_calls.cash_hold(
                    runtime.engine, customer_id, utcnow(), points=body.points, booking_id=body.booking_id,
                    client=client.name, key=key, digest=digest, view=public_json)
                return idempotency.answer_text(201, text, key)
            async with lane(runtime.engine) as tx:
                async def claim(hold: Any) -> None:  # the key is stored with its answer, before the member's lock
                    answer["view"] = public(hold)
                    await idempotency.claim(tx, client=client.name, key=key, digest=digest, status_code=201,
                                            body=answer["view"])

                await redemptions.fast_cash_hold(tx, customer_id, utcnow(), points=body.points,
                                                 booking_id=body.booking_id, claim=claim)
            return idempotency.answer(201, answer["view"], key)
        except idempotency.Replayed as replayed:
            return idempotency.answer(replayed.replay.status_code, replayed.replay.body, key)
        except redemptions.NotFast:
            pass

    async def action(session: AsyncSession) -> tuple[int, Any]:
        hold = await redemptions.create_hold(session, customer_id, utcnow(), points=body.points,
                                             reward_id=body.reward_id, booking_id=body.booking_id)
        return 201, public(hold)

    return await idempotency.respond_once(request, client.name, idempotency_key, body, action)


@router.get("/redemptions/{redemption_id}", response_model=RedemptionPublic)
async def get_redemption(redemption_id: str, client: Scope("loyalty:read", customers=True),
                         session: ReadSessionDep) -> Any:
    found = await session.get(Redemption, redemption_id)
    await _ensure_reaches(session, client, found, redemption_id)
    return public(found)


async def _ensure_reaches(session: AsyncSession, client: Client, found: Redemption | None, redemption_id: str) -> None:
    """A hold exists for this caller only if it is its customer's: the account's holder, or a member whose
    points go to that account (a 404 otherwise, as for no hold at all)."""
    if found is None:
        raise NotFound("redemption", redemption_id)
    if client.reaches(found.customer_id):
        return
    member = await repository.get_member(session, client.acting_for or "")
    if member is None or member.account_id != found.customer_id:
        raise NotFound("redemption", redemption_id)


async def _customer_may_settle(runtime: Any, client: Client, redemption_id: str) -> None:
    """Before a customer-facing client captures or releases: the hold is its customer's (staff keys skip the read)."""
    if client.customer_facing:
        async with runtime.read_sessions() as session:
            await _ensure_reaches(session, client, await session.get(Redemption, redemption_id), redemption_id)


@router.post("/redemptions/{redemption_id}/capture", response_model=RedemptionPublic)
async def capture(redemption_id: str, client: Scope("loyalty:redeem", customers=True), runtime: RuntimeDep) -> Response:
    await _customer_may_settle(runtime, client, redemption_id)
    captured = None
    if runtime.engine.dialect.name == "postgresql":  # one call of a server-side function, if it applies
        captured = await checkout_calls.capture(runtime.engine, redemption_id, utcnow())
    if captured is None:
        async with lane(runtime.engine) as tx:
            captured = await redemptions.capture(tx, redemption_id, utcnow())
    return JSONText(public_json(captured))


@router.post("/redemptions/{redemption_id}/release", response_model=RedemptionPublic)
async def release(redemption_id: str, client: Scope("loyalty:redeem", customers=True), runtime: RuntimeDep) -> Response:
    await _customer_may_settle(runtime, client, redemption_id)
    async with lane(runtime.engine) as tx:
        released = await redemptions.release(tx, redemption_id, utcnow())
    return JSONText(public_json(released))


@router.post("/members/{customer_id}/adjustments", status_code=201, response_model=AdjustmentPublic)
async def adjustment(customer_id: Id, body: Adjustment, request: Request, client: Scope("loyalty:admin"),
                     idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """An admin's adjustment `{"points": ±n, "reason": …}`, audited (actor, reason) and idempotent."""

    async def action(session: AsyncSession) -> tuple[int, Any]:
        account, entry = await bonuses.adjust(session, customer_id, body.points, body.reason, client.name, utcnow())
        answer = AdjustmentPublic(entry=entry_public(entry), points_balance=account.balance, debt=account.debt)
        return 201, answer.model_dump(mode="json")

    return await idempotency.respond_once(request, client.name, idempotency_key, body, action)
