"""HTTP conventions every service shares: keys and scopes, problem+json, health and metrics."""

from __future__ import annotations

import pytest

from tourcrm import SERVICES
from tests.conftest import Backend

@pytest.fixture
async def running(backend: Backend):  # noqa: ANN201
    return [await backend.service(name) for name in SERVICES]


async def test_health_and_metrics_are_open_on_every_service(running) -> None:  # noqa: ANN001
    for service in running:
        async with service.client_as(None) as anonymous:
            assert (await anonymous.get("/health/live")).json() == {"status": "ok"}
            ready = await anonymous.get("/health/ready")
            assert ready.status_code == 200, ready.text
            consumes = {f"consumer:{service.name}": "ok"} if service.runtime.spec.subscriptions else {}
            assert ready.json()["checks"] == {"database": "ok", "bus": "ok", **consumes}
            metrics = await anonymous.get("/metrics")
            assert metrics.status_code == 200
            assert 'tourcrm_http_requests_total{method="GET",route="/health/live",status="200"}' in metrics.text
            assert "tourcrm_outbox_backlog" in metrics.text


async def test_every_other_endpoint_needs_a_key_with_its_scope(running) -> None:  # noqa: ANN001
    """Walks every operation of every service's published OpenAPI document."""
    for service in running:
        document = (await service.client.get("/openapi.json")).json()
        operations = [
            (method.upper(), path)
            for path, item in document["paths"].items()
            if path.startswith("/v1")
            for method in item
        ]
        async with service.client_as(None) as anonymous, service.client_as("none") as scopeless, \
                service.client_as(None) as wrong_key:
            wrong_key.headers["Authorization"] = "Bearer not-a-key"
            for method, path in operations:
                concrete = path.replace("{", "").replace("}", "")
                denied = await anonymous.request(method, concrete)
                assert denied.status_code == 401, (service.name, method, path, denied.text)
                assert denied.headers["content-type"] == "application/problem+json"
                assert denied.headers["www-authenticate"] == "Bearer"
                assert (await wrong_key.request(method, concrete)).status_code == 401
                forbidden = await scopeless.request(method, concrete)
                assert forbidden.status_code == 403, (service.name, method, path, forbidden.text)
                assert forbidden.json()["required_scope"]
        if service.name in ("profile", "loyalty"):
            assert len(operations) >= 20, f"{service.name}: only {len(operations)} operations; is the walk seeing the API?"


async def test_unknown_route_is_a_problem_not_a_page(running) -> None:  # noqa: ANN001
    response = await running[0].client.get("/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


async def test_string_parameters_document_what_the_door_refuses(running) -> None:  # noqa: ANN001
    """The guard refuses control characters in the path and query; every service's OpenAPI says so, so a
    client generated from it is not surprised by a 422."""
    checked = 0
    for service in running:
        document = (await service.client.get("/openapi.json")).json()
        for item in document["paths"].values():
            for operation in item.values():
                for parameter in operation.get("parameters", ()):
                    for schema in parameter["schema"].get("anyOf", [parameter["schema"]]):
                        if schema.get("type") == "string" and not {"format", "enum"} & set(schema):
                            assert "pattern" in schema, (service.name, parameter["name"])
                            checked += 1
        async with service.client_as("all") as client:
            refused = await client.get("/v1/no-such-thing%00")
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "path"
    assert checked >= 10


async def test_a_customer_facing_key_never_reaches_another_customer(running) -> None:  # noqa: ANN001
    """Every operation of every service with a customer in its path, called by a customer-facing key acting
    for someone else, is a 404 (or a 403 for staff operations); without X-Customer-Id, never a 2xx."""
    for service in running:
        document = (await service.client.get("/openapi.json")).json()
        async with service.client_as("customer", customer="intruder") as intruder, \
                service.client_as("customer") as headless:
            for path, item in document["paths"].items():
                if not path.startswith("/v1"):
                    continue
                for method in item:
                    concrete = path.replace("{customer_id}", "victim").replace("{", "").replace("}", "")
                    if "{customer_id}" in path:
                        answer = await intruder.request(method.upper(), concrete)
                        assert answer.status_code in (403, 404), (service.name, method, path, answer.text)
                    answer = await headless.request(method.upper(), concrete)
                    assert answer.status_code in (400, 403), (service.name, method, path, answer.text)


@pytest.mark.parametrize("environment, asked, mounted", [
    ("test", None, False), ("test", "customer.id", True), ("production", "customer.id", False),
])
def test_the_benchmark_floor_is_mounted_only_when_asked_and_never_in_production(
        monkeypatch: pytest.MonkeyPatch, environment: str, asked: str | None, mounted: bool) -> None:
    """bench/reads_bench.py's unauthenticated raw read exists only where TOURCRM_BENCH_FLOOR asks for it, outside
    production, and is never in the OpenAPI document."""
    from services.profile.app import create_app
    from shared.settings import Settings

    if asked:
        monkeypatch.setenv("TOURCRM_BENCH_FLOOR", asked)
    else:
        monkeypatch.delenv("TOURCRM_BENCH_FLOOR", raising=False)
    app = create_app(Settings(service="profile", environment=environment, api_keys="[]"))
    assert any(getattr(route, "path", "") == "/bench/floor/{ident}" for route in app.routes) is mounted
    assert not any(path.startswith("/bench") for path in app.openapi()["paths"])
