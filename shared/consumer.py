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

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.bus import Record
from shared.db import utcnow
from shared.events import Event, EventData, EventError, decode, decode_envelope
from shared.inbox import DeadLetter, InboxRecord
from shared.logging import correlation_id
from shared.metrics import Metrics

log = logging.getLogger(__name__)

Handler = Callable[[Event[Any], AsyncSession], Awaitable[None]]
Subscriptions = Mapping[type[EventData], Sequence[Handler]]


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
    ) -> None:
        self.name = name
        self.sessions = sessions
        self.handlers = {model.type: list(handlers) for model, handlers in subscriptions.items()}
        self.topics = sorted({model.topic for model in subscriptions})
        self.metrics = metrics
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay

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

        async with self.sessions() as session, session.begin():
            seen: set[str] = set()
            if events:
                ids = list({event.id for _, event in events})
                seen = set(
                    (
                        await session.execute(
                            select(InboxRecord.event_id).where(
                                InboxRecord.consumer == self.name, InboxRecord.event_id.in_(ids)
                            )
                        )
                    ).scalars()
                )
            for record, event in events:
                if event.id in seen:
                    self.metrics.events_duplicate.labels(consumer=self.name, type=event.type).inc()
                    continue
                seen.add(event.id)
                error = await self._apply(session, event)
                if error is None:
                    session.add(InboxRecord(consumer=self.name, event_id=event.id, event_type=event.type))
                else:
                    await self._park(session, record, error, event)
            for record, reason in bad:
                await self._park(session, record, reason, None)

    async def _apply(self, session: AsyncSession, event: Event[Any]) -> str | None:
        """Run the event's handlers in a savepoint, retrying; None when applied, else the last error."""
        token = correlation_id.set(event.envelope.correlationid or event.id)
        try:
            error = "no attempt"
            for attempt in range(1, self.max_attempts + 1):
                started = time.perf_counter()
                try:
                    async with session.begin_nested():
                        for handler in self.handlers[event.type]:
                            await handler(event, session)
                except Exception as exc:  # noqa: BLE001 - counted, retried, then dead-lettered
                    error = f"{type(exc).__name__}: {exc}"[:4000]
                    self.metrics.events_failed.labels(consumer=self.name, type=event.type).inc()
                    log.warning(
                        "handler failed",
                        extra={"consumer": self.name, "event_id": event.id, "type": event.type, "attempt": attempt,
                               "error_type": type(exc).__name__},
                    )
                    if attempt < self.max_attempts:
                        await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))
                    continue
                self.metrics.handler_duration.labels(consumer=self.name, type=event.type).observe(
                    time.perf_counter() - started
                )
                self.metrics.events_consumed.labels(consumer=self.name, type=event.type).inc()
                return None
            return error
        finally:
            correlation_id.reset(token)

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
                   "offset": record.offset, "event_id": event.id if event else None, "reason": error[:300]},
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
                    error = await self._apply(session, event)
                    if error is not None:
                        row.error, row.attempts, row.last_failed_at = error, row.attempts + 1, utcnow()
                        outcomes[row.id] = f"still failing: {error}"
                        continue
                    session.add(InboxRecord(consumer=self.name, event_id=event.id, event_type=event.type))
                row.status, row.replayed_at = "replayed", utcnow()
                outcomes[row.id] = "replayed"
        return outcomes
