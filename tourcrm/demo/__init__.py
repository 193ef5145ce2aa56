"""Demo data: `tourcrm demo` fills a running stack (embedded or one process per service) through the public
HTTP API only — the same calls a booking site, a CRM agent and a customer answering a survey make — and
prints what it entered. Nothing is written to a database directly.

The plan (`plan.py`) comes from the seed alone; each area below enters one part of it. Running it again
on the same stack is refused (the first demo customer exists), and every step is also idempotent on
its own: customers resolve by their external id, bookings by their booking id, holds by Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from tourcrm.demo.plan import EXTERNAL_SOURCE, Plan, external_id, make_plan

log = logging.getLogger(__name__)
SERVICES = ("profile", "complaints", "loyalty", "feedback")


class AlreadyLoaded(Exception):
    """The stack holds demo data already: a second run would double complaints and answers."""


class Unavailable(Exception):
    """A service the demo needs does not answer."""


@dataclass
class Report:
    """What the demo entered, by the answers of the API (the test compares it with what the API lists)."""

    customers: int = 0
    bookings: int = 0
    cancelled: int = 0
    complaints: Counter = field(default_factory=Counter)  # state the demo left it in → count
    reopened: int = 0
    escalating: int = 0
    answers: int = 0
    answers_by_language: Counter = field(default_factory=Counter)
    members: int = 0
    redemptions: Counter = field(default_factory=Counter)  # captured / released
    campaign: str | None = None
    segment_campaign: str | None = None
    contacts: int = 0
    leads: int = 0
    organisations: int = 0
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        states = ", ".join(f"{s} {n}" for s, n in sorted(self.complaints.items()))
        languages = self.answers_by_language.items()
        lines = [f"customers   {self.customers}", f"bookings    {self.bookings} ({self.cancelled} cancelled)",
                 f"complaints  {sum(self.complaints.values())}: {states}; {self.reopened} reopened, "
                 f"{self.escalating} left unanswered for the SLA job to escalate "
                 "(critical, during the trip: 15 min by default)",
                 f"answers     {self.answers} ({', '.join(f'{k} {v}' for k, v in sorted(languages))})",
                 f"loyalty     {self.members} members, redemptions {dict(self.redemptions)}, campaigns "
                 f"{self.campaign}, {self.segment_campaign} (a segment, with a control group)",
                 f"accounts    {self.contacts} contacts ({self.leads} leads), {self.organisations} organisations "
                 "with credit, charges and payments"]
        if self.skipped:
            lines.append(f"skipped     {', '.join(self.skipped)} (service not reachable)")
        return "\n".join(lines)


class Demo:
    """One run: the plan, a client per service, the customer ids the profile service gave, the report."""

    def __init__(self, plan: Plan, urls: dict[str, str], key: str, *, progress: Any = None,
                 concurrency: int = 4, wait_seconds: float = 120) -> None:
        self.plan = plan
        self.report = Report()
        self.ids: dict[int, str] = {}  # person number → customer id
        self.progress = progress
        self.wait_seconds = wait_seconds
        self._gate = asyncio.Semaphore(concurrency)
        headers = {"Authorization": f"Bearer {key}"}
        # idle connections are dropped before the server (uvicorn: after 5 s) drops them under a request
        limits = httpx.Limits(keepalive_expiry=2)
        self.http = {s: httpx.AsyncClient(base_url=urls[s], headers=headers, timeout=120, limits=limits)
                     for s in SERVICES}

    async def close(self) -> None:
        for client in self.http.values():
            await client.aclose()

    async def call(self, service: str, method: str, path: str, *, ok: Iterable[int] = (200, 201, 202),
                   retry: bool = False, **kwargs: Any) -> httpx.Response:
        """One API call; an answer outside `ok` stops the demo with the problem the API gave. `retry`: the
        call is idempotent (a GET, a resolve by external id, a booking by its id), so a timeout or a dropped
        connection is tried again, twice."""
        for attempt in range(3 if retry or method == "GET" else 1):
            try:
                async with self._gate:
                    response = await self.http[service].request(method, path, **kwargs)
                break
            except httpx.TransportError:
                if attempt == 2 or not (retry or method == "GET"):
                    raise
                await asyncio.sleep(1 + attempt)
        if response.status_code not in set(ok):
            raise RuntimeError(f"{service} {method} {path}: {response.status_code} {response.text[:500]}")
        return response

    async def each(self, label: str, items: list, step: Callable[[Any], Awaitable[None]]) -> None:
        """`step` for every item, a few at a time, with a progress bar."""
        task = self.progress.add_task(label, total=len(items)) if self.progress else None

        async def one(item: Any) -> None:
            await step(item)
            if task is not None:
                self.progress.advance(task)

        await asyncio.gather(*(one(item) for item in items))

    async def reachable(self, service: str) -> bool:
        try:
            await self.http[service].get("/health/live")
            return True
        except httpx.TransportError:
            return False


def areas() -> list[tuple[str, Callable[[Demo], Awaitable[None]]]]:
    """The areas in the order they run: (service it needs, function). One function per area, each in the
    module of its service's area."""
    from tourcrm.demo import accounts, complaints, customers, feedback, loyalty

    return [
        ("loyalty", loyalty.campaign),  # before the bookings, so that some of them earn its bonus
        ("profile", customers.register),
        ("loyalty", loyalty.segment_campaign),  # needs the customers (the segment) and comes before the bookings
        ("profile", customers.bookings),
        ("feedback", feedback.answer_surveys),  # before the complaints: an answer never lands on one of them
        ("complaints", complaints.file_and_walk),
        ("loyalty", loyalty.members_and_redemptions),
        ("profile", accounts.contacts),
        ("profile", accounts.organisations),
        ("loyalty", loyalty.finish_segment_campaign),
    ]


async def run(urls: dict[str, str], key: str, *, customers: int = 2000, seed: int = 7, today: date | None = None,
              progress: Any = None, wait_seconds: float = 120) -> Report:
    """Fill the stack at `urls` (service → base URL) with `customers` demo customers and their year."""
    demo = Demo(make_plan(seed, customers, today or date.today()), urls, key, progress=progress,
                wait_seconds=wait_seconds)
    try:
        if not await demo.reachable("profile"):
            raise Unavailable(f"the profile service does not answer at {urls['profile']}")
        first = await demo.call("profile", "POST", "/v1/customers/resolve", ok=(200, 404), json={
            "external_ids": [{"source": EXTERNAL_SOURCE, "id": external_id(0)}], "create": False})
        if first.status_code == 200:
            raise AlreadyLoaded(f"this stack holds demo data already (customer {EXTERNAL_SOURCE}:{external_id(0)} "
                                f"is {first.json()['id']}); nothing was entered")
        for service, area in areas():
            if service in demo.report.skipped or not await demo.reachable(service):
                demo.report.skipped = sorted({*demo.report.skipped, service})
                continue
            await area(demo)
        log.info("demo data loaded", extra={"customers": demo.report.customers, "bookings": demo.report.bookings})
        return demo.report
    finally:
        await demo.close()


async def load_on_first_start(urls: dict[str, str], key: str, var_dir: Path, *, customers: int) -> None:
    """`make run`: load a small set once (marker var/demo-loaded), in the background of the servers."""
    marker = var_dir / "demo-loaded"
    if marker.exists():
        return
    try:
        report = await run(urls, key, customers=customers)
    except AlreadyLoaded:
        report = None
    marker.write_text(report.summary() + "\n" if report else "loaded before\n")
    print("demo data loaded:\n" + (report.summary() if report else "(already there)"), flush=True)  # noqa: T201
