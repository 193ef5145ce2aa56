"""Cursor pagination for every list: `Page[T]`, opaque cursors, and the one way to cut a page.

A list route fetches `limit + 1` rows ordered by a unique key, then `page_of` keeps `limit` of them
and, when there were more, encodes the key of the last one as `next_cursor`. The next request
passes it back; `decode_cursor` gives the key parts with their types, and any token the server
did not issue (not base64, not JSON, wrong arity or types, an integer out of range, a date that is
not a date) is a 400 problem naming the `cursor` parameter, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import date, datetime, timezone
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from shared.errors import Problem

T = TypeVar("T")
R = TypeVar("R")

INT64 = 2**63 - 1

Cursor = Annotated[
    str | None,
    Query(max_length=1024, description="`next_cursor` of the previous page; omit for the first page"),
]
Limit = Annotated[int, Query(ge=1, le=500, description="items per page")]


class Page(BaseModel, Generic[T]):
    """One page of a list; `next_cursor` is null on the last page."""

    items: list[T]
    next_cursor: str | None = None


class BadCursor(Problem):
    def __init__(self) -> None:
        super().__init__(400, "cursor is not a cursor this list issued; start again without one", title="Bad Request",
                         errors=[{"field": "cursor", "location": "query", "message": "unknown cursor"}])


def _plain(part: Any) -> Any:
    if isinstance(part, datetime):
        return (part if part.tzinfo else part.replace(tzinfo=timezone.utc)).isoformat()
    if isinstance(part, date):
        return part.isoformat()
    return part


def encode_cursor(*parts: Any) -> str:
    """An opaque token for the key parts (str, int, float, date, datetime)."""
    raw = json.dumps([_plain(p) for p in parts], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _typed(value: Any, kind: type) -> Any:
    if kind is bool or isinstance(value, bool):
        raise ValueError("no booleans in cursors")
    if kind is int:
        if not isinstance(value, int) or not -INT64 <= value <= INT64:
            raise ValueError("not a 64-bit integer")
        return value
    if kind is float:
        if not isinstance(value, (int, float)):
            raise ValueError("not a number")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError("not a string")
        return value
    if kind is datetime:
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    if kind is date:
        return date.fromisoformat(value)
    raise TypeError(f"cursor parts of type {kind.__name__} are not supported")


def decode_cursor(token: str | None, *kinds: type) -> tuple[Any, ...] | None:
    """The key parts of a token issued by `encode_cursor` with parts of `kinds`; None for no token."""
    if token is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        parts = json.loads(raw)
        if not isinstance(parts, list) or len(parts) != len(kinds):
            raise ValueError("wrong number of parts")
        return tuple(_typed(value, kind) for value, kind in zip(parts, kinds, strict=True))
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise BadCursor() from None


def page_of(
    rows: Sequence[R], limit: int, key: Callable[[R], Sequence[Any]], item: Callable[[R], T] | None = None
) -> Page[T]:
    """The page of `rows` (fetched with `limit + 1`): `limit` items, and a cursor past the last when more remain."""
    kept = list(rows[:limit])
    more = len(rows) > limit
    return Page(items=[item(r) for r in kept] if item else kept,  # type: ignore[arg-type]
                next_cursor=encode_cursor(*key(kept[-1])) if more and kept else None)
