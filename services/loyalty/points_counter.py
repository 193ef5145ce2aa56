"""`tourcrm_loyalty_points_total{movement=earned|redeemed|reversed|expired}`: the points the ledger moves, counted
once their transaction has committed, so a rolled-back transaction (or savepoint) never counts.

The ledger notes each entry it writes in its session (`ledger.POINTS_MOVED`); the session hooks count the notes at
the commit of the root transaction (`counted`) and drop those of a rolled-back transaction or savepoint (`forget`).
The fast lane (a capture) counts from its `on_commit` callbacks (`on_commit`). Counts are kept per database, for the
counter of the runtime on it (`register`, at start; what commits before that waits for it).
"""

from __future__ import annotations

from collections import Counter as Tally
from functools import partial
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter
from sqlalchemy.orm import Session

from services.loyalty.ledger import POINTS_MOVED, movement

if TYPE_CHECKING:
    from shared.app import Runtime

MOVEMENTS = ("earned", "redeemed", "reversed", "expired")
_COUNTERS: dict[str, tuple[Any, Counter]] = {}  # database URL → (the registry, the counter) of the runtime on it
_WAITING: dict[str, Tally[str]] = {}  # committed before that runtime registered its counter


def counted(session: Session) -> None:
    """after_commit (the root transaction): count what it moved."""
    notes = session.info.pop(POINTS_MOVED, None)
    if notes and session.bind is not None:
        tally: Tally[str] = Tally()
        for _, moved, points in notes:
            tally[moved] += points
        _count(str(session.bind.url), tally)


def forget(session: Session, previous_transaction: Any) -> None:
    """after_soft_rollback: a rolled-back transaction or savepoint moved nothing."""
    notes = session.info.get(POINTS_MOVED)
    if notes:
        session.info[POINTS_MOVED] = [n for n in notes if not _inside(n[0], previous_transaction)]


def on_commit(kind: str, points: int) -> Any:
    """A fast lane's on_commit callback counting one entry."""
    return partial(_lane_committed, movement(kind, points), abs(points))


def _lane_committed(moved: str, points: int, url: str) -> None:
    _count(url, Tally({moved: points}))


def _inside(scope: Any, transaction: Any) -> bool:
    while scope is not None and scope is not transaction:
        scope = scope.parent
    return scope is transaction


def register(runtime: Runtime) -> Counter:
    """The counter of this runtime's registry, counting the commits on its database (from now, and those waiting)."""
    url, registry = str(runtime.engine.url), runtime.metrics.registry
    found = _COUNTERS.get(url)
    if found is None or found[0] is not registry:
        counter = Counter("tourcrm_loyalty_points_total", "Points moved by the loyalty ledger, by movement",
                          ["movement"], registry=registry)
        for moved in MOVEMENTS:
            counter.labels(moved)  # every movement shows, at 0 until it happens
        found = _COUNTERS[url] = (registry, counter)
    _count(url, _WAITING.pop(url, Tally()))
    return found[1]


def _count(url: str, tally: Tally[str]) -> None:
    found = _COUNTERS.get(url)
    if found is None:
        _WAITING.setdefault(url, Tally()).update(tally)
        return
    for moved, points in tally.items():
        if points:
            found[1].labels(moved).inc(points)
