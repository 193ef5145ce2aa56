"""The consumer path: a batch of records → one transaction that applies each new event once.

For each batch: records that are not events (bad JSON, unknown type, data that does not
fit its schema) are dead-lettered with the reason; events already in the inbox are skipped;
every other event runs its handlers inside a savepoint, retried a bounded number of times,
and is then either marked in the inbox or dead-lettered. The whole batch commits once,
and only then does the bus commit its offsets. If the commit itself fails, the bus delivers
the batch again and the inbox makes the second delivery change nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import outbox
from shared.bus import Record
from shared.db import utcnow
from shared.events import Event, EventData, EventError, decode, decode_envelope
from shared.inbox import DeadLetter, InboxRecord
from shared.logging import correlation_id
from shared.metrics import Metrics

log = logging.getLogger(__name__)

Handler = Callable[[Event[Any], AsyncSession], Awaitable[None]]
Subscriptions = Mapping[type[EventData], Sequence[Handler]]
# Runs once per batch, after its handlers, in the batch's transaction (e.g. recompute what they touched;
# handlers can leave notes for it in session.info). If it raises, the whole batch is delivered again.
BatchHook = Callable[[AsyncSession], Awaitable[None]]


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

    async def process_batch(self, records: list[Record]) -> None:
        """Apply a batch in one transaction; raise to have the bus deliver it again."""
        self.metrics.batch_size.labels(consumer=self.name).observe(len(records))
        events: list[tuple[Record, Event[Any]]] = []
        bad: list[tuple[Record, str]] = []
        for record in records:
            try:
                envelope = decode_envelope(record.value)
                if envelope.type not in self.handlers:
                    continue  # a known event this consumer does not handle: not its business
                events.append((record, Event(envelope, envelope.typed())))
            except EventError as exc:
                bad.append((record, str(exc)))

        try:
            # Fast path: the whole batch without savepoints, one flush and one commit.
            async with self.sessions() as session, session.begin():
                applied = await self._apply_batch(session, events, bad, careful=False)
        except Exception as exc:  # noqa: BLE001 - a handler failed: redo the batch one event at a time
            log.info("batch fell back to per-event mode", extra={"consumer": self.name, "error_type": type(exc).__name__})
            async with self.sessions() as session, session.begin():
                applied = await self._apply_batch(session, events, bad, careful=True)
        for event_type, elapsed in applied:  # counted once committed
            self.metrics.handler_duration.labels(consumer=self.name, type=event_type).observe(elapsed)
            self.metrics.events_consumed.labels(consumer=self.name, type=event_type).inc()

    async def _apply_batch(
        self, session: AsyncSession, events: list[tuple[Record, Event[Any]]], bad: list[tuple[Record, str]],
        *, careful: bool,
    ) -> list[tuple[str, float]]:
        """Apply new events (careful: each in a savepoint, parking failures); returns (type, seconds) applied."""
        applied: list[tuple[str, float]] = []
        fresh = await self._claim(session, [event for _, event in events])
        for record, event in events:
            if event.id not in fresh:
                self.metrics.events_duplicate.labels(consumer=self.name, type=event.type).inc()
                continue
            fresh.discard(event.id)  # a second copy in the same batch is a duplicate too
            if careful:
                elapsed = await self._apply(session, event)
                if isinstance(elapsed, str):
                    await self._unclaim(session, event.id)
                    await self._park(session, record, elapsed, event)
                    continue
            else:
                elapsed = await self._run_handlers(session, event)  # raises: the caller redoes the batch carefully
            applied.append((event.type, elapsed))
        for record, reason in bad:
            await self._park(session, record, reason, None)
        if applied:
            for hook in self.after_batch:
                await hook(session)
        return applied

    async def _claim(self, session: AsyncSession, events: list[Event[Any]]) -> set[str]:
        """Mark the events in the inbox in one statement; returns the ids that were not there yet."""
        if not events:
            return set()
        now = utcnow()
        rows = {e.id: {"consumer": self.name, "event_id": e.id, "event_type": e.type, "applied_at": now} for e in events}
        insert = sqlite_insert if session.bind.dialect.name == "sqlite" else postgresql_insert
        inbox = InboxRecord.__table__  # the table, not the entity: a Core INSERT, no ORM bulk bookkeeping per row
        statement = insert(inbox).on_conflict_do_nothing().returning(inbox.c.event_id)
        return set((await session.execute(statement, list(rows.values()))).scalars())

    async def _unclaim(self, session: AsyncSession, event_id: str) -> None:
        await session.execute(
            delete(InboxRecord).where(InboxRecord.consumer == self.name, InboxRecord.event_id == event_id)
        )

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

    async def _apply(self, session: AsyncSession, event: Event[Any]) -> float | str:
        """Run the event's handlers in a savepoint, retrying; the seconds taken, or the last error."""
        error = "no attempt"
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with outbox.savepoint(session):
                    return await self._run_handlers(session, event)
            except Exception as exc:  # noqa: BLE001 - counted, retried, then dead-lettered
                self.metrics.events_failed.labels(consumer=self.name, type=event.type).inc()
                error = f"{type(exc).__name__}: {exc}"[:4000]
                log.warning(
                    "handler failed",
                    extra={"consumer": self.name, "event_id": event.id, "type": event.type, "attempt": attempt,
                           "error_type": type(exc).__name__},
                )
                if attempt < self.max_attempts:
                    await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))
        return error

    async def _park(self, session: AsyncSession, record: Record, error: str, event: Event[Any] | None) -> None:
        fingerprint = event.id if event else f"{record.topic}:{record.partition}:{record.offset}"
        existing = (
            await session.execute(
                select(DeadLetter).where(DeadLetter.consumer == self.name, DeadLetter.fingerprint == fingerprint)
            )
        ).scalar_one_or_none()
        event_type = event.type if event else (record.event_type or "unknown")
        if existing is not None:
            existing.error, existing.attempts, existing.last_failed_at = error, existing.attempts + 1, utcnow()
            existing.status = "parked"
        else:
            session.add(
                DeadLetter(
                    consumer=self.name,
                    fingerprint=fingerprint,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    key=record.key,
                    event_id=event.id if event else None,
                    event_type=event.type if event else None,
                    payload=record.value,
                    headers=json.dumps([[k, base64.b64encode(v).decode()] for k, v in record.headers]),
                    error=error,
                    attempts=self.max_attempts if event else 1,
                )
            )
        self.metrics.events_dead_lettered.labels(consumer=self.name, type=event_type).inc()
        log.error(
            "record dead-lettered",
            extra={"consumer": self.name, "topic": record.topic, "partition": record.partition,
                   "offset": record.offset, "event_id": event.id if event else None, "type": event_type},
        )

    # --- dead letters ---------------------------------------------------------------------------

    async def dead_letters(self, *, status: str | None = "parked", limit: int = 100) -> list[DeadLetter]:
        async with self.sessions() as session:
            query = select(DeadLetter).where(DeadLetter.consumer == self.name).order_by(DeadLetter.id).limit(limit)
            if status:
                query = query.where(DeadLetter.status == status)
            return list((await session.execute(query)).scalars())

    async def replay(self, ids: Sequence[int] | None = None) -> dict[int, str]:
        """Apply parked dead letters again, each in its own transaction; returns id → outcome."""
        outcomes: dict[int, str] = {}
        for letter in await self.dead_letters(limit=10_000):
            if ids is not None and letter.id not in ids:
                continue
            async with self.sessions() as session, session.begin():
                row = await session.get(DeadLetter, letter.id, with_for_update=True)
                if row is None or row.status != "parked":
                    continue
                try:
                    envelope, data = decode(row.payload)
                except EventError as exc:
                    row.error, row.attempts, row.last_failed_at = str(exc), row.attempts + 1, utcnow()
                    outcomes[row.id] = f"still failing: {exc}"
                    continue
                event = Event(envelope, data)
                applied = await session.get(InboxRecord, (self.name, event.id))
                if applied is None and event.type in self.handlers:
                    outcome = await self._apply(session, event)
                    if isinstance(outcome, str):
                        row.error, row.attempts, row.last_failed_at = outcome, row.attempts + 1, utcnow()
                        outcomes[row.id] = f"still failing: {outcome}"
                        continue
                    session.add(InboxRecord(consumer=self.name, event_id=event.id, event_type=event.type))
                    for hook in self.after_batch:
                        await hook(session)
                    self.metrics.events_consumed.labels(consumer=self.name, type=event.type).inc()
                row.status, row.replayed_at = "replayed", utcnow()
                outcomes[row.id] = "replayed"
        return outcomes
