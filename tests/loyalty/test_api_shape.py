"""The published API: every loyalty operation documents the body of its answer, and no two routes answer one
request (the routers' order, hot ones first, changes nothing but speed)."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from services.loyalty.api import routers
from services.loyalty.app import create_app
from shared.settings import Settings


def test_every_v1_operation_declares_its_answer() -> None:
    document = create_app(Settings(service="loyalty", port=8003)).openapi()
    bare = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            answers = [r for code, r in operation["responses"].items() if code.startswith("2")]
            schemas = [a.get("content", {}).get("application/json", {}).get("schema", {}) for a in answers]
            if path.startswith("/v1") and not all("$ref" in s for s in schemas):
                bare.append((method.upper(), path))
    assert bare == []
    assert len([p for p in document["paths"] if p.startswith("/v1")]) >= 20


def test_no_two_routes_answer_the_same_request() -> None:
    routes = [route for router in routers for route in router.routes if isinstance(route, APIRoute)]
    overlaps = []
    for route in routes:
        path = re.sub(r"\{[^}]+\}", "x1", route.path)  # a request for this route, its parameters filled in
        rivals = [other.path for other in routes if other is not route and other.methods & route.methods
                  and other.path_regex.match(path)]
        overlaps += [(route.path, rival) for rival in rivals]
    assert overlaps == []
    assert len(routes) >= 30
