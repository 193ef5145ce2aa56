"""The complaints policy: read it (staff), change it (a manager; open complaints are recomputed)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from services.complaints import policy
from services.complaints.api.deps import Manager, Staff
from services.complaints.policy import PolicyConfig
from shared.app import ReadSessionDep, UnitOfWork
from shared.db import utcnow

router = APIRouter(prefix="/v1/complaints/policy", tags=["complaints"])


class PolicyPublic(BaseModel):
    version: int
    config: PolicyConfig
    recomputed: int | None = None


@router.get("", response_model=PolicyPublic)
async def get_policy(session: ReadSessionDep, client: Staff) -> PolicyPublic:
    """SLA targets, business calendar, crisis threshold and agent limits in force (version 0: the defaults)."""
    return PolicyPublic(version=await policy.version(session), config=await policy.current(session))


@router.put("", response_model=PolicyPublic)
async def change_policy(body: PolicyConfig, session: UnitOfWork, client: Manager) -> PolicyPublic:
    """A new version of the policy; the targets of every open complaint are recomputed from its start."""
    number, recomputed = await policy.change(session, body, actor=client.name, now=utcnow())
    return PolicyPublic(version=number, config=body, recomputed=recomputed)
