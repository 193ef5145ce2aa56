"""The sample service with a fault to inject in each stage of handling one event.

- handler: a product of kind 'poison' (the sample handler raises);
- after-batch hook: a product of kind 'overflow' makes the hook overflow as profile's did converting a
  booking completed at 9999-12-31T23:59:59Z to the business time zone (the event model now refuses that
  date, so the fault is injected, not reached);
- outbox write at commit: a product of kind 'echo-twice' makes the handler add one event twice to the
  outbox (the same event id: the INSERT of the outbox rows fails);
- the commit: a product of kind 'unsaveable' makes a before_commit session hook refuse the transaction's commit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from shared import outbox
from shared.events import BookingCompleted, Event
from tests.sample import app as sample

NOTES = "sample_completed"
REFUSE = "sample_refuse_commit"
HOOK_SAW: list[list[str]] = []  # the booking ids whose notes each hook call found


async def on_booking_completed(event: Event[BookingCompleted], session: AsyncSession) -> None:
    kind = event.data.product.kind
    if kind == "echo-twice":
        echo = sample.order_event(event.data.customer_id, 999_999)
        outbox.add(session, echo, echo)
    if kind == "unsaveable":
        session.info[REFUSE] = True
    session.info.setdefault(NOTES, []).append((event.data.booking_id, kind))
    await sample.on_booking_completed(event, session)


async def to_business_time(session: AsyncSession) -> None:
    notes = session.info.pop(NOTES, [])
    HOOK_SAW.append([booking for booking, _ in notes])
    for _, kind in notes:
        if kind == "overflow":
            raise OverflowError("date value out of range")


def refuse_commit(session: Any) -> None:
    # the commit of the transaction, not a savepoint's release (before_commit runs for both): as a
    # deferred constraint or a serialization failure would
    if not session.in_nested_transaction() and session.info.pop(REFUSE, False):
        raise RuntimeError("commit refused")


FAULTY = dataclasses.replace(
    sample.SPEC,
    subscriptions={BookingCompleted: [on_booking_completed]},
    after_batch=[to_business_time],
    session_hooks={"before_commit": [refuse_commit]},
)
