"""Runs the HTTP examples of a Markdown guide (docs/clients.md) against running services, so the guide
cannot drift from the API.

An example is a fenced ```http block holding a request — `METHOD http://127.0.0.1:<default port>/path`,
headers, a blank line, a JSON body — followed by a ```http block holding the answer: `HTTP/1.1 <status>`,
the headers worth showing, a blank line, the JSON body. The answer must match: the same status, each shown
header, and a body of the same shape and values, except values that differ from run to run (ids,
timestamps, tokens): an id the guide shows is mapped to the id this run got, and later requests use it.
`$NAME` in a request is a variable the caller gives (the API keys). A GET is tried again for a while
until it matches, since what arrives through the bus (points after a booking) takes a moment.

The guide says the day its answers were recorded (`<!-- examples recorded on YYYY-MM-DD -->`); the dates in
the requests are moved by the days since, so that a booking shown as last month's stays last month's
(its points within the qualifying window, its survey due) whenever the test runs.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

import httpx

FENCE = re.compile(r"^```http\n(.*?)^```", re.S | re.M)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d))?$")  # or a date: both move with the clock
TOKEN = re.compile(r"^[A-Za-z0-9_-]{24,64}$")
RECORDED = re.compile(r"<!-- examples recorded on (\d{4}-\d\d-\d\d) -->")
DATE = re.compile(r"(?<![\d-])(\d{4}-\d\d-\d\d)(?![\d-])")
SHOWN_HEADERS = ("content-type", "etag", "idempotency-key", "location", "www-authenticate")


@dataclass
class Example:
    request: str  # the block's text
    response: str
    span: tuple[int, int]  # where the response block's text is in the guide

    @property
    def title(self) -> str:
        return self.request.splitlines()[0]


def examples(markdown: str) -> list[Example]:
    blocks = list(FENCE.finditer(markdown))
    found = []
    for block, answer in zip(blocks, blocks[1:]):
        if not block.group(1).startswith("HTTP/") and answer.group(1).startswith("HTTP/"):
            found.append(Example(block.group(1), answer.group(1), answer.span(1)))
    return found


def recorded(markdown: str) -> date:
    found = RECORDED.search(markdown)
    assert found, "the guide must say when its examples were recorded: <!-- examples recorded on YYYY-MM-DD -->"
    return date.fromisoformat(found.group(1))


def shift_dates(text: str, days: int) -> str:
    """Every date (and the date of every timestamp) in `text`, `days` later."""
    return DATE.sub(lambda m: (date.fromisoformat(m.group(1)) + timedelta(days=days)).isoformat(), text)


def _split(text: str) -> tuple[str, dict[str, str], str]:
    head, _, body = text.partition("\n\n")
    first, *lines = head.splitlines()
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return first, headers, body.strip()


@dataclass
class Runner:
    urls: dict[int, str]  # the guide's port → where that service runs now
    variables: dict[str, str]
    days: int = 0  # since the guide's answers were recorded
    ids: dict[str, str] = field(default_factory=dict)  # an id the guide shows → the id of this run

    def _fill(self, text: str) -> str:
        text = shift_dates(text, self.days)
        for name, value in sorted(self.variables.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(name, value)
        for shown, actual in self.ids.items():
            text = text.replace(shown, actual)
        return text

    async def send(self, client: httpx.AsyncClient, example: Example) -> httpx.Response:
        first, headers, body = _split(self._fill(example.request))
        method, url = first.split()[:2]
        port = int(re.match(r"https?://[^:/]+:(\d+)", url).group(1))
        url = re.sub(r"^https?://[^/]+", self.urls[port], url)
        return await client.request(method, url, headers=headers, content=body.encode() if body else None)

    async def check(self, client: httpx.AsyncClient, example: Example, *, patience: float = 30) -> list[str]:
        """Send the example; the differences from the answer the guide shows (empty: it matches)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        while True:
            response = await self.send(client, example)
            ids = dict(self.ids)
            problems = self._compare(example.response, response, ids)
            if not problems or not example.request.startswith("GET") or loop.time() > deadline:
                break
            await asyncio.sleep(0.5)
        self.ids = ids
        return [f"{example.title}: {p}" for p in problems]

    def _compare(self, shown: str, response: httpx.Response, ids: dict[str, str]) -> list[str]:
        status_line, headers, body = _split(shown)
        problems = []
        if int(status_line.split()[1]) != response.status_code:
            problems.append(f"status {response.status_code}, the guide shows {status_line} ({response.text[:300]})")
        for name, value in headers.items():
            if not _same(value, response.headers.get(name), ids):
                problems.append(f"header {name}: {response.headers.get(name)!r}, the guide shows {value!r}")
        if body:
            try:
                actual = response.json()
            except ValueError:
                return [*problems, f"the answer is not JSON: {response.text[:200]!r}"]
            problems += _diff(json.loads(body), actual, ids, "body")
        return problems


