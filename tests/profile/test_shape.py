"""What the one shape promises clients of profile: every answer is documented, every cursor list refuses a
cursor it did not issue, and ids merged more than once still lead to the surviving file."""

from __future__ import annotations

import pytest

from services.profile.app import create_app
from tests.conftest import Backend
from tests.profile.helpers import booking, create, post_booking, wait_bookings

LISTS = ["/v1/customers", "/v1/products", "/v1/at-risk", "/v1/care-tasks"]


def test_every_v1_operation_documents_the_body_it_answers() -> None:
    document = create_app().openapi()
    missing = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if not path.startswith("/v1/"):
                continue
            for status, answer in operation["responses"].items():
                if status.startswith("2") and not answer.get("content", {}).get("application/json", {}).get("schema"):
                    missing.append(f"{method.upper()} {path} {status}")
    assert missing == []
    value = document["components"]["schemas"]["ValuePublic"]["properties"]
    assert {"monetary", "unconverted", "currency", "rfm", "churn"} <= set(value)


@pytest.mark.parametrize("token", ["garbage!", "WyJhIiwiYiJd", "e30"])  # not base64; two parts; an object
async def test_a_cursor_the_list_did_not_issue_is_a_400_naming_the_cursor(backend: Backend, token: str) -> None:
    profile = await backend.service("profile")
    cid = (await create(profile, name="游标"))["id"]
    segment = (await profile.client.post("/v1/segments", json={
        "name": "all", "rules": [{"field": "kind", "op": "eq", "value": "individual"}]})).json()["id"]
    for path in [*LISTS, f"/v1/customers/{cid}/bookings", f"/v1/segments/{segment}/members"]:
        r = await profile.client.get(path, params={"cursor": token})
        assert r.status_code == 400, (path, r.text)
        assert r.json()["errors"][0]["field"] == "cursor"


async def test_bookings_under_an_id_merged_twice_land_on_the_last_survivor(backend: Backend) -> None:
    profile = await backend.service("profile")
    first, second, last = [(await create(profile, name=f"合并{n}"))["id"] for n in range(3)]
    r = await profile.client.post(f"/v1/customers/{second}/merge", json={"merged_ids": [first], "reason": "同一人"})
    assert r.status_code == 200, r.text
    r = await profile.client.post(f"/v1/customers/{last}/merge", json={"merged_ids": [second], "reason": "同一人"})
    assert r.status_code == 200, r.text
    await post_booking(profile, booking("MC-1", first, amount="800.00"))
    await wait_bookings(profile, 1)
    history = (await profile.client.get(f"/v1/customers/{last}/bookings")).json()
    assert [b["booking_id"] for b in history["items"]] == ["MC-1"] and history["next_cursor"] is None
    assert (await profile.client.get(f"/v1/customers/{first}")).json()["merged_into"] == last
