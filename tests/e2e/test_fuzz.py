"""schemathesis against every service's OpenAPI document, as an outside tester would: the embedded
stack in its own process, every operation with a key holding every scope, bounded so the suite stays quick.

Checks: every check schemathesis has — no 5xx, responses that match their schema, status codes,
content types and headers the document names, negative data rejected, Allow headers — but one:
`positive_data_acceptance` ("a schema-valid request must be accepted") cannot hold for an API whose
opaque tokens (cursors, invitation tokens) and cross-field rules (a trip that ends before it starts)
no JSON schema can say: such requests are refused with a problem naming the field, by design.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, free_offset
from tourcrm import SERVICES, spec

MAX_EXAMPLES = int(os.environ.get("TOURCRM_FUZZ_EXAMPLES", "25"))
ST = Path(sys.executable).parent / "st"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], str]]:
    var = tmp_path_factory.mktemp("fuzz-var")
    offset = free_offset()
    env = {**os.environ, "TOURCRM_VAR_DIR": str(var), "TOURCRM_PORT_OFFSET": str(offset), "TOURCRM_LOG_LEVEL": "WARNING"}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None), env.pop("DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "tourcrm.cli", "run", "--no-demo"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(var / "stack.log", "w"))
    urls = {name: f"http://127.0.0.1:{spec(name).port + offset}" for name in SERVICES}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if all(httpx.get(f"{u}/health/ready", timeout=2).status_code == 200 for u in urls.values()):
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (var / "stack.log").read_text()[-3000:]
            time.sleep(0.3)
        yield urls, (var / "dev-api-key").read_text().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("service", SERVICES)
def test_schemathesis_finds_nothing(stack: tuple[dict[str, str], str], service: str) -> None:
    urls, key = stack
    run = subprocess.run(
        [str(ST), "run", f"{urls[service]}/openapi.json", "-H", f"Authorization: Bearer {key}",
         "--checks", "all", "--exclude-checks", "positive_data_acceptance",
         "--phases", "examples,coverage,fuzzing", "--max-examples", str(MAX_EXAMPLES), "--workers", "1",
         "--seed", "20261202", "--suppress-health-check", "all", "--no-color",
         # correctness, not speed (that is bench/): on a loaded 2-core box an embedded SQLite writer can wait
         # seconds behind a consumer batch of a thousand bookings, past schemathesis' default 10 s
         "--request-timeout", "60"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert run.returncode == 0, run.stdout[-20000:]
