"""The hot reads of one customer — the file and the 360 view — each one prebuilt statement on a pooled connection
outside a transaction (`shared.lane.reads`): no session, no ORM objects, the child lists as JSON columns of the
customer's row (`shared.lane.Nested`), shaped straight into the answer. The booking website and app read these while
a customer waits; everything that changes a file goes through the ORM (customers.py). Shaped with the same functions
as the ORM reads (`public.customer_public`, `overview.summarise`).
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, select
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
from shared.lane import Nested, Row, reads

CUSTOMER_ID = bindparam("id")


def _table(model):  # noqa: ANN001, ANN202
    return model.__table__


# --- the file: the customer row with its contacts and external ids as JSON columns, one statement ----------------

_cp, _ext, _cust = _table(ContactPoint), _table(ExternalId), _table(Customer)
CONTACT_POINTS = Nested(select(_cp.c.kind, _cp.c.value).where(_cp.c.customer_id == CUSTOMER_ID),
                        _cp.c.kind, _cp.c.position, _cp.c.id)
EXTERNAL_IDS = Nested(select(_ext.c.source, _ext.c.external_id).where(_ext.c.customer_id == CUSTOMER_ID),
                      _ext.c.source, _ext.c.external_id)
FILE = select(_cust, CONTACT_POINTS.column.label("contact_points"), EXTERNAL_IDS.column.label("external_ids")
              ).where(_cust.c.id == CUSTOMER_ID)


def _customer(row: Row) -> CustomerPublic:
    points = CONTACT_POINTS.rows(row["contact_points"])
    return customer_public(row, ([p.value for p in points if p.kind == "phone"],
                                 [p.value for p in points if p.kind == "email"]),
                           [{"source": e.source, "id": e.external_id} for e in EXTERNAL_IDS.rows(row["external_ids"])])


async def file(engine: AsyncEngine, customer_id: str) -> CustomerPublic:
    """The customer file (404 when there is none)."""
    async with reads(engine) as db:
        row = await db.row(FILE, {"id": customer_id})
    if row is None:
        raise NotFound("customer", customer_id)
    return _customer(row)


# --- the 360 view: the file with every view of the customer, one statement ---------------------------------------

def _prefixed(model, prefix: str) -> list:  # noqa: ANN001
    return [column.label(prefix + column.name) for column in _table(model).c]


_NAMES = {model: [(column.name, prefix + column.name) for column in _table(model).c]
          for model, prefix in ((MembershipView, "m_"), (CustomerValue, "v_"))}


def _unprefixed(row: Row, model, prefix: str) -> Row | None:  # noqa: ANN001
    """The columns of `model` in `row` (selected by `_prefixed`), or None where the outer join found no row."""
    if row[prefix + "customer_id"] is None:
        return None
    return Row((name, row[label]) for name, label in _NAMES[model])


def _of(model):  # noqa: ANN001, ANN202
    return select(_table(model)).where(_table(model).c.customer_id == CUSTOMER_ID)


def _count(table):  # noqa: ANN001, ANN202
    return select(func.count()).select_from(table).where(table.c.customer_id == CUSTOMER_ID).scalar_subquery()


_b, _p, _mv, _cv = _table(Booking), _table(Product), _table(MembershipView), _table(CustomerValue)
_consent, _complaint, _fb = _table(Consent), _table(ComplaintView), _table(FeedbackView)
_cr, _task = _table(ContactRecord), _table(CareTask)
RECENT_BOOKINGS = Nested(
    select(_b, _p.c.id.label("p_id"), _p.c.name.label("p_name"), _p.c.kind.label("p_kind"),
           _p.c.destination.label("p_destination"), _p.c.tags.label("p_tags"))
    .select_from(_b.outerjoin(_p, _p.c.id == _b.c.product_id)).where(_b.c.customer_id == CUSTOMER_ID),
    _b.c.completed_at.desc(), _b.c.booking_id, limit=RECENT)
CONSENTS = Nested(_of(Consent), _consent.c.channel, _consent.c.purpose)
COMPLAINTS = Nested(_of(ComplaintView), _complaint.c.filed_at, _complaint.c.complaint_id)
FEEDBACK = Nested(select(_fb.c.nps, _fb.c.csat).where(_fb.c.customer_id == CUSTOMER_ID),
                  _fb.c.submitted_at, _fb.c.response_id)
LATEST_CONTACTS = Nested(_of(ContactRecord), _cr.c.occurred_at.desc(), _cr.c.id, limit=LATEST)
NEXT_VISIT = Nested(_of(CareTask).where(_task.c.kind == "return-visit", _task.c.status != "completed"),
                    _task.c.due_at, _task.c.id, limit=1)
OVERVIEW = (FILE.add_columns(
    *_prefixed(MembershipView, "m_"), *_prefixed(CustomerValue, "v_"),
    RECENT_BOOKINGS.column.label("recent_bookings"), _count(_b).label("booking_count"),
    CONSENTS.column.label("consents"), COMPLAINTS.column.label("complaints"), FEEDBACK.column.label("feedback"),
    LATEST_CONTACTS.column.label("latest_contacts"), _count(_cr).label("contact_count"),
    NEXT_VISIT.column.label("next_visit"))
    .outerjoin(_mv, _mv.c.customer_id == _cust.c.id).outerjoin(_cv, _cv.c.customer_id == _cust.c.id))


def _product(row: Row) -> Row | None:
    if row["p_id"] is None:
        return None
    return Row(id=row["p_id"], name=row["p_name"], kind=row["p_kind"], destination=row["p_destination"],
               tags=row["p_tags"])


def _contacts(row: Row) -> ContactsSummary:
    latest, visits = LATEST_CONTACTS.rows(row["latest_contacts"]), NEXT_VISIT.rows(row["next_visit"])
    step, step_at = (visits[0].staff_note or "return visit", visits[0].due_at) if visits else (
        (latest[0].next_step, latest[0].next_step_at) if latest else (None, None))
    return ContactsSummary(total=row["contact_count"], latest=[contact_public(c) for c in latest], next_step=step,
                           next_step_at=step_at)


async def overview(engine: AsyncEngine, customer_id: str, currency: str) -> Overview:
    """The 360 view (404 when there is no file)."""
    async with reads(engine) as db:
        row = await db.row(OVERVIEW, {"id": customer_id})
    if row is None:
        raise NotFound("customer", customer_id)
    return summarise(
        customer=_customer(row), consents=[consent_public(c) for c in CONSENTS.rows(row["consents"])],
        bookings=row["booking_count"],
        recent=[booking_public(b, _product(b)) for b in RECENT_BOOKINGS.rows(row["recent_bookings"])],
        member=_unprefixed(row, MembershipView, "m_"), complaints=COMPLAINTS.rows(row["complaints"]),
        feedback=FEEDBACK.rows(row["feedback"]),
        value=value_public(_unprefixed(row, CustomerValue, "v_"), customer_id, currency), contacts=_contacts(row),
    )
