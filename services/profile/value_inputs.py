"""What scoring a set of customers reads, by one statement per 500 customers instead of one per table: their
completed trips (reduced per currency), complaint and feedback views, membership view, stored value row, whether
each has a file and an open lead, and the value configuration. The parts are a UNION ALL of one shape: a `kind`
column, the customer id, and slots for the columns the parts read (NULL where a part has none), each slot typed as
its columns, so both databases hand back the values a query of that table alone would (plain values, no ORM
objects)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import String, cast, func, literal, null, select, type_coerce, union_all
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile.analytics import Spend
from services.profile.config import KEY
from services.profile.models import (
    Booking, ComplaintView, Customer, CustomerValue, FeedbackView, Lead, MembershipView, ProfileConfig,
)
from services.profile.repository import chunks
from shared.db import among

_VALUE = [c for c in CustomerValue.__table__.columns if c.name != "customer_id"]  # type: ignore[attr-defined]
_PARTS: dict[str, tuple[Any, dict[str, Any]]] = {  # kind -> (customer id column, slot -> column)
    "trip": (Booking.customer_id, {"trip_currency": Booking.currency, "trip_count": func.count(),
                                   "trip_amount": func.sum(Booking.amount), "trip_first": func.min(Booking.completed_at),
                                   "trip_last": func.max(Booking.completed_at)}),
    "complaint": (ComplaintView.customer_id, {"c_status": ComplaintView.status, "c_sla_met": ComplaintView.sla_met,
                                              "c_satisfied": ComplaintView.satisfied}),
    "feedback": (FeedbackView.customer_id, {"f_nps": FeedbackView.nps, "f_csat": FeedbackView.csat,
                                            "f_detractor": FeedbackView.detractor, "f_at": FeedbackView.submitted_at,
                                            "f_id": FeedbackView.response_id}),
    "member": (MembershipView.customer_id, {"m_expiring_points": MembershipView.expiring_points,
                                            "m_expiring_on": MembershipView.expiring_on}),
    "value": (CustomerValue.customer_id, {f"v_{c.name}": c for c in _VALUE}),
    "customer": (Customer.id, {}),
    "lead": (Lead.customer_id, {}),
}
_ONLY = {"trip": Booking.status == "completed", "lead": Lead.status == "open"}  # the rows of a part that count
_GROUP = {"trip": (Booking.customer_id, Booking.currency)}  # a part read reduced: trips per customer and currency
_PARTS["config"] = (None, {"config": ProfileConfig.value})  # type: ignore[attr-defined]


def _same(one: Any, other: Any) -> bool:
    """Types whose values come back alike (strings of any length are strings)."""
    return repr(one) == repr(other) or type(one) is type(other) is String


def _layout() -> tuple[list[Any], dict[str, dict[str, int]]]:
    """The slots (one type each) and, per part, its columns' slot numbers: parts share the slots of a type, so a
    row is as wide as the widest part (each slot is processed on every row)."""
    slots: list[Any] = []
    where: dict[str, dict[str, int]] = {}
    for kind, (_, columns) in _PARTS.items():
        taken: dict[str, int] = {}
        where[kind] = taken
        for name, column in columns.items():
            free = [n for n, t in enumerate(slots) if _same(t, column.type) and n not in taken.values()]
            if not free:
                slots.append(column.type)
            taken[name] = free[0] if free else len(slots) - 1
    return slots, where


_SLOTS, _WHERE = _layout()
_V = [(c.name, _WHERE["value"][f"v_{c.name}"] + 2) for c in _VALUE]  # (column, its position in a row)
_T = [_WHERE["trip"][f"trip_{name}"] + 2 for name in ("currency", "count", "amount", "first", "last")]
_C = [(name, _WHERE["complaint"][f"c_{name}"] + 2) for name in ("status", "sla_met", "satisfied")]
_F = [(name, _WHERE["feedback"][f"f_{name}"] + 2) for name in ("nps", "csat", "detractor", "at", "id")]
_M = [_WHERE["member"][name] + 2 for name in ("m_expiring_points", "m_expiring_on")]
_CONFIG = _WHERE["config"]["config"] + 2


@dataclass
class ValueInputs:
    trips: dict[str, list[Spend]] = field(default_factory=lambda: defaultdict(list))  # completed, per currency
    complaints: dict[str, list[SimpleNamespace]] = field(default_factory=lambda: defaultdict(list))  # status, sla_met, …
    feedback: dict[str, list[SimpleNamespace]] = field(default_factory=lambda: defaultdict(list))  # oldest first
    members: dict[str, SimpleNamespace] = field(default_factory=dict)  # expiring_points, expiring_on
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # the stored value row's columns
    existing: set[str] = field(default_factory=set)  # ids with a file
    open_leads: set[str] = field(default_factory=set)  # ids with an open lead
    config: dict[str, Any] | None = None  # the stored value configuration (None: none stored, or not asked)


def _part(session: AsyncSession, kind: str, ids: list[str]) -> Any:
    """One part's rows: its kind, the customer id, its columns in their slots, NULLs of the slots' types in the others
    (PostgreSQL types a UNION's columns two parts at a time: an untyped NULL in the first two would be text)."""
    customer_id, columns = _PARTS[kind]
    at = {n: columns[name] for name, n in _WHERE[kind].items()}
    where = [among(session, customer_id, ids)] if customer_id is not None else [ProfileConfig.key == KEY]
    if kind in _ONLY:
        where.append(_ONLY[kind])
    return select(type_coerce(literal(kind), String), (customer_id if customer_id is not None else cast(null(), String)),
                  *(type_coerce(at[n], t) if n in at else cast(null(), t) for n, t in enumerate(_SLOTS))
                  ).where(*where).group_by(*_GROUP.get(kind, ()))


def _statement(session: AsyncSession, ids: list[str], config: bool) -> Any:
    return union_all(*(_part(session, kind, ids) for kind in _PARTS if config or kind != "config"))


async def read(session: AsyncSession, customer_ids: list[str], *, config: bool) -> ValueInputs:
    """The inputs of these customers (and the stored configuration when `config`), one statement per 500 ids."""
    found = ValueInputs()
    for number, chunk in enumerate(chunks(sorted(set(customer_ids)))):
        for r in (await session.execute(_statement(session, chunk, config and number == 0))).tuples():
            kind, cid = r[0], r[1]
            if kind == "trip":
                found.trips[cid].append(Spend(*(r[n] for n in _T)))
            elif kind == "complaint":
                found.complaints[cid].append(SimpleNamespace(**{name: r[n] for name, n in _C}))
            elif kind == "feedback":
                found.feedback[cid].append(SimpleNamespace(**{name: r[n] for name, n in _F}))
            elif kind == "member":
                found.members[cid] = SimpleNamespace(expiring_points=r[_M[0]], expiring_on=r[_M[1]])
            elif kind == "value":
                found.rows[cid] = {"customer_id": cid, **{name: r[n] for name, n in _V}}
            elif kind == "customer":
                found.existing.add(cid)
            elif kind == "lead":
                found.open_leads.add(cid)
            else:
                found.config = r[_CONFIG]
    for views in found.feedback.values():  # as FeedbackView is read elsewhere: by submission, then response id
        views.sort(key=lambda f: (f.at, f.id))
    return found
