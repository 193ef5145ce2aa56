"""The feedback service's configuration, kept in its database (one row) so every replica reads the same."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.feedback import repository as repo
from services.feedback.models import Config, FeedbackSetting
from services.feedback.templates import ELEMENTS
from shared.errors import Unprocessable


async def replace(session: AsyncSession, *, config: Config, now: datetime) -> Config:
    """Replace the configuration; CSI weights must name known elements and not all be zero."""
    unknown = sorted(set(config.csi_weights) - set(ELEMENTS))
    if unknown:
        raise Unprocessable(f"unknown elements {', '.join(unknown)}; one of {', '.join(ELEMENTS)}", field="csi_weights")
    if any(w < 0 for w in config.csi_weights.values()) or not any(config.csi_weights.values()):
        raise Unprocessable("weights are ≥ 0 and at least one is positive", field="csi_weights")
    row = await session.get(FeedbackSetting, 1)
    if row is None:
        session.add(FeedbackSetting(id=1, values=config.model_dump(mode="json"), updated_at=now))
    else:
        row.values, row.updated_at = config.model_dump(mode="json"), now
    await session.flush()
    return await repo.config(session)
