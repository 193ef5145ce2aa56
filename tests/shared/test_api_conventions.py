"""The API conventions as the shared core enforces them, through a small route of the sample service.

Scopes (401/403), problem+json naming the field, no 500 for bad input, and the Idempotency-Key
protocol under concurrency — on both backends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from shared import idempotency
from shared.app import RuntimeDep, build_app
from shared.auth import Scope
from shared.errors import Conflict
from shared.outbox import OutboxRecord
from tests.conftest import TEST_KEY_ENTRIES, TEST_KEYS, Backend, capture_logs
from tests.sample import app as sample
from tests.sample.app import SampleOrder

router = APIRouter(prefix="/v1")


class OrderIn(BaseModel):
    customer_id: str = Field(min_length=1)
    seq: int = Field(ge=0)


@router.post("/orders", status_code=201)
async def create_order(
    body: OrderIn, request: Request, runtime: RuntimeDep, client: Scope("loyalty:redeem"),
    idempotency_key: str | None = Header(default=None),
) -> dict:
    key = idempotency.validate_key(idempotency_key)

    async def action(session) -> tuple[int, dict]:  # noqa: ANN001
        if await session.get(SampleOrder, sample.booking_id(body.customer_id, body.seq)):
            raise Conflict("that order exists")
        await sample.place_order(session, customer_id=body.customer_id, seq=body.seq)
        await asyncio.sleep(0.01)  # widen the race window
        return 201, {"order": sample.booking_id(body.customer_id, body.seq)}

    digest = idempotency.request_hash("POST", request.url.path, body.model_dump())
    replay = await idempotency.run_once(runtime.sessions, client=client.name, key=key, digest=digest, action=action)
    return replay.body


@router.get("/boom")
async def boom(client: Scope("loyalty:read")) -> dict:
    raise RuntimeError("secret internals")


@pytest.fixture
async def api(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    spec = dataclasses.replace(sample.SPEC, routers=[router])
    settings = backend.settings(await backend.database(), api_keys=TEST_KEY_ENTRIES)
    app = build_app(spec, settings, bus=backend.bus())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://sample") as client:
            client.app = app
            yield client


def auth(label: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TEST_KEYS[label]}"}


async def test_a_route_needs_a_valid_key_with_its_scope(api: httpx.AsyncClient) -> None:
    body = {"customer_id": "c", "seq": 1}
    missing = await api.post("/v1/orders", json=body, headers={"Idempotency-Key": "k"})
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert (await api.post("/v1/orders", json=body, headers={"Authorization": "Bearer nope"})).status_code == 401
    wrong = await api.post("/v1/orders", json=body, headers=auth("loyalty:read") | {"Idempotency-Key": "k"})
    assert wrong.status_code == 403
    assert wrong.json()["required_scope"] == "loyalty:redeem"
    ok = await api.post("/v1/orders", json=body, headers=auth("loyalty:redeem") | {"Idempotency-Key": "k"})
    assert ok.status_code == 201, ok.text


async def test_bad_input_is_a_problem_naming_the_field_never_a_500(api: httpx.AsyncClient) -> None:
    headers = auth("all") | {"Idempotency-Key": "k1"}
    negative = await api.post("/v1/orders", json={"customer_id": "c", "seq": -1}, headers=headers)
    assert negative.status_code == 422
    assert negative.headers["content-type"] == "application/problem+json"
    assert negative.json()["errors"][0]["field"] == "seq"
    assert "seq" in negative.json()["detail"]
    not_json = await api.post("/v1/orders", content=b"{nope", headers=headers | {"content-type": "application/json"})
    assert not_json.status_code == 422
    assert not_json.headers["content-type"] == "application/problem+json"
    no_key = await api.post("/v1/orders", json={"customer_id": "c", "seq": 1}, headers=auth("all"))
    assert no_key.status_code == 400
    assert no_key.json()["errors"][0]["field"] == "Idempotency-Key"
    with capture_logs() as logs:
        crash = await api.get("/v1/boom", headers=auth("all"))
    assert crash.status_code == 500
    assert crash.headers["content-type"] == "application/problem+json"
    assert "secret internals" not in crash.text
    assert '"error_type": "RuntimeError"' in logs.getvalue()  # logged: what and where
    assert "secret internals" not in logs.getvalue()  # but not the message, which may hold personal data
    # one line for the failure, carrying the correlation id the client was given
    errors = [json.loads(line) for line in logs.getvalue().splitlines() if json.loads(line)["level"] == "error"]
    assert len(errors) == 1, errors
    assert errors[0]["correlation_id"] == crash.headers["x-correlation-id"]


async def test_control_characters_and_oversized_bodies_are_refused_at_the_door(api: httpx.AsyncClient) -> None:
    headers = auth("all") | {"Idempotency-Key": "edge-1", "content-type": "application/json"}
    nul = await api.post("/v1/orders", content=b'{"customer_id": "c\\u0000x", "seq": 1}', headers=headers)
    assert nul.status_code == 422, nul.text
    assert nul.headers["content-type"] == "application/problem+json"
    assert nul.json()["errors"][0]["field"] == "customer_id"
    bell = await api.post("/v1/orders", content=b'{"customer_id": "ok", "seq": 1, "x": [{"y": "\\u0007"}]}',
                          headers=headers)
    assert bell.status_code == 422 and bell.json()["errors"][0]["field"] == "x.0.y"
    in_query = await api.get("/v1/boom", params={"q": "a\x00b"}, headers=auth("all"))
    assert in_query.status_code == 422 and in_query.json()["errors"][0]["field"] == "q"
    huge = await api.post("/v1/orders", content=b"[" + b"1," * 600_000 + b"1]", headers=headers)
    assert huge.status_code == 413 and huge.headers["content-type"] == "application/problem+json"
    fine = await api.post("/v1/orders", json={"customer_id": "行\t程\n", "seq": 2}, headers=headers)
    assert fine.status_code == 201, fine.text  # tab and line feed are text


async def test_the_openapi_document_shows_problem_answers_and_the_metrics_type(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    post = document["paths"]["/v1/orders"]["post"]["responses"]
    for status in ("401", "403", "422"):
        assert "application/problem+json" in post[status]["content"], status
    assert "text/plain" in document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


async def test_same_idempotency_key_fifty_times_at_once_gives_one_effect_and_one_answer(api: httpx.AsyncClient) -> None:
    headers = auth("all") | {"Idempotency-Key": "checkout-42"}
    body = {"customer_id": "c-idem", "seq": 7}
    answers = await asyncio.gather(*(api.post("/v1/orders", json=body, headers=headers) for _ in range(50)))
    assert {a.status_code for a in answers} == {201}, {a.status_code: a.text for a in answers}
    assert {a.text for a in answers} == {'{"order":"c-idem-000007"}'}
    runtime = api.app.state.runtime
    async with runtime.read_sessions() as session:
        orders = (await session.execute(select(func.count()).select_from(SampleOrder))).scalar_one()
    assert orders == 1
    other = await api.post("/v1/orders", json={"customer_id": "c-idem", "seq": 8}, headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    # A failed attempt stores nothing: the same key may be retried after the cause is fixed.
    conflict = await api.post("/v1/orders", json=body, headers=auth("all") | {"Idempotency-Key": "checkout-43"})
    assert conflict.status_code == 409


async def test_the_correlation_id_of_a_request_travels_into_the_events_it_causes(api: httpx.AsyncClient) -> None:
    headers = auth("all") | {"Idempotency-Key": "corr-1", "X-Correlation-ID": "trace-7f3a"}
    response = await api.post("/v1/orders", json={"customer_id": "c-corr", "seq": 1}, headers=headers)
    assert response.status_code == 201
    assert response.headers["x-correlation-id"] == "trace-7f3a"
    runtime = api.app.state.runtime
    async with runtime.read_sessions() as session:
        [payload] = (await session.execute(select(OutboxRecord.payload))).scalars().all()
    assert json.loads(payload)["correlationid"] == "trace-7f3a"


async def test_options_answers_the_methods_a_path_really_has(api: httpx.AsyncClient) -> None:
    answer = await api.options("/v1/orders")
    assert answer.status_code == 204
    assert answer.headers["allow"] == "OPTIONS, POST"
    assert (await api.options("/health/live")).headers["allow"] == "GET, OPTIONS"
    assert (await api.options("/v1/nothing-here")).status_code == 404
