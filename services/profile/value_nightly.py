"""The nightly value run, incremental: it recomputes only the customers whose inputs changed since the last run
(`value_dirty`, marked in the same transaction as the change) and those whose row the passage of time changes
today (`customer_value.review_on`, value_review.py), then re-ranks the stored population so that RFM scores, value
classes and quadrants are those a full recompute would give. A full recompute runs on the first night, when the
scoring version or the value configuration changed, and on request (`tourcrm values recompute --full`)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column, MetaData, String, Table, bindparam, delete, exists, func, insert, or_, select, text, update,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import analytics, repository as repo, scoring
from services.profile.config import get_config
from services.profile.models import Booking, Customer, CustomerValue, ValueDirty, ValueRun
from services.profile.schemas import ValueConfig
from shared.db import settings_of

log = logging.getLogger(__name__)

SCORING_VERSION = "2"  # raise when the scoring (scoring.py, analytics.py, value_review.py) computes differently
RUN = "nightly"

@dataclass(frozen=True)
class Run:
    mode: str  # full | incremental
    customers: int  # recomputed
    reranked: int  # rows whose scores, value class or quadrant the re-ranking changed
    ids: tuple[str, ...] = ()  # who an incremental run recomputed
    rerank_s: float = 0.0  # how long the re-ranking took

def version_of(session: AsyncSession, config: ValueConfig) -> str:
    """The scoring version with what it depends on: another value means every stored row may be wrong."""
    settings = settings_of(session)
    digest = hashlib.sha256(json.dumps(config.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]
    return f"{SCORING_VERSION}:{settings.currency}:{settings.tz.key}:{digest}"

async def _dirty(session: AsyncSession) -> dict[str, datetime]:
    return dict((await session.execute(select(ValueDirty.customer_id, ValueDirty.marked_at))).all())

async def _valued(session: AsyncSession, ids: list[str]) -> list[str]:
    """Those of `ids` the full run values too: active or erased files, and anyone with a completed booking."""
    found: list[str] = []
    bought = exists().where(Booking.customer_id == Customer.id, Booking.status == "completed")
    for chunk in repo.chunks(ids):
        found += (await session.execute(select(Customer.id).where(
            Customer.id.in_(chunk), or_(Customer.status.in_(("active", "erased")), bought)))).scalars()
    return found

async def rerank(session: AsyncSession, config: ValueConfig) -> int:
    """RFM scores, value class and quadrant of every stored buyer against the stored population (what a full run
    computes from the same facts); writes only the rows that differ."""
    v = CustomerValue
    rows = (await session.execute(select(v.customer_id, v.last_booking_at, v.frequency, v.monetary, v.r_score,
                                         v.f_score, v.m_score, v.value_class, v.loyalty_status, v.quadrant)
                                  .where(v.frequency > 0))).all()
    if not rows:
        return 0
    population = scoring.Population([r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])
    thresholds = tuple(config.value_class_thresholds)
    changed = []
    for cid, last, frequency, monetary, *stored, loyalty, quadrant in rows:
        scores = population.score(analytics.Facts(frequency=frequency, monetary=monetary, last=last), thresholds)
        fresh_quadrant = analytics.quadrant(scores[3], loyalty)
        if (*scores, fresh_quadrant) != (*stored, quadrant):
            changed.append({"id_": cid, "r_score": scores[0], "f_score": scores[1], "m_score": scores[2],
                            "value_class": scores[3], "quadrant": fresh_quadrant})
    await _write_ranks(session, changed)
    return len(changed)

_RANKED = ("r_score", "f_score", "m_score", "value_class", "quadrant")
_STAGED = Table("ranked_values", MetaData(), Column("id_", String(100), primary_key=True),
                *(Column(c, CustomerValue.__table__.c[c].type) for c in _RANKED), prefixes=["TEMPORARY"])

async def _write_ranks(session: AsyncSession, changed: list[dict]) -> None:
    """Changed ranks staged in a temporary table (multi-row INSERTs), then one UPDATE … FROM joining it."""
    if not changed:
        return
    await session.execute(text("DROP TABLE IF EXISTS ranked_values"))
    await session.run_sync(lambda sync: _STAGED.create(sync.connection()))
    await session.execute(insert(_STAGED), changed)
    table = CustomerValue.__table__
    await session.execute(update(table).where(table.c.customer_id == _STAGED.c.id_)
                          .values({c: _STAGED.c[c] for c in _RANKED}))
    await session.execute(text("DROP TABLE ranked_values"))

async def run(session: AsyncSession, *, now: datetime, tz: ZoneInfo, full: bool = False) -> Run:
    """The nightly run (incremental unless `full` or the version changed); returns what it did."""
    config = await get_config(session)
    version = version_of(session, config)
    last = await session.get(ValueRun, RUN)
    dirty = await _dirty(session)
    if full or last is None or last.version != version:
        done = Run("full", await scoring.recompute_all(session, now=now, tz=tz), 0)
    else:
        today = now.astimezone(tz).date()
        due = (await session.execute(select(CustomerValue.customer_id).where(CustomerValue.review_on <= today))).scalars()
        ids = sorted(set(await _valued(session, sorted(dirty))) | set(due))
        await scoring.recompute_customers(session, ids, now=now, tz=tz, config=config)
        started = time.perf_counter()
        reranked = await rerank(session, config)
        done = Run("incremental", len(ids), reranked, tuple(ids), time.perf_counter() - started)
    if dirty:  # a mark written after the read stays for the next run
        await session.execute(delete(ValueDirty.__table__).where(
            ValueDirty.__table__.c.customer_id == bindparam("cid"), ValueDirty.__table__.c.marked_at <= bindparam("at")),
            [{"cid": cid, "at": at} for cid, at in dirty.items()])
    await _record(session, version, done.mode, now)
    await session.flush()
    log.info("customer values recomputed", extra={"mode": done.mode, "customers": done.customers,
                                                  "reranked": done.reranked})
    return done

async def refresh_statistics(engine: AsyncEngine) -> None:
    """After a full run rewrote every value row: the planner's statistics now (PostgreSQL), not when autovacuum next
    gets to the table; the next incremental run's queries are planned on them."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            await connection.exec_driver_sql(f"ANALYZE {CustomerValue.__tablename__}")
            await connection.commit()


async def _record(session: AsyncSession, version: str, mode: str, now: datetime) -> None:
    row = await session.get(ValueRun, RUN)
    if row is None:
        session.add(ValueRun(name=RUN, version=version, mode=mode, ran_at=now))
    else:
        row.version, row.mode, row.ran_at = version, mode, now

async def pending(session: AsyncSession) -> int:
    """Customers marked dirty and not yet recomputed by a nightly run."""
    return (await session.execute(select(func.count()).select_from(ValueDirty))).scalar_one()
