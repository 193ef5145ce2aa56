"""GET /v1/members/{id}, the member view the booking website and app show at checkout, read by one prebuilt
statement on a pooled connection outside a transaction (`shared.lane.reads`): no session, no ORM objects. The member
row comes with the current programme, its qualification, holds, roster and expiring points (the lists as JSON
columns, `shared.lane.Nested`); a second statement only for a family or enterprise member whose points sit with
the account's head, a merged id, or a programme that changed since the last read. Shaped by `members.shape`, as the
view after a change is.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.loyalty import repository
from services.loyalty.members import shape
from services.loyalty.models import Booking, Lot, Member, Redemption
from services.loyalty.rules import Stats
from services.loyalty.schemas import MemberPublic
from shared.db import utcnow
from shared.errors import NotFound
from shared.lane import Nested, Reads, Row, reads
from shared.settings import Settings

_m, _r, _b, _l = Member.__table__, Redemption.__table__, Booking.__table__, Lot.__table__
ID, NOW, SINCE, UNTIL = bindparam("id"), bindparam("now"), bindparam("since"), bindparam("until")


def _qualifying(aggregate):  # noqa: ANN001, ANN202 - over the member's own bookings in the window from :since
    return (select(aggregate).where(_b.c.customer_id == _m.c.customer_id, _b.c.status == "completed",
                                    _b.c.completed_at >= SINCE).scalar_subquery())


_roster = _m.alias("roster")
HOLDS = Nested(select(_r).where(_r.c.customer_id == _m.c.customer_id, _r.c.status == "held", _r.c.expires_at > NOW),
               _r.c.created_at, _r.c.id, outer=(_m,))
ROSTER = Nested(select(_roster.c.customer_id).where(_roster.c.account_id == _m.c.customer_id,
                                                    _roster.c.status == "active"), _roster.c.customer_id, outer=(_m,))
EXPIRING = Nested(select(_l.c.expires_on, func.sum(_l.c.remaining).label("points"))
                  .where(_l.c.customer_id == _m.c.customer_id, _l.c.remaining > 0, _l.c.expires_on <= UNTIL)
                  .group_by(_l.c.expires_on), _l.c.expires_on, outer=(_m,))
# The member row, the current programme, the member's own qualification in a window guessed from the programme seen
# last and its points expiring within that programme's notice; used for the account (the member, or its head read by
# the same statement) when the current programme has that window and notice, which is nearly always.
MEMBER = (select(_m, repository.CURRENT.with_only_columns(repository.CURRENT.selected_columns.config)
                 .scalar_subquery().label("programme_config"),
                 _qualifying(func.sum(_b.c.qualifying)).label("q_points"),
                 _qualifying(func.sum(_b.c.spend)).label("q_spend"), _qualifying(func.count()).label("q_trips"),
                 HOLDS.column.label("holds"), ROSTER.column.label("roster"), EXPIRING.column.label("expiring"))
          .where(_m.c.customer_id == ID))
_seen = [repository.parse_programme(None)]  # the programme of the last read, for the next one's guess
QUALIFICATION = (select(func.sum(_b.c.qualifying).label("points"), func.sum(_b.c.spend).label("spend"),
                        func.count().label("trips"))
                 .where(_b.c.customer_id == ID, _b.c.status == "completed", _b.c.completed_at >= SINCE))
EXPIRING_AGAIN = (select(_l.c.expires_on, func.sum(_l.c.remaining).label("points"))
                  .where(_l.c.customer_id == ID, _l.c.remaining > 0, _l.c.expires_on <= UNTIL)
                  .group_by(_l.c.expires_on).order_by(_l.c.expires_on))


async def _resolve(db: Reads, customer_id: str, guess: dict) -> Row | None:
    """The active member for a customer id, following merges (as `repository.resolve`); `guess`: the statement's
    parameters besides the id."""
    member = await db.row(MEMBER, {**guess, "id": customer_id})
    for _ in range(10):
        if member is None or member.status != "merged" or not member.merged_into:
            break
        member = await db.row(MEMBER, {**guess, "id": member.merged_into})
    return member if member is not None and member.status == "active" else None


async def _account(db: Reads, member: Row, guess: dict) -> Row:
    """The member whose balance holds this member's points (as `repository.account_of`)."""
    if member.account_id and member.account_id != member.customer_id:
        head = await _resolve(db, member.account_id, guess)
        if head is not None and (head.member_type == "family" or head.points_to == "account"):
            return head
    return member


async def member(engine: AsyncEngine, settings: Settings, customer_id: str) -> MemberPublic:
    """The member view of an active member (404 otherwise)."""
    now = utcnow()
    today = now.astimezone(settings.tz).date()
    seen = _seen[0]
    guess = {"since": repository.window_start(seen, now), "now": now, "until": today + timedelta(days=seen.notice_days)}
    async with reads(engine) as db:
        found = await _resolve(db, customer_id, guess)
        if found is None:
            raise NotFound("member", customer_id)
        account = await _account(db, found, guess)
        prog = _seen[0] = repository.parse_programme(found.programme_config)
        ident = {"id": account.customer_id}
        since = repository.window_start(prog, now)
        q = Row(points=account.q_points, spend=account.q_spend, trips=account.q_trips) if since == guess["since"] \
            else await db.row(QUALIFICATION, {**ident, "since": since})
        until = today + timedelta(days=prog.notice_days)
        expiring = EXPIRING.rows(account.expiring) if until == guess["until"] else \
            await db.rows(EXPIRING_AGAIN, {**ident, "until": until})
    return shape(found, account, prog, today, holds=HOLDS.rows(account.holds),
                 stats=Stats(int(q["points"] or 0), Decimal(q["spend"] or 0), int(q["trips"])),
                 roster=[r.customer_id for r in ROSTER.rows(account.roster)],
                 expiring=[(r.expires_on, int(r.points)) for r in expiring])
