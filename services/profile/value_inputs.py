"""What scoring a set of customers reads, by one statement per 500 customers instead of one per table: their
completed trips, complaint and feedback views, membership view, stored value row, whether each has a file, and
the value configuration. The parts are a UNION ALL of one shape: a `kind` column, the customer id, and a slot per
column any part reads (NULL in the others), each slot typed as its column, so both databases hand back the values
a query of that table alone would (plain values, no ORM objects)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import String, cast, literal, null, select, type_coerce, union_all
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile.config import KEY
from services.profile.models import Booking, ComplaintView, Customer, CustomerValue, FeedbackView, MembershipView, ProfileConfig
from services.profile.repository import chunks
from shared.db import among

_VALUE = [c for c in CustomerValue.__table__.columns if c.name != "customer_id"]  # type: ignore[attr-defined]
_PARTS: dict[str, tuple[Any, dict[str, Any]]] = {  # kind -> (customer id column, slot -> column)
    "trip": (Booking.customer_id, {"trip_at": Booking.completed_at, "trip_amount": Booking.amount,
                                   "trip_currency": Booking.currency}),
    "complaint": (ComplaintView.customer_id, {"c_status": ComplaintView.status, "c_sla_met": ComplaintView.sla_met,
                                              "c_satisfied": ComplaintView.satisfied}),
    "feedback": (FeedbackView.customer_id, {"f_nps": FeedbackView.nps, "f_csat": FeedbackView.csat,
                                            "f_detractor": FeedbackView.detractor, "f_at": FeedbackView.submitted_at,
                                            "f_id": FeedbackView.response_id}),
    "member": (MembershipView.customer_id, {"m_expiring_points": MembershipView.expiring_points,
                                            "m_expiring_on": MembershipView.expiring_on}),
    "value": (CustomerValue.customer_id, {f"v_{c.name}": c for c in _VALUE}),
    "customer": (Customer.id, {}),
}
_SLOTS = {slot: column.type for _, slots in _PARTS.values() for slot, column in slots.items()}
_SLOTS["config"] = ProfileConfig.value.type  # type: ignore[attr-defined]


@dataclass
class ValueInputs:
    trips: dict[str, list[tuple[datetime, Any, str]]] = field(default_factory=lambda: defaultdict(list))
    complaints: dict[str, list[SimpleNamespace]] = field(default_factory=lambda: defaultdict(list))  # status, sla_met, satisfied
    feedback: dict[str, list[SimpleNamespace]] = field(default_factory=lambda: defaultdict(list))  # oldest first
    members: dict[str, SimpleNamespace] = field(default_factory=dict)  # expiring_points, expiring_on
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # the stored value row's columns
    existing: set[str] = field(default_factory=set)  # ids with a file
    config: dict[str, Any] | None = None  # the stored value configuration (None: none stored, or not asked)


def _slot(column: Any, kind_of: Any) -> Any:
    """A part's column, or a NULL of the slot's type (PostgreSQL types a UNION's columns two parts at a time: an
    untyped NULL in the first two would be text)."""
    return cast(null(), kind_of) if column is None else type_coerce(column, kind_of)


def _part(kind: str, customer_id: Any, slots: dict[str, Any], where: list[Any]) -> Any:
    return select(type_coerce(literal(kind), String).label("kind"), customer_id.label("customer_id"),
                  *(_slot(slots.get(slot), kind_of).label(slot) for slot, kind_of in _SLOTS.items())
                  ).where(*where)


def _statement(session: AsyncSession, ids: list[str], config: bool) -> Any:
    parts = [_part(kind, cid, slots, [among(session, cid, ids)] + ([Booking.status == "completed"] if kind == "trip" else []))
             for kind, (cid, slots) in _PARTS.items()]
    if config:
        parts.append(_part("config", cast(null(), String), {"config": ProfileConfig.value},  # type: ignore[attr-defined]
                           [ProfileConfig.key == KEY]))
    return union_all(*parts)


async def read(session: AsyncSession, customer_ids: list[str], *, config: bool) -> ValueInputs:
    """The inputs of these customers (and the stored configuration when `config`), one statement per 500 ids."""
    found = ValueInputs()
    for number, chunk in enumerate(chunks(sorted(set(customer_ids)))):
        for r in (await session.execute(_statement(session, chunk, config and number == 0))).all():
            kind, cid = r.kind, r.customer_id
            if kind == "trip":
                found.trips[cid].append((r.trip_at, r.trip_amount, r.trip_currency))
            elif kind == "complaint":
                found.complaints[cid].append(SimpleNamespace(status=r.c_status, sla_met=r.c_sla_met, satisfied=r.c_satisfied))
            elif kind == "feedback":
                found.feedback[cid].append(SimpleNamespace(nps=r.f_nps, csat=r.f_csat, detractor=r.f_detractor,
                                                           at=r.f_at, id=r.f_id))
            elif kind == "member":
                found.members[cid] = SimpleNamespace(expiring_points=r.m_expiring_points, expiring_on=r.m_expiring_on)
            elif kind == "value":
                found.rows[cid] = {"customer_id": cid, **{c.name: getattr(r, f"v_{c.name}") for c in _VALUE}}
            elif kind == "customer":
                found.existing.add(cid)
            else:
                found.config = r.config
    for views in found.feedback.values():  # as FeedbackView is read elsewhere: by submission, then response id
        views.sort(key=lambda f: (f.at, f.id))
    return found
