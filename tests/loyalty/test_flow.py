"""The path of one booking-completed event through the loyalty service flows one way:
handler → use case (earning) → rules (programme) → ledger → events, without going back into a module it left.

`sys.setprofile` records the services.loyalty modules entered: a call of a function of that module from code
of another module (a loyalty module, or the shared core, SQLAlchemy, … calling back); a call within one module
and the resumption of a suspended coroutine are no entry. Consecutive entries of one module are one stop; a
return is a stop in a module already left. Run with `-s` to see the path:
pytest -q -s tests/loyalty/test_flow.py
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

from shared.bus import Record
from shared.events import new_event
from tests.conftest import Backend
from tests.loyalty.support import completed

PACKAGE = "services.loyalty"


class ModulePath:
    """The services.loyalty modules entered while active, as stops (consecutive entries of one module: one stop)."""

    def __init__(self) -> None:
        self.stops: list[str] = []
        self._frames: dict[int, FrameType] = {}  # frames entered once (kept alive: ids stay unique)

    def _profile(self, frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call" or id(frame) in self._frames:
            return
        self._frames[id(frame)] = frame
        module = frame.f_globals.get("__name__", "")
        caller = frame.f_back.f_globals.get("__name__", "") if frame.f_back is not None else ""
        if module.startswith(PACKAGE) and caller != module and (not self.stops or self.stops[-1] != module):
            self.stops.append(module)

    def __enter__(self) -> ModulePath:
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.setprofile(None)
        self._frames.clear()

    @property
    def returns(self) -> int:
        return sum(1 for i, module in enumerate(self.stops) if module in self.stops[:i])

    def __str__(self) -> str:
        names = " → ".join(m.removeprefix(PACKAGE + ".") for m in self.stops)
        return f"{len(self.stops)} stops, {self.returns} returns: {names}"


async def trace(loyalty, data) -> ModulePath:  # noqa: ANN001
    record = Record(data.topic, data.customer_id, new_event(data, source="booking-web", subject=data.customer_id).to_bytes())
    with ModulePath() as path:
        await loyalty.runtime.consumer.process_batch([record])
    return path


async def test_one_booking_flows_one_way_through_the_modules(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    await loyalty.client.post("/v1/campaigns", json={"id": "flow", "name": "x", "kind": "bonus", "bonus_points": 10})
    await loyalty.client.get("/v1/programme")  # the programme's text parsed once (memoised): not part of the path
    new = await trace(loyalty, completed("c-flow", "B-flow-1", "100.00"))  # enrols the member
    known = await trace(loyalty, completed("c-flow", "B-flow-2", "100.00"))  # an existing member
    print(f"\nnew member: {new}\nexisting member: {known}")
    # one return at most: the commit's session hook (did the batch earn what it staged?)
    assert new.returns <= 1 and known.returns <= 1, (str(new), str(known))


async def test_loyaltys_session_hooks_run_on_its_own_sessions_only(backend: Backend) -> None:
    """In one process (the embedded runner) loyalty's before_commit hook must not judge profile's commits."""
    import pytest

    from services.loyalty.earning import STAGED
    from shared.db import transaction

    loyalty = await backend.service("loyalty")
    profile = await backend.service("profile")
    async with transaction(profile.runtime.sessions) as session:  # a profile commit with that key in its info
        session.info[STAGED] = ["not loyalty's business"]
    with pytest.raises(RuntimeError, match="staged but not applied"):
        async with transaction(loyalty.runtime.sessions) as session:
            session.info[STAGED] = ["staged, never applied"]
