"""The catalog an admin keeps: programme versions (audited) and rewards."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty import repository
from services.loyalty.models import ProgrammeVersion, Reward
from services.loyalty.programme import Programme
from shared.errors import Conflict, NotFound


async def set_programme(session: AsyncSession, prog: Programme, actor: str, reason: str, now: datetime) -> int:
    """A new version of the programme (never rewrites past entries); returns its number."""
    version, _ = await repository.programme(session)
    session.add(ProgrammeVersion(version=version + 1, config=prog.model_dump_json(), actor=actor, reason=reason,
                                 created_at=now))
    await session.flush()
    return version + 1


async def create_reward(session: AsyncSession, fields: dict[str, Any], now: datetime) -> Reward:
    if await session.get(Reward, fields["id"]) is not None:
        raise Conflict(f"reward {fields['id']} exists", field="id")
    reward = Reward(**fields, created_at=now)
    session.add(reward)
    return reward


async def update_reward(session: AsyncSession, reward_id: str, changes: dict[str, Any]) -> Reward:
    reward = await session.get(Reward, reward_id, with_for_update=True)
    if reward is None:
        raise NotFound("reward", reward_id)
    for name, value in changes.items():
        setattr(reward, name, value)
    return reward