def _same(shown: object, actual: object, ids: dict[str, str]) -> bool:
    if shown == actual:
        return True
    if not isinstance(shown, str) or not isinstance(actual, str):
        return False
    if shown in ids:
        return ids[shown] == actual
    for pattern in (UUID, TIMESTAMP, TOKEN):
        if pattern.match(shown) and pattern.match(actual):
            if pattern is not TIMESTAMP:
                ids[shown] = actual
            return True
    for known, now in ids.items():  # an id inside a longer string (a path)
        shown = shown.replace(known, now)
    return shown == actual


def _diff(shown: object, actual: object, ids: dict[str, str], where: str) -> list[str]:
    if isinstance(shown, dict) and isinstance(actual, dict):
        if set(shown) != set(actual):
            return [f"{where}: fields {sorted(actual)}, the guide shows {sorted(shown)}"]
        return [p for key in shown for p in _diff(shown[key], actual[key], ids, f"{where}.{key}")]
    if isinstance(shown, list) and isinstance(actual, list):
        if len(shown) != len(actual):
            return [f"{where}: {len(actual)} items, the guide shows {len(shown)}"]
        return [p for i, (s, a) in enumerate(zip(shown, actual)) for p in _diff(s, a, ids, f"{where}[{i}]")]
    return [] if _same(shown, actual, ids) else [f"{where}: {actual!r}, the guide shows {shown!r}"]


def shown(response: httpx.Response) -> str:
    """An answer as the guide shows it (to write a new example)."""
    lines = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
    lines += [f"{name}: {response.headers[name]}" for name in SHOWN_HEADERS if name in response.headers]
    if response.content:
        lines += ["", json.dumps(response.json(), ensure_ascii=False, indent=2)]
    return "\n".join(lines) + "\n"


def _collect(shown: object, actual: object, ids: dict[str, str]) -> None:
    """The ids of a new answer, under the fields the guide's draft shows."""
    if isinstance(shown, dict) and isinstance(actual, dict):
        for key in set(shown) & set(actual):
            _collect(shown[key], actual[key], ids)
    elif isinstance(shown, str) and isinstance(actual, str) and UUID.match(shown) and UUID.match(actual):
        ids.setdefault(shown, actual)


async def rewrite(markdown: str, runner: Runner, client: httpx.AsyncClient) -> str:
    """The guide with every example's answer replaced by the one the running services give now (and the
    ids it shows replaced by theirs): how the examples are refreshed after an API change, then read."""
    markdown = shift_dates(markdown, runner.days)  # the requests as they are sent now, recorded today
    markdown = RECORDED.sub(f"<!-- examples recorded on {date.today().isoformat()} -->", markdown)
    runner.days = 0
    pieces, at = [], 0
    for example in examples(markdown):
        response = await runner.send(client, example)
        if example.request.startswith("GET") and response.status_code == 404:
            await asyncio.sleep(2)  # what the bus brings
            response = await runner.send(client, example)
        _, _, body = _split(example.response)
        if body and response.content:
            _collect(json.loads(body), response.json(), runner.ids)
        pieces += [markdown[at:example.span[0]], shown(response)]
        at = example.span[1]
    text = "".join([*pieces, markdown[at:]])
    for old, new in runner.ids.items():
        text = text.replace(old, new)
    return text
