"""The published API: every loyalty operation documents the body of its answer."""

from __future__ import annotations

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
