"""The hot reads of one customer — the file and the 360 view — as prebuilt statements on one pooled connection
outside a transaction (`shared.lane.reads`): no session, no ORM objects, rows shaped straight into the answer.
The booking website and app read these while a customer waits; everything that changes a file goes through
the ORM (customers.py). Shaped with the same functions as the ORM reads (`public.customer_public`, `overview.summarise`).
"""

from __future__ import annotations

from sqlalchemy import String, bindparam, cast, func, literal, null, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncEngine

from services.profile.contact_public import ContactsSummary, contact_public
from services.profile.contacts import LATEST
from services.profile.models import (
    Booking, CareTask, ContactPoint, ContactRecord, Consent, ComplaintView, Customer, CustomerValue, ExternalId,
    FeedbackView, MembershipView, Product,
)
from services.profile.overview import RECENT, summarise
from services.profile.public import (
    CustomerPublic, Overview, booking_public, consent_public, customer_public, value_public,
)
from shared.errors import NotFound
from shared.lane import Reads, Row, reads

CUSTOMER_ID = bindparam("id")


def _table(model):  # noqa: ANN001, ANN202
    return model.__table__


# --- the file: the customer row with its contacts and external ids, in one statement ----------------------------

_cp, _ext, _cust = _table(ContactPoint), _table(ExternalId), _table(Customer)
_children = union_all(
    select(_cp.c.kind.label("k"), _cp.c.value.label("a"), cast(null(), String).label("b"),
           _cp.c.position.label("o1"), _cp.c.id.label("o2")).where(_cp.c.customer_id == CUSTOMER_ID),
    select(literal("external").label("k"), _ext.c.source, _ext.c.external_id, literal(0), literal(0))
    .where(_ext.c.customer_id == CUSTOMER_ID),
).subquery("children")
FILE = (select(_cust, _children.c.k.label("child_kind"), _children.c.a.label("child_a"),
               _children.c.b.label("child_b"))
        .select_from(_cust.outerjoin(_children, true())).where(_cust.c.id == CUSTOMER_ID)
        .order_by(_children.c.k, _children.c.o1, _children.c.o2, _children.c.a, _children.c.b))


def _prefixed(model, prefix: str) -> list:  # noqa: ANN001
    return [column.label(prefix + column.name) for column in _table(model).c]


def _unprefixed(row: Row, model, prefix: str) -> Row | None:  # noqa: ANN001
    """The columns of `model` in `row` (selected by `_prefixed`), or None where the outer join found no row."""
    if row[prefix + "customer_id"] is None:
        return None
    return Row((column.name, row[prefix + column.name]) for column in _table(model).c)


# the file with the customer's membership and value rows (one each at most), for the 360 view
_mv, _cv = _table(MembershipView), _table(CustomerValue)
FILE_MEMBERSHIP_VALUE = (
    FILE.add_columns(*_prefixed(MembershipView, "m_"), *_prefixed(CustomerValue, "v_"))
    .outerjoin(_mv, _mv.c.customer_id == _cust.c.id).outerjoin(_cv, _cv.c.customer_id == _cust.c.id))


async def _file(db: Reads, customer_id: str, statement=FILE) -> tuple[CustomerPublic, Row]:  # noqa: ANN001
    """The file, and the first row read (with whatever else `statement` selected)."""
    rows = await db.rows(statement, {"id": customer_id})
    if not rows:
        raise NotFound("customer", customer_id)
    phones, emails, external = [], [], []
    for row in rows:
        kind = row["child_kind"]
        if kind == "phone":
            phones.append(row["child_a"])
        elif kind == "email":
            emails.append(row["child_a"])
        elif kind == "external":
            external.append({"source": row["child_a"], "id": row["child_b"]})
    return customer_public(rows[0], (phones, emails), external), rows[0]


async def file(engine: AsyncEngine, customer_id: str) -> CustomerPublic:
    """The customer file (404 when there is none)."""
    async with reads(engine) as db:
        return (await _file(db, customer_id))[0]


# --- the 360 view ----------------------------------------------------------------------------------------------

def _of(model, *order):  # noqa: ANN001, ANN202
    table = _table(model)
    return select(table).where(table.c.customer_id == CUSTOMER_ID).order_by(*(table.c[o] for o in order))


_b, _p = _table(Booking), _table(Product)
BOOKINGS = (select(_b, _p.c.id.label("p_id"), _p.c.name.label("p_name"), _p.c.kind.label("p_kind"),
                   _p.c.destination.label("p_destination"), _p.c.tags.label("p_tags"))
            .select_from(_b.outerjoin(_p, _p.c.id == _b.c.product_id)).where(_b.c.customer_id == CUSTOMER_ID)
            .order_by(_b.c.completed_at.desc(), _b.c.booking_id))
CONSENTS = _of(Consent, "channel", "purpose")
COMPLAINTS = _of(ComplaintView, "filed_at")
FEEDBACK = _of(FeedbackView, "submitted_at", "response_id")
_cr, _task = _table(ContactRecord), _table(CareTask)
LATEST_CONTACTS = (select(_cr, select(func.count()).where(_cr.c.customer_id == CUSTOMER_ID).scalar_subquery()
                          .label("total_contacts"))
                   .where(_cr.c.customer_id == CUSTOMER_ID).order_by(_cr.c.occurred_at.desc(), _cr.c.id).limit(LATEST))
NEXT_VISIT = (select(_task).where(_task.c.customer_id == CUSTOMER_ID, _task.c.kind == "return-visit",
                                  _task.c.status != "completed").order_by(_task.c.due_at, _task.c.id).limit(1))


def _product(row: Row) -> Row | None:
    if row["p_id"] is None:
        return None
    return Row(id=row["p_id"], name=row["p_name"], kind=row["p_kind"], destination=row["p_destination"],
               tags=row["p_tags"])


async def _contacts(db: Reads, customer_id: str) -> ContactsSummary:
    latest = await db.rows(LATEST_CONTACTS, {"id": customer_id})
    visit = await db.row(NEXT_VISIT, {"id": customer_id})
    step, step_at = (visit.staff_note or "return visit", visit.due_at) if visit else (
        (latest[0].next_step, latest[0].next_step_at) if latest else (None, None))
    total = latest[0]["total_contacts"] if latest else 0
    return ContactsSummary(total=total, latest=[contact_public(c) for c in latest], next_step=step, next_step_at=step_at)


async def overview(engine: AsyncEngine, customer_id: str, currency: str) -> Overview:
    """The 360 view (404 when there is no file)."""
    async with reads(engine) as db:
        customer, head = await _file(db, customer_id, FILE_MEMBERSHIP_VALUE)
        ident = {"id": customer_id}
        bookings = await db.rows(BOOKINGS, ident)
        return summarise(
            customer=customer, consents=[consent_public(c) for c in await db.rows(CONSENTS, ident)],
            bookings=len(bookings), recent=[booking_public(b, _product(b)) for b in bookings[:RECENT]],
            member=_unprefixed(head, MembershipView, "m_"), complaints=await db.rows(COMPLAINTS, ident),
            feedback=await db.rows(FEEDBACK, ident),
            value=value_public(_unprefixed(head, CustomerValue, "v_"), customer_id, currency),
            contacts=await _contacts(db, customer_id),
        )
