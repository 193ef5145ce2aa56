"""Data rights, the same in every service: export, erase and re-point on merge, from a list of tables.

A service lists the tables that hold rows about a customer (`PersonalData`) and gets from `Privacy`:

- `GET /v1/privacy/customers/{customer_id}` (scope `privacy:admin`): its part of the export, every
  row of those tables about the customer (profile gathers the parts of every privacy service);
- the handler of `customer-erased`: rows are deleted, or kept with the customer replaced by a
  pseudonym and their personal fields overwritten, then `customer-data-erased` says so;
- the handler of `customers-merged`: the merged customers' rows are re-pointed to the survivor.

Rules that a table list cannot say (a balance forfeited on erasure, two members folded into one on a
merge) go in the `before_erase` / `before_merge` hooks, which run first in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import outbox
from shared.app import ReadSessionDep
from shared.auth import Scope
from shared.db import utcnow
from shared.events import CustomerDataErased, CustomerErased, CustomersMerged, Event, EventData

Hook = Callable[[AsyncSession, str, datetime], Awaitable[None]]
MergeHook = Callable[[AsyncSession, str, list[str], datetime], Awaitable[None]]


@dataclass(frozen=True)
class PersonalData:
    """The rows of one table that are about a customer."""

    model: Any  # a SQLModel table class
    columns: tuple[str, ...] = ("customer_id",)  # the columns that hold a customer id
    on_erase: Literal["delete", "pseudonymise"] = "delete"
    personal_fields: Mapping[str, Any] = field(default_factory=dict)  # overwritten with these values on erasure
    repoint: bool = True  # follow a merge to the surviving customer (False: a before_merge hook handles it)
    one_per: str | None = None  # a customer has one row per value of this column: a merge keeps the survivor's,
    # else the first merged id's (in the event's order), and drops the rest
    section: str | None = None  # its name in the export (default: the table's name)
    view: Callable[[Any], dict[str, Any]] | None = None  # its rows in the export (default: every column)

    @property
    def name(self) -> str:
        return self.section or self.model.__tablename__

    def about(self, customer_ids: Sequence[str]) -> Any:
        return or_(*(getattr(self.model, c).in_(customer_ids) for c in self.columns))


async def _repoint_one_per(session: AsyncSession, table: PersonalData, surviving_id: str, merged_ids: list[str]) -> None:
    """Re-point a table with one row per customer and `one_per` value: the survivor's row stays, else the first
    merged id's moves; the other merged ids' rows are deleted."""
    model, (column,) = table.model, table.columns
    key, owner = getattr(model, table.one_per), getattr(model, column)
    gone = [m for m in dict.fromkeys(merged_ids) if m != surviving_id]
    for merged_id in gone:  # one at a time: the first merged id's row wins over a later one's
        taken = select(key).where(owner == surviving_id).scalar_subquery()
        await session.execute(update(model).where(owner == merged_id, key.not_in(taken))
                              .values({column: surviving_id}).execution_options(synchronize_session=False))
    if gone:
        await session.execute(model.__table__.delete().where(owner.in_(gone)))


class PrivacyExport(BaseModel):
    """What one service holds about a customer."""

    service: str
    customer_id: str
    generated_at: datetime
    sections: dict[str, list[dict[str, Any]]]


class Privacy:
    """One service's part in the data-rights protocol (see the module's docstring)."""

    def __init__(self, service: str, tables: Sequence[PersonalData], *, topic: str,
                 before_erase: Hook | None = None, before_merge: MergeHook | None = None) -> None:
        self.service, self.tables, self.topic = service, list(tables), topic
        self.before_erase, self.before_merge = before_erase, before_merge

    async def export(self, session: AsyncSession, customer_id: str) -> PrivacyExport:
        """Every row of the listed tables about the customer."""
        sections: dict[str, list[dict[str, Any]]] = {}
        for table in self.tables:
            rows = (await session.execute(select(table.model).where(table.about([customer_id])))).scalars()
            view = table.view or (lambda row: row.model_dump(mode="json"))
            sections[table.name] = [view(row) for row in rows]
        return PrivacyExport(service=self.service, customer_id=customer_id, generated_at=utcnow(), sections=sections)

    async def erase(self, session: AsyncSession, data: CustomerErased, now: datetime | None = None) -> None:
        """Delete or pseudonymise every row about the customer, then emit customer-data-erased."""
        now = now or utcnow()
        customer_id = data.customer_id
        if self.before_erase:
            await self.before_erase(session, customer_id, now)
        pseudonym = f"erased-{uuid.uuid4().hex[:16]}"
        for table in self.tables:
            await session.flush()
            if table.on_erase == "delete":
                await session.execute(table.model.__table__.delete().where(table.about([customer_id])))
                continue
            for column in table.columns:
                await session.execute(
                    update(table.model).where(getattr(table.model, column) == customer_id)
                    .values({column: pseudonym, **table.personal_fields})
                    .execution_options(synchronize_session=False)
                )
        session.expire_all()  # rows loaded before now are stale; nothing pending is lost (flushed above)
        outbox.emit(session, CustomerDataErased(service=self.service, customer_id=customer_id,
                                                request_id=data.request_id, erased_at=now),
                    customer_id, topic=self.topic)

    async def repoint(self, session: AsyncSession, data: CustomersMerged, now: datetime | None = None) -> None:
        """Re-point the merged customers' rows to the survivor."""
        now = now or utcnow()
        if self.before_merge:
            await self.before_merge(session, data.customer_id, list(data.merged_ids), now)
        await session.flush()
        for table in self.tables:
            if not table.repoint:
                continue
            if table.one_per:
                await _repoint_one_per(session, table, data.customer_id, list(data.merged_ids))
                continue
            for column in table.columns:
                await session.execute(
                    update(table.model).where(getattr(table.model, column).in_(data.merged_ids))
                    .values({column: data.customer_id}).execution_options(synchronize_session=False)
                )
        session.expire_all()

    async def _on_erased(self, event: Event[CustomerErased], session: AsyncSession) -> None:
        await self.erase(session, event.data)

    async def _on_merged(self, event: Event[CustomersMerged], session: AsyncSession) -> None:
        await self.repoint(session, event.data)

    def subscriptions(self) -> dict[type[EventData], list[Callable[..., Awaitable[None]]]]:
        """The handlers to add to the service's subscriptions."""
        return {CustomerErased: [self._on_erased], CustomersMerged: [self._on_merged]}

    def router(self) -> APIRouter:
        """`GET /v1/privacy/customers/{customer_id}`: this service's part of a customer's export."""
        router = APIRouter(prefix="/v1/privacy", tags=["privacy"])

        @router.get("/customers/{customer_id}", response_model=PrivacyExport)
        async def export(customer_id: str, session: ReadSessionDep, client: Scope("privacy:admin")) -> PrivacyExport:
            """Everything this service holds about the customer (its part of the data export)."""
            return await self.export(session, customer_id)

        return router
