"""Operations routes every service serves (scope `ops:admin`): its consumer's dead letters — list, show one
with the record it keeps (value, key, headers), replay it (applied once: the inbox), or discard it (kept,
marked discarded with who and why, never applied)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from shared.app import RuntimeDep
from shared.auth import Scope
from shared.errors import Conflict, NotFound
from shared.inbox import DeadLetter
from shared.pages import INT64, Cursor, Limit, Page, decode_cursor, page_of
from shared.deadletters import record_of

LetterId = Annotated[int, Path(ge=1, le=INT64, description="the dead letter's id")]


class DeadLetterSummary(BaseModel):
    """A parked (or settled) record of the consumer, with the reason it could not be applied."""

    id: int
    consumer: str
    status: Literal["parked", "replayed", "discarded"]
    topic: str
    partition: int
    offset: int
    key: str | None = Field(description="the record's key, or sha256:<hex> of one that was not UTF-8 or too long")
    event_id: str | None
    event_type: str | None
    error: str = Field(description="why it was parked (the last failure)")
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    replayed_at: datetime | None
    discarded_at: datetime | None
    settled_by: str | None = Field(description="the client that replayed or discarded it")
    note: str | None = Field(description="why it was discarded")

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterSummary:
        return cls.model_validate(letter, from_attributes=True)


class StoredBytes(BaseModel):
    """Bytes as kept: `text` when they are UTF-8, and always `base64`; both null for no value."""

    text: str | None
    base64: str | None

    @classmethod
    def of(cls, raw: bytes | None) -> StoredBytes:
        if raw is None:
            return cls(text=None, base64=None)
        try:
            text: str | None = raw.decode()
        except UnicodeDecodeError:
            text = None
        return cls(text=text, base64=base64.b64encode(raw).decode())


class StoredHeader(BaseModel):
    name: str
    value: StoredBytes


class DeadLetterView(DeadLetterSummary):
    """A dead letter with the original record: value, key and headers, as they came."""

    value: StoredBytes
    headers: list[StoredHeader]

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterView:
        record = record_of(letter)
        return cls(**DeadLetterSummary.of(letter).model_dump(), value=StoredBytes.of(letter.payload),
                   headers=[StoredHeader(name=name, value=StoredBytes.of(value)) for name, value in record.headers])


class Discard(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="why the record will never be applied (audit)")


class ReplayOutcome(BaseModel):
    outcome: Literal["replayed", "still failing"]
    letter: DeadLetterSummary


router = APIRouter(prefix="/v1/ops/dead-letters", tags=["ops"])


@router.get("", response_model=Page[DeadLetterSummary])
async def list_dead_letters(
    runtime: RuntimeDep, client: Scope("ops:admin"), cursor: Cursor = None, limit: Limit = 50,
    status: Annotated[Literal["parked", "replayed", "discarded", "all"], Query()] = "parked",
) -> Page[DeadLetterSummary]:
    """The consumer's dead letters in id order (default: those still parked)."""
    (after,) = decode_cursor(cursor, int) or (0,)
    letters = await runtime.consumer.dead_letters(status=None if status == "all" else status, limit=limit + 1,
                                                  after=after)
    return page_of(letters, limit, lambda letter: (letter.id,), DeadLetterSummary.of)


@router.get("/{letter_id}", response_model=DeadLetterView)
async def show_dead_letter(letter_id: LetterId, runtime: RuntimeDep, client: Scope("ops:admin")) -> DeadLetterView:
    """One dead letter with the record it keeps (value, key, headers) and the reason."""
    letter = await runtime.consumer.dead_letter(letter_id)
    if letter is None:
        raise NotFound("dead letter", letter_id)
    return DeadLetterView.of(letter)


@router.post("/{letter_id}/replay", response_model=ReplayOutcome)
async def replay_dead_letter(letter_id: LetterId, runtime: RuntimeDep, client: Scope("ops:admin")) -> ReplayOutcome:
    """Read the stored record again and apply it (once: an event already applied is not applied again). One that
    still fails stays parked with the new reason."""
    letter, outcome = await runtime.consumer.replay_letter(letter_id, by=client.name)
    if letter is None:
        raise NotFound("dead letter", letter_id)
    if not outcome:
        raise Conflict(f"only a parked dead letter can be replayed; this one is {letter.status}")
    return ReplayOutcome(outcome="replayed" if outcome == "replayed" else "still failing",
                         letter=DeadLetterSummary.of(letter))


@router.post("/{letter_id}/discard", response_model=DeadLetterSummary)
async def discard_dead_letter(letter_id: LetterId, body: Discard, runtime: RuntimeDep,
                              client: Scope("ops:admin")) -> DeadLetterSummary:
    """Never apply this record: it stays listed as discarded, with who discarded it and why."""
    letter, done = await runtime.consumer.discard(letter_id, by=client.name, note=body.reason)
    if letter is None:
        raise NotFound("dead letter", letter_id)
    if not done:
        raise Conflict(f"only a parked dead letter can be discarded; this one is {letter.status}")
    return DeadLetterSummary.of(letter)
