"""Inbox and dead letters: what each consumer applied, and what it could not."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import utcnow

_ID = BigInteger().with_variant(Integer, "sqlite")


class InboxRecord(SQLModel, table=True):
    """An event a consumer has applied; written in the same transaction as the effect."""

    __tablename__ = "inbox"
    consumer: str = Field(sa_column=Column(String(100), primary_key=True))
    event_id: str = Field(sa_column=Column(String(200), primary_key=True))
    event_type: str = Field(sa_column=Column(String(100), nullable=False))
    applied_at: datetime = Field(default_factory=utcnow, nullable=False)


class DeadLetter(SQLModel, table=True):
    """A record a consumer parked after bounded retries, with the reason; replayable, or discarded (kept, with
    who and why). Status: parked, replayed or discarded."""

    __tablename__ = "dead_letter"
    __table_args__ = (UniqueConstraint("consumer", "fingerprint", name="uq_dead_letter_consumer_fingerprint"),)
    id: int | None = Field(default=None, sa_column=Column(_ID, primary_key=True, autoincrement=True))
    consumer: str = Field(sa_column=Column(String(100), nullable=False))
    fingerprint: str = Field(sa_column=Column(String(300), nullable=False), description="event id, or topic:partition:offset")
    topic: str = Field(sa_column=Column(String(200), nullable=False))
    partition: int = -1
    offset: int = Field(default=-1, sa_column=Column(BigInteger, nullable=False, default=-1))
    key: str | None = Field(default=None, sa_column=Column(String(200)))
    event_id: str | None = Field(default=None, sa_column=Column(String(200)))
    event_type: str | None = Field(default=None, sa_column=Column(String(100)))
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    headers: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    error: str = Field(sa_column=Column(Text, nullable=False))
    attempts: int = 1
    status: str = Field(default="parked", sa_column=Column(String(20), nullable=False, index=True))
    first_failed_at: datetime = Field(default_factory=utcnow, nullable=False)
    last_failed_at: datetime = Field(default_factory=utcnow, nullable=False)
    replayed_at: datetime | None = None
    discarded_at: datetime | None = None  # status 'discarded': kept for the audit, never applied
    settled_by: str | None = Field(default=None, sa_column=Column(String(100)))  # who replayed or discarded it
    note: str | None = Field(default=None, sa_column=Column(String(500)))  # why it was discarded
