"""Helpers of the key-account, acquisition, segment-event and KPI tests: a listener on profile's topic, as another
service would read it from the bus; problem+json checks."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from shared.bus import Consumer, Record
from shared.events import PROFILE
from shared.metrics import Metrics
from tests.conftest import Backend, eventually


class Listener:
    """Reads tourcrm.profile from the start in a group of its own and keeps the events of the given types."""

    def __init__(self, backend: Backend, *types: str) -> None:
        self.types, self.events = set(types), []
        self.bus = backend.bus()
        self.consumer: Consumer = self.bus.consumer(f"test-{uuid.uuid4().hex[:8]}", [PROFILE], self._take,
                                                    metrics=Metrics("listener"))

    async def _take(self, records: list[Record]) -> None:
        for record in records:
            envelope = json.loads(record.value or b"{}")
            if envelope.get("type") in self.types:
                self.events.append(envelope)

    async def __aenter__(self) -> Listener:
        await self.bus.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    def of(self, event_type: str, **data: Any) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == event_type
                and all(e["data"].get(k) == v for k, v in data.items())]

    async def wait(self, event_type: str, count: int, **data: Any) -> list[dict[str, Any]]:
        async def enough() -> bool:
            return len(self.of(event_type, **data)) >= count
        await eventually(enough)
        return self.of(event_type, **data)


def problem_fields(r: httpx.Response, status: int = 422) -> list[str]:
    """The fields a problem+json answer names (after checking its status and media type)."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    return [e.get("field") for e in r.json().get("errors", [])]
