"""`make test-fast` runs only what needs no servers: every test on Kafka + PostgreSQL carries the `servers`
marker (set in tests/conftest.py), so `-m "not servers"` leaves none of them, and `-m servers` none of the rest."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def collected(marker: str) -> list[str]:
    run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", marker,
                          "tests"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return [line for line in run.stdout.splitlines() if "::" in line]


def test_the_fast_half_needs_no_server_and_the_other_half_only_servers() -> None:
    fast, servers = set(collected("not servers")), set(collected("servers"))
    assert len(fast) > 100 and len(servers) > 100 and not fast & servers
    assert not [t for t in fast if "kafka+postgres" in t], "a Kafka + PostgreSQL case in the fast half"
    assert [t for t in servers if "kafka+postgres" not in t], "the tests that need servers through a fixture"
    assert "tests/shared/test_cli.py::test_serve_with_two_workers_shares_one_database_and_one_consumer_group" in servers
