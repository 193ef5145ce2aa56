"""The points-as-cash hold and the capture on PostgreSQL: one call of a server-side function each.

The functions (migration loyalty_0007) do what `redemptions.fast_cash_hold` and `redemptions.capture` do in the
fast lane — the Idempotency-Key with its answer, the hold, the member's lock last; the claim of the hold, the
balance, the ledger entry, the lots FIFO, points-redeemed in the outbox — in one round trip in autocommit, so the
member's row is locked only inside the server. What they do not cover they leave untouched and say so, and the
caller takes the lane or the general path, which decide and word every refusal (SQLite always takes those).

The programme a hold prices with is this process's copy of the current programme's text, which the call checks
against the stored one under the same snapshot as the hold ('programme': the current text, and the caller asks
again), so a changed programme applies from the next hold on, as when it was read per request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.loyalty import points_counter, repository
from services.loyalty.redemptions import SOURCE, NotFast, cash_hold_row
from shared import idempotency, outbox
from shared.errors import Problem
from shared.events import PointsRedeemed, new_event
from shared.lane import call, url_of

_HOLD = text("SELECT outcome, stored_hash AS request_hash, stored_status AS status_code, stored_answer AS response "
             "FROM loyalty_cash_hold(:customer_id, :points, :config, :id, :booking_id, :cash_value, :currency, "
             ":expires_at, :created_at, :client, :key, :digest, :answer)")
_CAPTURE = text("SELECT * FROM loyalty_capture(:rid, :now, :event_id, :topic, :type, :envelope)")
_UNKNOWN = ""  # never a stored programme (JSON text): the first call of a process learns the current one
_PROGRAMMES: dict[str, str | None] = {}  # database URL → the text of its current programme, as last seen


async def cash_hold(engine: AsyncEngine, customer_id: str, now: datetime, *, points: int, booking_id: str | None,
                    client: str, key: str, digest: str, view: Callable[[Any], str]) -> str:
    """A points-as-cash hold on a member who is their own account; its answer (`view` of the hold: JSON text),
    stored with the key. Raises idempotency.Replayed (the key's first answer) or NotFast (nothing written: the
    general path)."""
    url = url_of(engine)
    for _ in range(5):
        config = _PROGRAMMES.get(url, _UNKNOWN)
        hold = cash_hold_row(repository.parse_programme(config or None), customer_id, now, points=points,
                             booking_id=booking_id)
        answer = view(hold)
        found = await call(engine, _HOLD, {**vars(hold), "config": config, "client": client, "key": key,
                                           "digest": digest, "answer": answer})
        outcome = found[0]["outcome"] if found else "replay"  # no row: the key's holder went away; ask again
        if outcome == "held":
            return answer
        if outcome == "general":
            raise NotFast
        if outcome == "programme":
            _PROGRAMMES[url] = found[0]["response"]
        elif found:  # replay
            raise idempotency.Replayed(idempotency.stored(found[0], digest))
    raise Problem(409, "concurrent requests with this Idempotency-Key; retry")


async def capture(engine: AsyncEngine, redemption_id: str, now: datetime) -> SimpleNamespace | None:
    """Capture a points-as-cash hold; None when the call did not apply (nothing written: the lane's `capture`
    decides, e.g. settled already, expired, unknown, a reward's hold, an account that cannot pay)."""
    placeholder = PointsRedeemed(customer_id="-", points=0, balance=0, entry_id="-", redemption_id=redemption_id)
    envelope = new_event(placeholder, source=SOURCE)  # the call fills in subject and data from the hold
    try:
        found = await call(engine, _CAPTURE, {
            "rid": redemption_id, "now": now, "event_id": envelope.id, "topic": envelope.topic, "type": envelope.type,
            "envelope": envelope.to_bytes().decode()})
    except asyncpg.RaiseError:  # the account cannot pay: rolled back, the lane words the refusal
        return None
    if not found:
        return None
    url = url_of(engine)
    redemption = SimpleNamespace(**found[0])
    points_counter.on_commit("redeem", -redemption.points)(url)
    outbox.wake_relays(url)
    return redemption
