"""Loyalty's copy of the organisations profile keeps (organisation-registered): the company record an
enterprise member links to, never the people who book for it."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty.models import Organisation
from shared.db import aware, insert
from shared.errors import Unprocessable
from shared.events import OrganisationRegistered

_TABLE = Organisation.__table__


async def register(session: AsyncSession, data: OrganisationRegistered) -> None:
    """organisation-registered: add the organisation, or refresh its record (a later registration wins)."""
    values = {"organisation_id": data.organisation_id, "name": data.name, "industry": data.industry,
              "registered_at": aware(data.registered_at)}
    statement = insert(session, _TABLE).values(values)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[_TABLE.c.organisation_id],
        set_={"name": statement.excluded.name, "industry": statement.excluded.industry},
    ))


async def require(session: AsyncSession, organisation_id: str | None) -> Organisation:
    """The organisation an enterprise member names: 422 naming `organisation_id` when profile has not registered it."""
    if organisation_id is None:
        raise Unprocessable("an enterprise member names its organisation", field="organisation_id")
    found = await session.get(Organisation, organisation_id)
    if found is None:
        raise Unprocessable(f"organisation {organisation_id} is not known: register it in profile first",
                            field="organisation_id")
    return found
