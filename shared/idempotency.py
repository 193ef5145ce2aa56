"""Idempotency-Key on POSTs that move points or money-like value.

The key's row is written in the same transaction as the effect. A retry with the same key
and body gets the first answer again; the same key with another body is a 422. Concurrent
duplicates meet at the primary key: the first commits, the others see its row and replay it.
The statements are Core and built once: this is the hot path of every checkout.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Column, String, Text, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import transaction, utcnow
from shared.errors import Problem
from shared.lane import Lane
from shared.responses import JSONText


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


_KEYS = IdempotencyRecord.__table__
_FOUND = select(_KEYS.c.request_hash, _KEYS.c.status_code, _KEYS.c.response).where(
    _KEYS.c.client == bindparam("client"), _KEYS.c.key == bindparam("key"))
_ANSWER = update(_KEYS).where(_KEYS.c.client == bindparam("c"), _KEYS.c.key == bindparam("k")).values(
    status_code=bindparam("status_code"), response=bindparam("response"))
_CLAIMS = {name: dialect_insert(_KEYS).on_conflict_do_nothing().returning(_KEYS.c.key)
           for name, dialect_insert in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))}


class Replayed(Exception):  # noqa: N818 - not an error: the answer of an earlier request with this key
    def __init__(self, replay: Replay) -> None:
        super().__init__("replayed")
        self.replay = replay


def stored(row: Any, digest: str) -> Replay:
    """The stored answer of a key's row (`request_hash`, `status_code`, `response`) for a request of this digest
    (422 when the key was used for another request)."""
    if row["request_hash"] != digest:
        raise Problem(422, "this Idempotency-Key was already used with a different request",
                      errors=[{"field": "Idempotency-Key", "location": "header", "message": "reused with another body"}])
    return Replay(row["status_code"], json.loads(row["response"]))


def _claim_row(client: str, key: str, digest: str, status_code: int = 0, body: Any = None) -> dict[str, Any]:
    return {"client": client, "key": key, "request_hash": digest, "status_code": status_code,
            "response": json.dumps(body, default=str), "created_at": utcnow()}


async def lookup(session: AsyncSession, client: str, key: str, digest: str) -> Replay | None:
    """The stored answer for this key, or None; 422 when the key was used for another request."""
    row = (await session.execute(_FOUND, {"client": client, "key": key})).mappings().first()
    return None if row is None else stored(row, digest)


async def claim(tx: Lane, *, client: str, key: str, digest: str, status_code: int, body: Any) -> None:
    """Fast lane: claim the key together with its answer, known before the effect is written.

    Raises Replayed with the stored answer when the key was used already (422 when for another request);
    the caller lets it roll its transaction back. A concurrent twin waits on the key's primary key until
    this transaction ends; if this one rolls back, the twin claims the key itself."""
    for _ in range(5):
        if await tx.row(_CLAIMS[tx.dialect], _claim_row(client, key, digest, status_code, body)) is not None:
            return
        found = await tx.row(_FOUND, {"client": client, "key": key})
        if found is not None:
            raise Replayed(stored(found, digest))
    raise Problem(409, "concurrent requests with this Idempotency-Key; retry")


async def run_once(
    sessions: async_sessionmaker[AsyncSession],
    *,
    client: str,
    key: str,
    digest: str,
    action: Callable[[AsyncSession], Awaitable[tuple[int, Any]]],
) -> Replay:
    """Run `action` in a transaction once per (client, key); every other call gets its stored answer.

    The key's row is claimed first (INSERT … ON CONFLICT DO NOTHING), so a concurrent twin waits on
    the primary key until the first transaction ends, then replays its answer (or, if the first
    rolled back, claims the key itself). An action that raises stores nothing: a retry runs it again.
    """
    dialect = sessions.kw["bind"].dialect.name
    for _ in range(5):
        async with transaction(sessions) as session:
            if (await session.execute(_CLAIMS[dialect], _claim_row(client, key, digest))).first() is None:
                replay = await lookup(session, client, key, digest)
                if replay is None:
                    continue  # the claim's holder rolled back between our two statements: claim again
                return replay
            status_code, body = await action(session)
            await session.execute(_ANSWER, {"c": client, "k": key, "status_code": status_code,
                                            "response": json.dumps(body, default=str)})
        return Replay(status_code, body)
    raise Problem(409, "concurrent requests with this Idempotency-Key; retry")


def key_and_digest(request: Request, key: str | None, body: BaseModel) -> tuple[str, str]:
    """The request's Idempotency-Key, checked, and the digest of what it asks (method, path, body)."""
    return validate_key(key), request_hash(request.method, _url_path(request), body.model_dump(mode="json"))


def _url_path(request: Request) -> str:
    """`request.url.path` without building the request's URL (host, scheme, query: ~10 µs) when the path is the
    scope's as it is; the URL's path quotes ?, # and backslashes and rewrites a leading //."""
    path = request.scope["path"]
    if path.startswith("//") or "?" in path or "#" in path or "\\" in path:
        return request.url.path
    return path


def answer(status_code: int, body: Any, key: str) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers={"Idempotency-Key": key})


def answer_text(status_code: int, text: str, key: str) -> JSONText:
    """`answer` for a body that is JSON text already (the key stores the same text)."""
    return JSONText(text, status_code=status_code, headers={"Idempotency-Key": key})


async def respond_once(request: Request, client: str, key: str | None, body: BaseModel,
                       action: Callable[[AsyncSession], Awaitable[tuple[int, Any]]]) -> JSONResponse:
    """A route's whole Idempotency-Key protocol: the key checked, `action` run once per (client, key) in its
    own transaction (`run_once`), the first answer given to every twin, with the key echoed."""
    key, digest = key_and_digest(request, key, body)
    replay = await run_once(request.app.state.runtime.sessions, client=client, key=key, digest=digest, action=action)
    return answer(replay.status_code, replay.body, key)
