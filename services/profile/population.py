"""The buyers' population kept in the process: what scoring a batch ranks its customers against, at O(log n) a
customer rather than a read of every stored buyer per batch.

Per database (its URL), a snapshot of the stored buyers' (last booking, frequency, monetary) — read once — plus the
changes committed through this process since: the old stored values of recomputed (or merged-away) customers
removed, their new ones added. Counting those below a value, or summing the money above one, is the snapshot's
count minus the removed plus the added, each kept as a few sorted blocks (the logarithmic method). A transaction's
own changes wait in its session and reach the shared state only when it commits (`committed`, one of profile's
session hooks); a rollback, of the transaction or of the savepoint they were noted in, drops them (`rolled_back`).

Staleness: changes this process did not make — a second profile replica, the nightly run in another process, a
hand edit — are seen at the next reload: when the changes since the snapshot exceed `REBUILD_SHARE` of it plus
`REBUILD_MIN`, or the snapshot is older than `MAX_AGE_SECONDS` (environment
TOURCRM_VALUE_POPULATION_MAX_AGE_SECONDS, default 600). Until then a customer may be ranked against a population that
misses them (a score one step off at a quintile boundary); the nightly re-ranking (value_nightly.rerank) writes every
stored score exact against the stored population. In a single process the scores are those of a fresh full read
(tests/profile/test_population.py)."""

from __future__ import annotations

import bisect
import os
import time
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from itertools import accumulate
from typing import Any

from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import analytics, repository as repo
from shared.outbox import within

MAX_AGE_SECONDS = float(os.environ.get("TOURCRM_VALUE_POPULATION_MAX_AGE_SECONDS", "600"))
REBUILD_SHARE = 0.05  # reload once the changes since the snapshot pass this share of it …
REBUILD_MIN = 20_000  # … plus this many (a small or empty snapshot, as at the start, is not read again every batch)
_PENDING = "profile.population"  # session.info: [(transaction or savepoint, removed, added)] not yet committed
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
Point = tuple[int, int, int]  # (last booking in µs since the epoch, frequency, monetary in cents)


def point(last: datetime, frequency: int, monetary: Any) -> Point:
    """A buyer's values as exact integers: the instant in microseconds, the money in cents."""
    if last.tzinfo is None:
        last = last.replace(tzinfo=timezone.utc)
    span = last - _EPOCH
    return (span.days * 86_400_000_000 + span.seconds * 1_000_000 + span.microseconds, frequency,
            int(Decimal(monetary).scaleb(2)))


class Blocks:
    """A multiset of integers as sorted blocks of at least halving sizes (with prefix sums when `sums`): adding k
    values costs O(k log n) amortised; counting those below x, or summing those above x, O(log² n)."""

    __slots__ = ("blocks", "sums", "size", "total")

    def __init__(self, *, sums: bool = False) -> None:
        self.blocks: list[tuple[Sequence[int], Sequence[int]]] = []
        self.sums = sums
        self.size = self.total = 0

    def add(self, values: Iterable[int]) -> None:
        block = sorted(values)
        if not block:
            return
        self.size += len(block)
        self.total += sum(block) if self.sums else 0
        while self.blocks and len(self.blocks[-1][0]) <= len(block):
            block = sorted([*self.blocks.pop()[0], *block])
        self.blocks.append((_compact(block), _compact([0, *accumulate(block)]) if self.sums else ()))

    def below(self, x: int) -> int:
        return sum(bisect.bisect_left(values, x) for values, _ in self.blocks)

    def sum_above(self, x: int) -> int:
        return sum(sums[-1] - sums[bisect.bisect_right(values, x)] for values, sums in self.blocks)


def _compact(values: list[int]) -> Sequence[int]:
    """8 bytes a value when they fit (a million buyers: 8 MB a column, not 40)."""
    try:
        return array("q", values)
    except OverflowError:
        return values


@dataclass
class Tally:
    """Points as one `Blocks` per column."""

    columns: tuple[Blocks, Blocks, Blocks] = field(default_factory=lambda: (Blocks(), Blocks(), Blocks(sums=True)))

    def add(self, points: Sequence[Point]) -> None:
        for n, column in enumerate(self.columns):
            column.add(p[n] for p in points)

    @property
    def size(self) -> int:
        return self.columns[0].size


@dataclass
class _State:
    """One database's population as this process knows it: the snapshot plus what committed here since."""

    plus: Tally  # the snapshot and the values added since
    minus: Tally  # the values removed since
    base: int  # buyers in the snapshot
    loaded_at: float  # time.monotonic()
    changes: int = 0

    def apply(self, removed: Sequence[Point], added: Sequence[Point]) -> None:
        self.minus.add(removed)
        self.plus.add(added)
        self.changes += len(removed) + len(added)

    def fresh(self, more: int = 0) -> bool:
        """Neither too changed (with `more` changes) nor too old to serve."""
        return (self.changes + more <= REBUILD_SHARE * self.base + REBUILD_MIN
                and time.monotonic() - self.loaded_at <= MAX_AGE_SECONDS)


