"""Segment membership travels as events: each evaluation stores the members and sends segment-membership-changed
for those who joined or left since the last one — nothing when nothing changed; the periodic job does the same."""

from __future__ import annotations

import asyncio

from services.profile import jobs
from shared.db import utcnow
from tests.conftest import Backend
from tests.profile.accounts_support import Listener
from tests.profile.helpers import create, outbox_events

CHANGED = "segment-membership-changed"


async def _retag(profile, customer_id: str, tags: list[str]) -> None:  # noqa: ANN001
    etag = (await profile.client.get(f"/v1/customers/{customer_id}")).headers["etag"]
    r = await profile.client.patch(f"/v1/customers/{customer_id}", json={"tags": tags}, headers={"If-Match": etag})
    assert r.status_code == 200, r.text


async def test_joined_and_left_are_sent_once_each(backend: Backend) -> None:
    profile = await backend.service("profile")
    a = (await create(profile, name="甲", tags=["vip"]))["id"]
    b = (await create(profile, name="乙"))["id"]
    segment = (await profile.client.post("/v1/segments", json={"name": "vip", "rules": [
        {"field": "tags", "op": "contains", "value": "vip"}]})).json()
    evaluate = f"/v1/segments/{segment['id']}/evaluate"
    async with Listener(backend, CHANGED) as bus:
        first = (await profile.client.post(evaluate)).json()
        assert (first["joined"], first["left"], first["size"]) == ([a], [], 1)
        [joined] = await bus.wait(CHANGED, 1)
        assert joined["subject"] == a and joined["data"]["segment_id"] == segment["id"]
        assert joined["data"]["segment"] == "vip" and joined["data"]["change"] == "joined"

        # nothing changed: nothing sent
        again = (await profile.client.post(evaluate)).json()
        assert (again["joined"], again["left"]) == ([], [])
        assert len(await outbox_events(profile, CHANGED)) == 1

        await _retag(profile, b, ["vip"])
        await _retag(profile, a, [])
        # the periodic job evaluates every segment
        assert await jobs.run_segments(profile.runtime, utcnow()) == {"joined": 1, "left": 1}
        await bus.wait(CHANGED, 3)
        assert await jobs.run_segments(profile.runtime, utcnow()) == {"joined": 0, "left": 0}
        await asyncio.sleep(0.5)
        # ordered per customer (the key), not across customers
        assert sorted((e["data"]["customer_id"], e["data"]["change"]) for e in bus.of(CHANGED)) == sorted([
            (a, "joined"), (b, "joined"), (a, "left")])
        assert [e["data"]["change"] for e in bus.of(CHANGED, customer_id=a)] == ["joined", "left"]
    members = (await profile.client.get(f"/v1/segments/{segment['id']}/members")).json()["items"]
    assert members == [{"customer_id": b}]
    assert (await profile.client.post("/v1/segments/nope/evaluate")).status_code == 404
