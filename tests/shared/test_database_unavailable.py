"""A consumer tells a database that is not there from an event that is wrong: the first is retried (nothing
parked), the second parked. The stack test (tests/e2e/test_stack_faults.py) stops a real PostgreSQL; here the
rule itself, on the errors the drivers really raise."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from shared.db import database_unavailable, make_engine, ping
from tests.conftest import free_port


async def test_a_refused_connection_is_the_database_and_a_broken_rule_is_the_work(tmp_path: Path) -> None:
    gone = make_engine(f"postgresql+asyncpg://tourcrm:tourcrm@127.0.0.1:{free_port()}/nothing")
    with pytest.raises(Exception) as refused:
        await ping(gone)
    await gone.dispose()
    assert database_unavailable(refused.value)

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        await connection.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(Exception) as duplicate:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(Exception) as no_table:
        async with engine.begin() as connection:
            await connection.execute(text("SELECT * FROM missing"))
    await engine.dispose()
    assert not database_unavailable(duplicate.value)  # IntegrityError: the event's data
    assert not database_unavailable(no_table.value)
    assert not database_unavailable(ValueError("a handler's rule"))
    try:
        raise RuntimeError("handler failed") from ConnectionRefusedError(111, "Connection refused")
    except RuntimeError as wrapped:
        assert database_unavailable(wrapped)  # found down the cause chain
