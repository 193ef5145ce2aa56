"""Idempotency-Key on POSTs that move points or money-like value.

The key's row is written in the same transaction as the effect. A retry with the same key
and body gets the first answer again; the same key with another body is a 422. Concurrent
duplicates meet at the primary key: the first commits, the others see its row and replay it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, String, Text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import transaction, utcnow
from shared.errors import Problem


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_key"
    client: str = Field(sa_column=Column(String(100), primary_key=True))
    key: str = Field(sa_column=Column(String(200), primary_key=True))
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    status_code: int
    response: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, nullable=False)


@dataclass(slots=True)
class Replay:
    status_code: int
    body: Any


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def validate_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise Problem(400, "this request moves value: send an Idempotency-Key header", title="Bad Request",
                      errors=[{"field": "Idempotency-Key", "location": "header", "message": "required"}])
    if len(key) > 200:
        raise Problem(422, "Idempotency-Key is longer than 200 characters",
                      errors=[{"field": "Idempotency-Key", "location": "header", "message": "too long"}])
    return key


async def lookup(session: AsyncSession, client: str, key: str, digest: str) -> Replay | None:
    """The stored answer for this key, or None; 422 when the key was used for another request."""
    row = await session.get(IdempotencyRecord, (client, key))
    if row is None:
        return None
    if row.request_hash != digest:
        raise Problem(422, "this Idempotency-Key was already used with a different request",
                      errors=[{"field": "Idempotency-Key", "location": "header", "message": "reused with another body"}])
    return Replay(row.status_code, json.loads(row.response))


def is_duplicate_key(exc: IntegrityError) -> bool:
    return "idempotency_key" in str(exc.orig).lower() or "idempotency_key" in str(exc).lower()


async def run_once(
    sessions: async_sessionmaker[AsyncSession],
    *,
    client: str,
    key: str,
    digest: str,
    action: Callable[[AsyncSession], Awaitable[tuple[int, Any]]],
) -> Replay:
    """Run `action` in a transaction once per (client, key); every other call gets its stored answer.

    The key's row is claimed (flushed) before the action runs, so a concurrent twin waits on
    the primary key, then fails on it and replays the answer. An action that raises stores
    nothing: a retry runs it again.
    """
    for _ in range(5):
        try:
            async with transaction(sessions) as session:
                if (replay := await lookup(session, client, key, digest)) is not None:
                    return replay
                record = IdempotencyRecord(client=client, key=key, request_hash=digest, status_code=0, response="null")
                session.add(record)
                await session.flush()
                status_code, body = await action(session)
                record.status_code, record.response = status_code, json.dumps(body, default=str)
            return Replay(status_code, body)
        except IntegrityError as exc:
            if not is_duplicate_key(exc):
                raise
            # A concurrent twin claimed the key first; the next round replays its answer.
    raise Problem(409, "concurrent requests with this Idempotency-Key; retry")
