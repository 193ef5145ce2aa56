"""Periodic jobs: they keep running after a failed run, and count the failure."""

from __future__ import annotations

import asyncio
from pathlib import Path

from shared.app import every
from tests.conftest import Backend, eventually
from tests.sample import app as sample


async def test_a_periodic_job_survives_a_failed_run_and_counts_it(tmp_path: Path) -> None:
    backend = Backend("memory", tmp_path, None, None)
    try:
        runtime = await backend.runtime(sample.SPEC, await backend.database())
        runs: list[object] = []

        async def step(rt, now) -> int:  # noqa: ANN001
            assert rt is runtime and now.tzinfo is not None
            runs.append(now)
            if len(runs) == 2:
                raise RuntimeError("one bad night")
            return len(runs)

        task = asyncio.create_task(every(0.01, step, name="nightly")(runtime))

        async def four_runs() -> bool:
            return len(runs) >= 4

        await eventually(four_runs, timeout=10)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert runtime.metrics.job_failures.labels(job="nightly")._value.get() == 1
    finally:
        await backend.close()


async def test_a_job_runs_in_one_replica_at_a_time_on_postgres(kafka_only: Backend) -> None:
    """Replicas of a service share one database: the cluster-wide lock lets one of them run a job round."""
    from shared.db import exclusive, make_engine

    url = await kafka_only.database("jobs")
    first, second = make_engine(url), make_engine(url)
    try:
        async with exclusive(first, "job loyalty housekeeping") as mine:
            async with exclusive(second, "job loyalty housekeeping") as theirs:
                assert mine and not theirs
            async with exclusive(second, "job loyalty other") as other:
                assert other  # another job's lock is free
        async with exclusive(second, "job loyalty housekeeping") as later:
            assert later  # released when the first round ended
    finally:
        await first.dispose()
        await second.dispose()
