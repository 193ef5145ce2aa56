"""docs/clients.md cannot drift from the API: each HTTP example is sent to the four services and must be
answered as the guide shows (tests/e2e/guide.py says how answers are matched), with the keys its own
`tourcrm keys new` commands make; its kcat commands, run as written against the test broker, bring the
bookings to the services. `TOURCRM_WRITE_GUIDE=1` rewrites the answers from a run (then read the diff)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from datetime import date

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import KAFKA, REPO, Backend, eventually
from tests.e2e.guide import Runner, examples, recorded, rewrite, shift_dates
from tourcrm import SERVICES, spec
from tourcrm.cli import app

GUIDE = REPO / "docs" / "clients.md"
KEY_VARIABLES = {"booking-web": "$SITE_KEY", "booking-app": "$APP_KEY"}


def bash_lines(markdown: str, command: str) -> list[str]:
    return [line for block in re.findall(r"^```bash\n(.*?)^```", markdown, re.S | re.M)
            for line in block.splitlines() if line.startswith(command)]


def guide_keys(markdown: str) -> tuple[dict[str, str], list[dict]]:
    """The guide's `tourcrm keys new` commands, run: ($VARIABLE → key, the entries for the keys file)."""
    variables, entries = {}, []
    for line in bash_lines(markdown, "tourcrm keys new"):
        result = CliRunner().invoke(app, shlex.split(line)[1:])
        assert result.exit_code == 0, result.output
        key_line, entry_line = result.output.strip().splitlines()
        entry = json.loads(entry_line)
        variables[KEY_VARIABLES[entry["client"]]] = key_line.removeprefix("key: ")
        entries.append(entry)
    assert set(variables) == set(KEY_VARIABLES.values())
    return variables, entries


async def guide_stack(backend: Backend, tmp_path, markdown: str) -> tuple[dict, Runner]:  # noqa: ANN001
    variables, entries = guide_keys(markdown)
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps(entries))
    services = {name: await backend.service(name, api_keys_file=keys_file) for name in SERVICES}
    days = (date.today() - recorded(markdown)).days
    return services, Runner({spec(name).port: s.url for name, s in services.items()}, variables, days)


async def test_every_http_example_of_the_guide_is_answered_as_shown(backend: Backend, tmp_path) -> None:  # noqa: ANN001
    markdown = GUIDE.read_text()
    found = examples(markdown)
    assert len(found) >= 18
    _, runner = await guide_stack(backend, tmp_path, markdown)
    async with httpx.AsyncClient(timeout=30) as client:
        if os.environ.get("TOURCRM_WRITE_GUIDE"):
            GUIDE.write_text(await rewrite(markdown, runner, client))
            pytest.fail("docs/clients.md rewritten from this run: read the diff, then run the test again without "
                        "TOURCRM_WRITE_GUIDE")
        problems = [p for example in found for p in await runner.check(client, example)]
    assert not problems, "\n".join(problems)


def kcat_records(markdown: str) -> list[tuple[str, str]]:
    """(kcat command, the JSON file it sends) for each kcat command of the guide: the file is the ```json
    block just before the command."""
    pairs = []
    for match in re.finditer(r"^```json\n(.*?)^```.*?^```bash\n(kcat .*?)\n^```", markdown, re.S | re.M):
        pairs.append((match.group(2), match.group(1)))
    return pairs


async def test_the_guides_kcat_records_bring_the_bookings_to_the_services(kafka_only: Backend, tmp_path) -> None:  # noqa: ANN001
    markdown = GUIDE.read_text()
    services, runner = await guide_stack(kafka_only, tmp_path, markdown)
    customer = (await services["profile"].client.post("/v1/customers/resolve", json={"name": "王芳", "phones": ["+86 139 0000 0001"]})).json()["id"]
    records = kcat_records(markdown)
    assert len(records) == 2
    sent = []
    for command, document in records:
        document = shift_dates(document, runner.days)
        data = json.loads(document)
        shown = data.get("data", data)["customer_id"]  # the guide's customer: this run's instead
        argv = shlex.split(command.replace(shown, customer))
        assert argv[argv.index("-k") + 1] == customer  # the key is the customer id
        (tmp_path / argv[-1]).write_text(document.replace(shown, customer))
        argv[argv.index("-b") + 1] = KAFKA
        argv[argv.index("-t") + 1] = kafka_only.prefix + argv[argv.index("-t") + 1]
        run = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        sent.append(data.get("data", data)["booking_id"])

    async def booked() -> bool:
        items = (await services["profile"].client.get(f"/v1/customers/{customer}/bookings")).json()["items"]
        return sorted(b["booking_id"] for b in items) == sorted(sent)

    async def earned() -> bool:
        member = await services["loyalty"].client.get(f"/v1/members/{customer}")
        return member.status_code == 200 and member.json()["tier_progress"]["qualifying"]["trips"] == 2

    await eventually(booked, timeout=60)
    await eventually(earned, timeout=60)
