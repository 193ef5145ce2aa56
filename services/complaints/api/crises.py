"""Crisis routes: open a crisis (a manager), list and read them, take the one decision for all."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.complaints import crises
from services.complaints import repository as R
from services.complaints.api.deps import IdempotencyKey, Manager, Staff
from services.complaints.models import Crisis
from services.complaints.schemas import ChecklistTick, CrisisDecision, CrisisIn, CrisisPublic
from services.complaints.views import crisis_view
from shared import idempotency
from shared.app import ReadSessionDep, UnitOfWork
from shared.db import utcnow

router = APIRouter(prefix="/v1/crises", tags=["crises"])


@router.post("", status_code=201, response_model=CrisisPublic)
async def declare(body: CrisisIn, session: UnitOfWork, client: Manager) -> CrisisPublic:
    """Open a crisis by hand: links recent complaints of its scope, notifies the affected customers."""
    crisis = await crises.declare(session, body, actor=client.name, now=utcnow())
    return await crisis_view(session, crisis)


@router.get("", response_model=list[CrisisPublic])
async def list_crises(session: ReadSessionDep, client: Staff) -> list[CrisisPublic]:
    """Every crisis, newest first."""
    rows = (await session.execute(select(Crisis).order_by(Crisis.declared_at.desc()).limit(200))).scalars().all()
    return [await crisis_view(session, c) for c in rows]


@router.get("/{crisis_id}", response_model=CrisisPublic)
async def get_crisis(crisis_id: str, session: ReadSessionDep, client: Staff) -> CrisisPublic:
    return await crisis_view(session, await R.crisis(session, crisis_id))


@router.post("/{crisis_id}/decision", response_model=CrisisPublic)
async def decide(crisis_id: str, body: CrisisDecision, request: Request, client: Manager,
                 idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """One decision (message, compensation) for every complaint of the crisis (Idempotency-Key required)."""
    async def action(session: AsyncSession) -> tuple[int, Any]:
        crisis = await R.crisis(session, crisis_id)
        await crises.decide(session, crisis, body, actor=client.name, now=utcnow())
        return 200, (await crisis_view(session, crisis)).model_dump(mode="json")

    return await idempotency.respond_once(request, client.name, idempotency_key, body, action)


@router.post("/{crisis_id}/checklist/{number}", response_model=CrisisPublic)
async def tick(crisis_id: str, number: int, body: ChecklistTick, session: UnitOfWork, client: Staff) -> CrisisPublic:
    """Tick off (or untick) one step of the crisis plan, numbered from 1."""
    crisis = await crises.tick(session, await R.crisis(session, crisis_id), number, done=body.done,
                               note_text=body.note, actor=client.name, now=utcnow())
    return await crisis_view(session, crisis)


@router.post("/{crisis_id}/close", response_model=CrisisPublic)
async def close(crisis_id: str, session: UnitOfWork, client: Manager) -> CrisisPublic:
    """Close the crisis: new complaints of its scope count towards a new one."""
    return await crisis_view(session, await crises.close(session, await R.crisis(session, crisis_id)))
