"""Parking records as dead letters — any record, whatever its bytes — and reading them back for replay.

A dead letter keeps the record as it came: its value as bytes (empty for a tombstone), its headers
(name and base64 value, null for a header without one) and its key — verbatim when it is UTF-8 and fits
the column, else `sha256:<hex>` of its bytes. Columns with a limit get truncated text, so that storing
a letter cannot fail on what the record holds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.bus import Record
from shared.db import utcnow
from shared.events import EVENT_TYPES, Envelope
from shared.inbox import DeadLetter

log = logging.getLogger(__name__)

ERROR_LIMIT = 4000


def error_text(exc: BaseException) -> str:
    """The reason a dead letter keeps (in the service's own database, never in logs)."""
    return f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]


def type_label(envelope: Envelope | None) -> str:
    """A metrics label for the record's type: a catalog type, or 'unknown' (labels must stay few)."""
    return envelope.type if envelope is not None and envelope.type in EVENT_TYPES else "unknown"


async def park(
    session: AsyncSession, consumer: str, record: Record, error: str, envelope: Envelope | None, *,
    attempts: int, event_id: str | None = None,
) -> bool:
    """Store the record as a dead letter in the session's transaction (or update the letter it already has);
    returns whether this makes a letter parked that was not (for the dead-letter counter, once committed).
    `event_id`: the letter is the event's (an applicable event whose handling failed), else the record's."""
    fingerprint = event_id or f"{record.topic}:{record.partition}:{record.offset}"[:300]
    existing = (
        await session.execute(
            select(DeadLetter).where(DeadLetter.consumer == consumer, DeadLetter.fingerprint == fingerprint)
        )
    ).scalar_one_or_none()
    if existing is not None:
        newly = existing.status != "parked"
        existing.error, existing.attempts, existing.last_failed_at = error[:ERROR_LIMIT], existing.attempts + 1, utcnow()
        existing.status = "parked"
    else:
        newly = True
        session.add(
            DeadLetter(
                consumer=consumer, fingerprint=fingerprint, topic=record.topic[:200], partition=record.partition,
                offset=record.offset, key=stored_key(record), payload=record.value or b"",
                headers=stored_headers(record.headers),
                event_id=envelope.id[:200] if envelope is not None else None,
                event_type=envelope.type[:100] if envelope is not None else None,
                error=error[:ERROR_LIMIT], attempts=attempts,
            )
        )
    log.error(
        "record dead-lettered",
        extra={"consumer": consumer, "topic": record.topic[:200], "partition": record.partition,
               "offset": record.offset, "event_id": envelope.id[:200] if envelope else None,
               "type": type_label(envelope)},
    )
    return newly


def stored_key(record: Record) -> str | None:
    if record.raw_key is None and (record.key is None or len(record.key) <= 200):
        return record.key
    raw = record.raw_key if record.raw_key is not None else record.key.encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def stored_headers(headers: list[tuple[str, bytes | None]]) -> str:
    return json.dumps([[name, None if value is None else base64.b64encode(value).decode()] for name, value in headers])


def record_of(letter: DeadLetter) -> Record:
    """The record a dead letter keeps, with its headers, to be read again (replay)."""
    headers = [(name, None if value is None else base64.b64decode(value)) for name, value in json.loads(letter.headers)]
    return Record(letter.topic, letter.key, letter.payload, None, headers, letter.partition, letter.offset)


async def list_letters(
    session: AsyncSession, consumer: str, *, status: str | None = "parked", limit: int = 100, after: int = 0
) -> list[DeadLetter]:
    """Letters of `consumer` in id order, past id `after`; `status` None: all of them."""
    query = (select(DeadLetter).where(DeadLetter.consumer == consumer, DeadLetter.id > after)
             .order_by(DeadLetter.id).limit(limit))
    if status:
        query = query.where(DeadLetter.status == status)
    return list((await session.execute(query)).scalars())


async def get_letter(session: AsyncSession, consumer: str, letter_id: int, *, lock: bool = False) -> DeadLetter | None:
    letter = await session.get(DeadLetter, letter_id, with_for_update=lock)
    return letter if letter is not None and letter.consumer == consumer else None


def discard(letter: DeadLetter, *, by: str, note: str) -> bool:
    """Mark a parked letter discarded (kept for the audit, never applied); False if it is not parked."""
    if letter.status != "parked":
        return False
    letter.status, letter.discarded_at, letter.settled_by, letter.note = "discarded", utcnow(), by[:100], note[:500]
    return True
