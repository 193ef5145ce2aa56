"""The profile configuration (`GET` / `PUT /v1/config`): value-class and churn thresholds, quiet hours, care
timing, exchange rates to the business currency. Applied from the next recompute."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile.analytics import Exchange
from services.profile.models import ProfileConfig
from services.profile.schemas import ValueConfig
from shared.db import settings_of, utcnow

KEY = "value"


async def get_config(session: AsyncSession) -> ValueConfig:
    """The stored configuration, or the defaults."""
    row = await session.get(ProfileConfig, KEY)
    return config_of(row.value if row else None)


def config_of(stored: dict | None) -> ValueConfig:
    """The configuration from its stored value (None: nothing stored, the defaults)."""
    return ValueConfig.model_validate(stored) if stored is not None else ValueConfig()


async def set_config(session: AsyncSession, config: ValueConfig) -> ValueConfig:
    """Replace the configuration."""
    row = await session.get(ProfileConfig, KEY)
    value = config.model_dump(mode="json")
    if row is None:
        session.add(ProfileConfig(key=KEY, value=value))
    else:
        row.value, row.updated_at = value, utcnow()
    return config


def exchange_of(session: AsyncSession, config: ValueConfig) -> Exchange:
    """Money in the business currency (settings.currency) at the configured rates."""
    return Exchange(settings_of(session).currency, dict(config.exchange_rates))