_states: dict[str, _State] = {}
_loading: dict[str, list[tuple[Sequence[Point], Sequence[Point]]]] = {}  # changes committed during a reload


class View:
    """The population one batch is scored against: signed tallies, counted and summed together."""

    def __init__(self, plus: list[Tally], minus: list[Tally]) -> None:
        self.plus, self.minus = plus, minus
        self.size = sum(t.size for t in plus) - sum(t.size for t in minus)
        self.total = sum(t.columns[2].total for t in plus) - sum(t.columns[2].total for t in minus)

    def _below(self, column: int, x: int) -> int:
        return (sum(t.columns[column].below(x) for t in self.plus)
                - sum(t.columns[column].below(x) for t in self.minus))

    def _quintile(self, column: int, x: int) -> int:  # analytics.quintile over the counts
        return min(5, 1 + (5 * self._below(column, x)) // self.size) if self.size else 1

    def score(self, f: analytics.Facts, thresholds: tuple[float, float, float]) -> tuple[int, int, int, str]:
        """(r, f, m, value class) of a buyer who is part of this population (as scoring.Population.score)."""
        last, frequency, cents = point(f.last, f.frequency, f.monetary)  # type: ignore[arg-type]
        greater = (sum(t.columns[2].sum_above(cents) for t in self.plus)
                   - sum(t.columns[2].sum_above(cents) for t in self.minus))
        return (self._quintile(0, last), self._quintile(1, frequency), self._quintile(2, cents),
                analytics.value_class(f.monetary, Decimal(greater).scaleb(-2), Decimal(self.total).scaleb(-2),
                                      thresholds))


def _key(session: AsyncSession | Session) -> str:
    return str(session.bind.url)  # type: ignore[union-attr]


def _noted(session: AsyncSession) -> list[tuple[Any, list[Point], list[Point]]]:
    return session.sync_session.info.get(_PENDING) or []


async def _state(session: AsyncSession) -> _State | None:
    """The database's state, (re)loaded from it when missing or stale — unless this transaction has changes of its
    own waiting (a read now would count them twice at its commit): then None."""
    key = _key(session)
    state = _states.get(key)
    if state is not None and state.fresh():
        return state
    if _noted(session) or key in _loading:
        return None
    _loading[key] = []
    try:
        buyers = await repo.stored_buyers(session)
        points = [point(last, frequency, monetary) for _, last, frequency, monetary in buyers]
        state = _State(Tally(), Tally(), len(points), time.monotonic())
        state.plus.add(points)
        for removed, added in _loading[key]:  # committed while the snapshot was read: the read may have missed them
            state.apply(removed, added)
    finally:
        del _loading[key]
    _states[key] = state
    return state


async def view(session: AsyncSession, removed: list[Point], added: list[Point]) -> View | None:
    """The population with this batch's stored buyers `removed` and their fresh values `added` (the caller's
    changes, noted for the commit here); None when the state cannot be had without a full read (the caller reads)."""
    state = await _state(session)
    note(session, removed, added)
    if state is None:
        return None
    extra_plus, extra_minus = Tally(), Tally()
    noted = _noted(session)
    extra_plus.add([p for _, _, points in noted for p in points])
    extra_minus.add([p for _, points, _ in noted for p in points])
    return View([state.plus, extra_plus], [state.minus, extra_minus])


def note(session: AsyncSession, removed: list[Point], added: list[Point]) -> None:
    """Changes of the stored buyers this transaction makes, applied to the shared state when it commits."""
    if removed or added:
        sync = session.sync_session
        scope = sync.get_nested_transaction() or sync.get_transaction()
        sync.info.setdefault(_PENDING, []).append((scope, removed, added))


async def delete_values(session: AsyncSession, customer_ids: list[str]) -> None:
    """Delete these customers' value rows (a merge folds them into the survivor), their removal noted."""
    rows = (await repo.value_rows(session, customer_ids)).values()
    note(session, [point(r["last_booking_at"], r["frequency"], r["monetary"]) for r in rows if r["frequency"] > 0], [])
    await repo.delete_values(session, customer_ids)


def committed(session: Session) -> None:
    """after_commit, on profile's sessions (SPEC.session_hooks): the transaction's noted changes reach the state."""
    if session.get_nested_transaction() is not None or not session.info.get(_PENDING):
        return  # a savepoint's release: its changes wait for the transaction's commit
    noted = session.info.pop(_PENDING)
    key = _key(session)
    removed = [p for _, points, _ in noted for p in points]
    added = [p for _, _, points in noted for p in points]
    if key in _loading:
        _loading[key].append((removed, added))
    state = _states.get(key)
    if state is not None and state.fresh(len(removed) + len(added)):
        state.apply(removed, added)
    elif state is not None:
        del _states[key]  # large changes (a full run) or an old snapshot: reload on next use rather than carry them


def rolled_back(session: Session, previous_transaction: Any) -> None:
    """after_soft_rollback, on profile's sessions: a rolled-back transaction's or savepoint's changes are dropped."""
    noted = session.info.get(_PENDING)
    if noted:
        session.info[_PENDING] = [entry for entry in noted if not within(entry[0], previous_transaction)]
