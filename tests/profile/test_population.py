"""The population a batch is scored against, kept in the process (population.py), ranks exactly as a fresh full read
of the stored buyers would: after consumed batches of new and returning buyers, a merge, a rolled-back transaction
and a rolled-back savepoint — each committed change applied to it once, nothing of what rolled back."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from services.profile import analytics, population, repository as repo, scoring
from services.profile.models import Booking
from tests.conftest import Backend
from tests.profile.helpers import booking, create, post_booking, wait_bookings

THRESHOLDS = analytics.DEFAULT_VALUE_THRESHOLDS
T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)


async def _scores_match_a_full_read(profile: Any, rng: random.Random) -> int:
    """Every stored buyer, and values between them, score alike against both; returns the buyers compared."""
    async with profile.runtime.sessions() as session, session.begin():
        kept = await population.view(session, [], [])
        assert kept is not None
        full = await scoring.full_population(session, {})
        buyers = await repo.stored_buyers(session)
        assert (kept.size, kept.total) == (len(full.moneys), int(full.total * 100))
        probes = [analytics.Facts(frequency=frequency, monetary=Decimal(monetary), last=last)
                  for _, last, frequency, monetary in buyers]
        probes += [analytics.Facts(frequency=rng.randint(1, 6), monetary=Decimal(rng.randint(100, 900_000)) / 100,
                                   last=T0 - timedelta(minutes=rng.randint(0, 60 * 24 * 90))) for _ in range(50)]
        for facts in probes:
            assert kept.score(facts, THRESHOLDS) == full.score(facts, THRESHOLDS), facts
        return len(buyers)


async def _book(session: Any, customer_id: str, n: int, amount: str) -> None:
    session.add(Booking(booking_id=f"direct-{customer_id}-{n}", customer_id=customer_id, channel="web",
                        product_id="P-GUILIN", amount=Decimal(amount), currency="CNY", party_size=2,
                        completed_at=T0 + timedelta(hours=n), status="completed"))
    await session.flush()


async def test_the_kept_population_scores_as_a_full_read(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(population, "REBUILD_SHARE", 1000.0)  # no reload: every change goes through the deltas
    profile = await backend.service("profile")
    rng = random.Random(15)
    ids = [(await create(profile, name=f"客户{n}"))["id"] for n in range(12)]
    posted = 0
    for batch in range(4):  # new buyers, then returning ones with more and larger bookings
        for n in range(8):
            customer = rng.choice(ids[: 4 + 2 * batch])
            await post_booking(profile, booking(f"b{batch}-{n}", customer, amount=f"{rng.randint(5, 900) * 10}.00",
                                                completed_at=T0 - timedelta(days=rng.randint(0, 300))))
            posted += 1
        await wait_bookings(profile, posted)
        assert await _scores_match_a_full_read(profile, rng) > 0
    state = population._states[str(profile.runtime.engine.url)]  # noqa: SLF001 - the snapshot the test relies on
    loaded_at = state.loaded_at

    merged = await profile.client.post(f"/v1/customers/{ids[0]}/merge", json={"merged_ids": [ids[1]], "reason": "dup"})
    assert merged.status_code == 200, merged.text
    await _scores_match_a_full_read(profile, rng)

    with pytest.raises(RuntimeError):  # a batch that fails after scoring: its changes never reach the population
        async with profile.runtime.sessions() as session, session.begin():
            await _book(session, ids[2], 1, "99999.00")
            await scoring.recompute_customers(session, [ids[2], ids[9]])
            raise RuntimeError("the batch fails")
    await _scores_match_a_full_read(profile, rng)

    async with profile.runtime.sessions() as session, session.begin():  # a savepoint rolls back, the rest commits
        await _book(session, ids[3], 2, "120.00")
        await scoring.recompute_customers(session, [ids[3]])
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                await _book(session, ids[4], 3, "88888.00")
                await scoring.recompute_customers(session, [ids[4], ids[5]])
                raise RuntimeError("the savepoint fails")
        await scoring.recompute_customers(session, [ids[6]])
    await _scores_match_a_full_read(profile, rng)
    assert population._states[str(profile.runtime.engine.url)] is state and state.loaded_at == loaded_at  # noqa: SLF001
    assert state.changes > 0

    monkeypatch.setattr(population, "REBUILD_SHARE", 0.0)  # the next commit outgrows the deltas: read afresh
    monkeypatch.setattr(population, "REBUILD_MIN", 0)
    async with profile.runtime.sessions() as session, session.begin():
        await _book(session, ids[7], 4, "4321.00")
        await scoring.recompute_customers(session, [ids[7]])
    await _scores_match_a_full_read(profile, rng)
    assert population._states[str(profile.runtime.engine.url)] is not state  # noqa: SLF001


def test_blocks_count_and_sum_as_a_sorted_list_would() -> None:
    rng = random.Random(3)
    kept, plain = population.Blocks(sums=True), []
    for size in [200, 1, 1, 7, 50, 3, 120, 2, 400, 9]:  # blocks of every size order, merged as they come
        values = [rng.randint(-50, 500) for _ in range(size)]
        kept.add(values)
        plain += values
        for x in [*rng.sample(plain, 5), -51, 501, rng.randint(-60, 510)]:
            assert kept.below(x) == sum(1 for v in plain if v < x)
            assert kept.sum_above(x) == sum(v for v in plain if v > x)
        assert (kept.size, kept.total) == (len(plain), sum(plain))
