"""The consumer path: a batch of records → its events applied once each, whatever fails.

For each batch: records that are not events (a key that is not UTF-8 or too long, no value, a header
without a value, bad JSON, an unknown type, data that does not fit its schema) are parked as dead
letters with the reason; events already in the inbox are skipped. Fast path: the batch in one
transaction — every new event's handlers, the parking, the after-batch hooks, the outbox rows and
the commit. If anything in it fails, the batch is redone one event at a time, in order: each event in
a transaction of its own (a fresh session, so the hooks see just that event's notes; its handlers and
the hooks in a savepoint there), with its outbox rows and the commit, tried a bounded number of times and then parked
with the reason — unless the database itself is unreachable (shared.db.database_unavailable): then nothing is
parked, the batch raises and the bus delivers it again later. Only then does the bus commit its offsets; a crash
in between redelivers the batch and the inbox makes the second delivery change nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import deadletters, outbox
from shared.bus import Record
from shared.db import database_unavailable, dialect_of, plan_for_arguments, utcnow
from shared.rows import rows_insert
from shared.events import Envelope, Event, EventData, EventError
from shared.inbox import DeadLetter, InboxRecord
from shared.logging import correlation_id, error_fields
from shared.metrics import Metrics
from shared.records import read

log = logging.getLogger(__name__)

Handler = Callable[[Event[Any], AsyncSession], Awaitable[None]]
Subscriptions = Mapping[type[EventData], Sequence[Handler]]
# Runs once per batch, after its handlers, in the batch's transaction (e.g. recompute what they touched;
# handlers can leave notes for it in session.info). If the batch fails anywhere, it is redone one event
# at a time: the hooks then run once per event, in that event's transaction, seeing its notes only.
BatchHook = Callable[[AsyncSession], Awaitable[None]]


@dataclass(slots=True)
class _Item:
    """A record of the batch: an event to apply, or a record to park (with the reason)."""

    record: Record
    event: Event[Any] | None = None
    envelope: Envelope | None = None
    reason: str | None = None


@dataclass
class _Outcome:
    """What a batch did, counted in the metrics once it committed."""

    applied: list[tuple[str, float]] = field(default_factory=list)  # (type, seconds)
    duplicates: list[str] = field(default_factory=list)
    parked: list[str] = field(default_factory=list)  # type labels of letters newly parked


class EventConsumer:
    """Applies events to one service's database exactly once per consumer name."""

    def __init__(
        self,
        *,
        name: str,
        sessions: async_sessionmaker[AsyncSession],
        subscriptions: Subscriptions,
        metrics: Metrics,
        max_attempts: int = 3,
        retry_delay: float = 0.05,
        after_batch: Sequence[BatchHook] = (),
    ) -> None:
        self.name = name
        self.sessions = sessions
        self.handlers = {model.type: list(handlers) for model, handlers in subscriptions.items()}
        self.topics = sorted({model.topic for model in subscriptions})
        self.metrics = metrics
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.after_batch = list(after_batch)
        self._children: dict[tuple[str, str], Any] = {}  # (metric, type) -> its labelled child, looked up once

    async def process_batch(self, records: list[Record]) -> None:
        """Apply a batch; raises (to have the bus deliver it again) only when the database cannot be written."""
        self.metrics.batch_size.labels(consumer=self.name).observe(len(records))
        items = [item for item in map(self._item, records) if item is not None]
        try:
            async with self.sessions() as session, session.begin():
                outcome = await self._apply_batch(session, items)
        except Exception as exc:  # noqa: BLE001 - something failed: redo the batch one event at a time
            log.info("batch fell back to per-event mode", extra={"consumer": self.name, **error_fields(exc)})
            outcome = _Outcome()
            try:
                await self._one_by_one(items, outcome)
            finally:
                self._count(outcome)  # what committed before a failure to park (the batch comes again)
            return
        self._count(outcome)

    def _item(self, record: Record) -> _Item | None:
        """The record as an event of this consumer, a record to park, or None (a type it does not handle)."""
        try:
            envelope = read(record)
        except EventError as exc:
            return _Item(record, reason=str(exc))
        if envelope.type not in self.handlers:
            return None  # a known event this consumer does not handle: not its business
        try:
            data = envelope.typed()
        except EventError as exc:
            return _Item(record, envelope=envelope, reason=str(exc))  # the letter keeps its type and id
        if (wrong := data.implausible(utcnow())) is not None:  # e.g. a booking completed next year
            return _Item(record, envelope=envelope, reason=f"invalid data: {wrong[0]} {wrong[1]}")
        return _Item(record, Event(envelope, data), envelope)

    async def _apply_batch(self, session: AsyncSession, items: list[_Item]) -> _Outcome:
        """Fast path: every item in the session's transaction; raises if anything fails."""
        outcome = _Outcome()
        await plan_for_arguments(session)  # the batch's statements planned for its own values (shared.db)
        fresh = await self._claim(session, [item.event for item in items if item.event is not None])
        for item in items:
            if item.event is None:
                if await deadletters.park(session, self.name, item.record, item.reason or "", item.envelope, attempts=1):
                    outcome.parked.append(deadletters.type_label(item.envelope))
            elif item.event.id not in fresh:
                outcome.duplicates.append(item.event.type)
            else:
                fresh.discard(item.event.id)  # a second copy in the same batch is a duplicate too
                outcome.applied.append((item.event.type, await self._run_handlers(session, item.event)))
        if outcome.applied:
            for hook in self.after_batch:
                await hook(session)
        return outcome

    async def _one_by_one(self, items: list[_Item], outcome: _Outcome) -> None:
        """Careful path: each event in a transaction of its own, in order; then what failed is parked, in one
        transaction after the batch's other events (as on the fast path, a letter shows once its batch is done)."""
        letters: list[tuple[_Item, str, dict[str, Any]]] = []
        for item in items:
            if item.event is None:
                letters.append((item, item.reason or "", {"attempts": 1}))
                continue
            result = await self._apply(item.event)
            if result is _DUPLICATE:
                outcome.duplicates.append(item.event.type)
            elif isinstance(result, str):
                letters.append((item, result, {"attempts": self.max_attempts, "event_id": item.event.id}))
            else:
                outcome.applied.append((item.event.type, result))
        if letters:
            async with self.sessions() as session, session.begin():
                parked = [deadletters.type_label(item.envelope) for item, error, how in letters
                          if await deadletters.park(session, self.name, item.record, error, item.envelope, **how)]
            outcome.parked.extend(parked)

    def _count(self, outcome: _Outcome) -> None:
        """Metrics of what committed."""
        for event_type, elapsed in outcome.applied:
            self._child("handler_duration", event_type).observe(elapsed)
        for event_type, n in Counter(event_type for event_type, _ in outcome.applied).items():
            self._child("events_consumed", event_type).inc(n)
        for event_type, n in Counter(outcome.duplicates).items():
            self._child("events_duplicate", event_type).inc(n)
        for label, n in Counter(outcome.parked).items():
            self._child("events_dead_lettered", label).inc(n)

    def _child(self, metric: str, event_type: str) -> Any:
        """The metric's child for this consumer and type (prometheus' `labels()` costs more than the count)."""
        if (child := self._children.get((metric, event_type))) is None:
            child = self._children[metric, event_type] = getattr(self.metrics, metric).labels(
                consumer=self.name, type=event_type)
        return child

    async def _claim(self, session: AsyncSession, events: list[Event[Any]]) -> set[str]:
        """Mark the events in the inbox in one statement; returns the ids that were not there yet."""
        if not events:
            return set()
        now = utcnow()
        rows = {e.id: {"consumer": self.name, "event_id": e.id, "event_type": e.type, "applied_at": now} for e in events}
        # the table, not the entity: a Core INSERT, no ORM bulk bookkeeping per row; one statement text whatever
        # the batch's size (prepared once per connection on PostgreSQL)
        statement, params = rows_insert(dialect_of(session), InboxRecord.__table__, list(rows.values()),
                                        returning=("event_id",), skip_conflicts=True)
        return set((await session.execute(statement, params)).scalars())

    async def _run_handlers(self, session: AsyncSession, event: Event[Any]) -> float:
        """Run the event's handlers under its correlation id; returns the seconds they took."""
        token = correlation_id.set(event.envelope.correlationid or event.id)
        started = time.perf_counter()
        try:
            for handler in self.handlers[event.type]:
                await handler(event, session)
        finally:
            correlation_id.reset(token)
        return time.perf_counter() - started

    async def _apply(self, event: Event[Any]) -> float | str | object:
        """The event alone, in a transaction of its own (inbox, handlers, hooks, outbox rows, commit), retried:
        the seconds its handlers took, _DUPLICATE if it was applied already, or the last error."""
        error = "no attempt"
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with self.sessions() as session, session.begin():
                    await plan_for_arguments(session)
                    if not await self._claim(session, [event]):
                        return _DUPLICATE
                    # handlers and hooks in a savepoint, as before: handlers may tell this path by it (loyalty
                    # earns at once in a savepoint rather than leaving it to a hook)
                    async with outbox.savepoint(session):
                        elapsed = await self._run_handlers(session, event)
                        for hook in self.after_batch:
                            await hook(session)
                return elapsed
            except Exception as exc:  # noqa: BLE001 - counted, retried, then dead-lettered
                self.metrics.events_failed.labels(consumer=self.name, type=event.type).inc()
                if database_unavailable(exc):  # not the event's fault: the bus delivers the batch again later
                    raise
                error = deadletters.error_text(exc)
                log.warning(
                    "event failed",
                    extra={"consumer": self.name, "event_id": event.id, "type": event.type, "attempt": attempt,
                           **error_fields(exc)},
                )
                if attempt < self.max_attempts:
                    await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))
        return error

    # --- dead letters ---------------------------------------------------------------------------

    async def dead_letters(self, *, status: str | None = "parked", limit: int = 100, after: int = 0) -> list[DeadLetter]:
        async with self.sessions() as session:
            return await deadletters.list_letters(session, self.name, status=status, limit=limit, after=after)

    async def dead_letter(self, letter_id: int) -> DeadLetter | None:
        async with self.sessions() as session:
            return await deadletters.get_letter(session, self.name, letter_id)

    async def discard(self, letter_id: int, *, by: str, note: str) -> tuple[DeadLetter | None, bool]:
        """Discard a parked letter: it stays, marked discarded with who and why, and is never applied.
        Returns the letter (None: no such letter) and whether this discarded it (False: it was not parked)."""
        async with self.sessions() as session, session.begin():
            letter = await deadletters.get_letter(session, self.name, letter_id, lock=True)
            done = letter is not None and deadletters.discard(letter, by=by, note=note)
        if done:
            log.info("dead letter discarded", extra={"consumer": self.name, "letter": letter_id})
        return letter, done

    async def replay_letter(self, letter_id: int, *, by: str | None = None) -> tuple[DeadLetter | None, str]:
        """Replay one letter: the letter as it is after (None: no such letter) and the outcome ('replayed',
        'still failing: …', or '' when it was not parked)."""
        letter = await self.dead_letter(letter_id)
        if letter is None or letter.status != "parked":
            return letter, ""
        outcome = await self._replay_one(letter, by)
        return await self.dead_letter(letter_id), outcome

    async def replay(self, ids: Sequence[int] | None = None, *, by: str | None = None) -> dict[int, str]:
        """Read parked dead letters again from the stored record (value and headers) and apply them, each
        event in its own transaction as in the careful path; returns id → outcome."""
        outcomes: dict[int, str] = {}
        for letter in await self.dead_letters(limit=10_000):
            if ids is None or letter.id in ids:
                outcomes[letter.id] = await self._replay_one(letter, by)
        return {k: v for k, v in outcomes.items() if v}

    async def _replay_one(self, letter: DeadLetter, by: str | None = None) -> str:
        error: str | None = None
        try:
            envelope = read(deadletters.record_of(letter))
            event = Event(envelope, envelope.typed())
        except EventError as exc:
            error = str(exc)
        else:
            if event.type in self.handlers:
                result = await self._apply(event)
                if isinstance(result, str):
                    error = result
                elif result is not _DUPLICATE:
                    self._count(_Outcome(applied=[(event.type, float(result))]))
        async with self.sessions() as session, session.begin():
            row = await session.get(DeadLetter, letter.id, with_for_update=True)
            if row is None or row.status != "parked":
                return ""  # another replay took it meanwhile
            if error is not None:
                row.error, row.attempts, row.last_failed_at = error, row.attempts + 1, utcnow()
                return f"still failing: {error}"
            row.status, row.replayed_at, row.settled_by = "replayed", utcnow(), by
            return "replayed"


_DUPLICATE = object()
