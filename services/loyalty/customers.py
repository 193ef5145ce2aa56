"""Loyalty's copy of the customers profile knows: ids only, no personal data.

customer-registered adds a customer; a booking-completed makes its customer known too (profile's ingest
validated it; `earning.earn` remembers a batch's customers in one statement). Loyalty enrols only a known
customer. A merge leaves the survivor known and forgets the merged ids; an erasure forgets the customer
(the row is in `privacy.PRIVACY`, deleted on erasure).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.loyalty.models import KnownCustomer, Organisation
from shared.db import dialect_of
from shared.rows import rows_insert
from shared.errors import Unprocessable

_TABLE = KnownCustomer.__table__


async def know(session: AsyncSession, customer_ids: Iterable[str], now: datetime) -> None:
    """Remember customers (a customer known already stays as it was)."""
    for statement, params in knowing(session, customer_ids, now):
        await session.execute(statement, params)


def knowing(session: AsyncSession, customer_ids: Iterable[str], now: datetime) -> list[tuple[Any, Any]]:
    """`know` as a write to run later (`shared.rows.together`): none when there is no customer."""
    rows = [{"customer_id": customer_id, "known_since": now} for customer_id in sorted(set(customer_ids))]
    return [rows_insert(dialect_of(session), _TABLE, rows, skip_conflicts=True)] if rows else []


async def merged(session: AsyncSession, surviving_id: str, merged_ids: list[str], now: datetime) -> None:
    """customers-merged: the survivor is known, the merged ids are no more."""
    await know(session, [surviving_id], now)
    gone = [m for m in merged_ids if m != surviving_id]
    if gone:
        await session.execute(delete(KnownCustomer).where(KnownCustomer.customer_id.in_(gone)))


async def is_known(session: AsyncSession, customer_id: str) -> bool:
    return (await session.execute(select(KnownCustomer.customer_id)
                                  .where(KnownCustomer.customer_id == customer_id))).first() is not None


async def require_known(session: AsyncSession, customer_id: str, *, field: str = "customer_id",
                        organisation_id: str | None = None) -> None:
    """422 naming `field` unless profile knows the customer (an enterprise account may also be named by its
    organisation's id, when profile keeps key accounts apart from customers)."""
    if await is_known(session, customer_id):
        return
    if organisation_id is not None and customer_id == organisation_id \
            and await session.get(Organisation, organisation_id) is not None:
        return
    raise Unprocessable(f"customer {customer_id} is not known: register the customer in profile first", field=field)
