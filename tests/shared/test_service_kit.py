"""The pieces every service is built from: cursor pages, the unit of work, the emitter, the privacy
factory and per-service session hooks — through the sample service, on both backends."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import date, datetime, timezone

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from shared import outbox
from shared.app import ReadSessionDep, Runtime, UnitOfWork, build_app
from shared.auth import Scope
from shared.errors import Problem
from shared.events import CustomerErased, CustomersMerged
from shared.outbox import OutboxRecord
from shared.pages import BadCursor, Cursor, Limit, Page, decode_cursor, encode_cursor, page_of
from shared.privacy import PersonalData, Privacy
from tests.conftest import TEST_KEY_ENTRIES, TEST_KEYS, Backend
from tests.sample import app as sample
from tests.sample.app import SampleOrder

# --- cursors ------------------------------------------------------------------------------------


def test_a_cursor_gives_back_its_parts_with_their_types() -> None:
    moment = datetime(2026, 5, 1, 8, 30, tzinfo=timezone.utc)
    token = encode_cursor(moment, "B-1", 42, 0.5, date(2026, 5, 1))
    assert decode_cursor(token, datetime, str, int, float, date) == (moment, "B-1", 42, 0.5, date(2026, 5, 1))
    assert decode_cursor(None, str) is None


@pytest.mark.parametrize(("token", "kinds"), [
    ("9" * 30, (int,)),  # not base64 of JSON
    (encode_cursor(10**30), (int,)),  # an integer out of the 64-bit range
    (encode_cursor("not-a-date", "B-1"), (datetime, str)),  # a date part that is not a date
    (encode_cursor("a", "b", "c"), (str, str)),  # another arity
    (encode_cursor(True), (int,)),  # a boolean is no integer
    (encode_cursor(1.5), (str,)),  # another type
    ("%%%", (str,)),
    ("", (str,)),
])
def test_a_token_the_server_did_not_issue_is_a_400_naming_the_cursor(token: str, kinds: tuple[type, ...]) -> None:
    with pytest.raises(BadCursor) as caught:
        decode_cursor(token, *kinds)
    assert caught.value.status == 400
    assert caught.value.extra["errors"][0]["field"] == "cursor"


def test_page_of_cuts_at_the_limit_and_points_past_the_last_item() -> None:
    rows = [("a", 1), ("b", 2), ("c", 3)]
    first = page_of(rows, 2, key=lambda r: (r[1],), item=lambda r: r[0])
    assert first.items == ["a", "b"] and decode_cursor(first.next_cursor, int) == (2,)
    assert page_of(rows[:2], 2, key=lambda r: (r[1],), item=lambda r: r[0]).next_cursor is None


# --- a small API over the sample service ----------------------------------------------------------

router = APIRouter(prefix="/v1")


class OrderPublic(BaseModel):
    id: str
    customer_id: str
    seq: int


@router.post("/orders/{customer_id}/{seq}", status_code=201, response_model=OrderPublic)
async def place(customer_id: str, seq: int, session: UnitOfWork, client: Scope("loyalty:redeem"),
                fail: bool = False) -> OrderPublic:
    await sample.place_order(session, customer_id=customer_id, seq=seq)
    if fail:
        raise Problem(422, "refused after writing: nothing of it may stay")
    return OrderPublic(id=sample.booking_id(customer_id, seq), customer_id=customer_id, seq=seq)


@router.get("/orders", response_model=Page[OrderPublic])
async def orders(session: ReadSessionDep, client: Scope("loyalty:read"), cursor: Cursor = None,
                 limit: Limit = 2) -> Page[OrderPublic]:
    query = select(SampleOrder).order_by(SampleOrder.id).limit(limit + 1)
    if (after := decode_cursor(cursor, str)) is not None:
        query = query.where(SampleOrder.id > after[0])
    rows = (await session.execute(query)).scalars().all()
    return page_of(rows, limit, key=lambda o: (o.id,), item=lambda o: OrderPublic(**o.model_dump()))


PRIVACY = Privacy("sample", [PersonalData(SampleOrder)], topic="tourcrm.sample")


@pytest.fixture
async def api(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    spec = dataclasses.replace(sample.SPEC, routers=[router, PRIVACY.router()])
    app = build_app(spec, backend.settings(await backend.database(), api_keys=TEST_KEY_ENTRIES), bus=backend.bus())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://sample",
                                     headers={"Authorization": f"Bearer {TEST_KEYS['all']}"}) as client:
            client.app = app
            yield client


async def _count(runtime: Runtime, model) -> int:  # noqa: ANN001
    async with runtime.read_sessions() as session:
        return len((await session.execute(select(model))).scalars().all())


async def test_the_unit_of_work_commits_once_before_answering_and_keeps_nothing_of_a_failure(api) -> None:  # noqa: ANN001
    runtime = api.app.state.runtime
    placed = await api.post("/v1/orders/c-1/1")
    assert placed.status_code == 201
    assert await _count(runtime, SampleOrder) == 1 and await _count(runtime, OutboxRecord) == 1  # committed
    again = await api.post("/v1/orders/c-1/1")  # the same key: the commit's IntegrityError is a 409 problem
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    refused = await api.post("/v1/orders/c-1/2", params={"fail": "true"})
    assert refused.status_code == 422
    assert await _count(runtime, SampleOrder) == 1 and await _count(runtime, OutboxRecord) == 1


async def test_a_list_pages_with_its_cursor_and_refuses_a_forged_one(api) -> None:  # noqa: ANN001
    for seq in range(5):
        assert (await api.post(f"/v1/orders/c-2/{seq}")).status_code == 201
    seen, cursor = [], None
    while True:
        page = (await api.get("/v1/orders", params={"cursor": cursor} if cursor else {})).json()
        seen += [o["seq"] for o in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [0, 1, 2, 3, 4]
    forged = await api.get("/v1/orders", params={"cursor": "9" * 30})
    assert forged.status_code == 400 and forged.json()["errors"][0]["field"] == "cursor"
    schema = (await api.get("/openapi.json")).json()
    assert "Page_OrderPublic_" in schema["components"]["schemas"]  # the body a client receives is documented


async def test_the_privacy_factory_exports_repoints_and_erases_a_customers_rows(api) -> None:  # noqa: ANN001
    runtime = api.app.state.runtime
    for customer, seq in (("c-old", 1), ("c-new", 2), ("c-other", 3)):
        assert (await api.post(f"/v1/orders/{customer}/{seq}")).status_code == 201
    async with runtime.sessions() as session, session.begin():
        await PRIVACY.repoint(session, CustomersMerged(customer_id="c-new", merged_ids=["c-old"]))
    export = (await api.get("/v1/privacy/customers/c-new")).json()
    assert sorted(o["seq"] for o in export["sections"]["sample_order"]) == [1, 2]
    async with runtime.sessions() as session, session.begin():
        await PRIVACY.erase(session, CustomerErased(customer_id="c-new", request_id="r-1"))
    assert (await api.get("/v1/privacy/customers/c-new")).json()["sections"] == {"sample_order": []}
    assert (await api.get("/v1/privacy/customers/c-other")).json()["sections"]["sample_order"][0]["seq"] == 3
    async with runtime.read_sessions() as session:
        types = (await session.execute(select(OutboxRecord.type, OutboxRecord.topic))).all()
    assert ("customer-data-erased", "tourcrm.sample") in types


async def test_session_hooks_run_on_their_own_service_only(backend: Backend) -> None:
    calls: list[str] = []
    hooked = dataclasses.replace(sample.SPEC, session_hooks={"before_commit": [lambda s: calls.append("hooked")]})
    mine = await backend.runtime(hooked, await backend.database("mine"))
    other = await backend.runtime(sample.SPEC, await backend.database("other"))
    async with other.sessions() as session, session.begin():
        outbox.emit(session, sample.order_event("c-3", 1).typed(), "c-3")
    assert calls == []
    async with mine.sessions() as session, session.begin():
        await sample.place_order(session, customer_id="c-3", seq=1)
    assert calls == ["hooked"]
