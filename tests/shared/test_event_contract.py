"""The event contract: docs/asyncapi.json publishes a JSON Schema per event type, and consumers hold records to it.

The schema is generated from the pydantic models, but pydantic alone would accept what the schema refuses
(its lax mode turns "2" into 2). A producer in another language writes against the published document, so a
record that breaks it is dead-lettered with the field named — checked here against the real loyalty
service, on both backends, for several event types; the published document itself is read with the
reference `jsonschema` implementation, as such a producer would.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import jsonschema
import pytest

from shared.bus import Record
from shared.events import (
    EVENT_TYPES, BookingCompleted, ComplaintResolved, CustomerAtRisk, EventData, FeedbackSubmitted, Product, new_event,
)
from tests.conftest import REPO, Backend, eventually

NOW = datetime.now(timezone.utc)
DOCUMENT = json.loads((REPO / "docs" / "asyncapi.json").read_text())


def booking(customer: str, booking_id: str) -> BookingCompleted:
    return BookingCompleted(booking_id=booking_id, customer_id=customer, amount=Decimal("1000.00"), completed_at=NOW,
                            product=Product(id="P-1", name="桂林山水五日游", kind="tour", destination="桂林"))


# (valid data, the field to break, a value pydantic's lax mode coerces but the published schema refuses)
BROKEN: list[tuple[EventData, str, Any]] = [
    (booking("c-schema-1", "B-s1"), "party_size", "2"),
    (ComplaintResolved(complaint_id="K-1", customer_id="c-schema-2", category="guide", severity="high", sla_met=True,
                       compensation_points=500, resolved_at=NOW), "compensation_points", "500"),
    (FeedbackSubmitted(response_id="R-1", survey_id="S-1", customer_id="c-schema-3", nps=3, submitted_at=NOW),
     "nps", "3"),
    (CustomerAtRisk(customer_id="c-schema-4", score=0.9, reasons=["no booking for a year"]), "score", "0.9"),
]


def envelope_json(data: EventData, **changes: Any) -> dict[str, Any]:
    envelope = json.loads(new_event(data, source="contract-test", subject=data.customer_id).to_bytes())
    envelope["data"] |= changes
    return envelope


def published_validator(data: EventData) -> jsonschema.Draft202012Validator:
    """The message's payload schema, read from the committed document (its $refs resolve inside it)."""
    name = type(data).__name__
    return jsonschema.Draft202012Validator({"$ref": f"#/components/messages/{name}/payload",
                                            "components": DOCUMENT["components"]})


def test_every_event_type_has_a_payload_json_schema_in_the_published_document() -> None:
    messages = DOCUMENT["components"]["messages"]
    assert {m["name"] for m in messages.values()} == set(EVENT_TYPES)
    for model in EVENT_TYPES.values():
        payload = messages[model.__name__]["payload"]["allOf"][1]
        assert payload["properties"]["dataschema"] == {"const": model.dataschema()}
        data_schema = DOCUMENT["components"]["schemas"][model.__name__]
        assert data_schema["type"] == "object" and data_schema["additionalProperties"] is False
        jsonschema.Draft202012Validator.check_schema(data_schema)


@pytest.mark.parametrize("data, field, value", BROKEN, ids=[d.type for d, _, _ in BROKEN])
def test_the_published_schema_refuses_what_the_model_alone_would_coerce(data: EventData, field: str, value: Any) -> None:
    validator = published_validator(data)
    assert not list(validator.iter_errors(envelope_json(data)))  # what our producers write fits the document
    broken = envelope_json(data, **{field: value})
    assert [list(e.absolute_path) for e in validator.iter_errors(broken)][0][:2] == ["data", field]
    type(data).model_validate(broken["data"])  # pydantic alone takes it: the schema check is what refuses it


async def test_records_breaking_the_published_schema_are_dead_lettered_naming_the_field(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    records = [Record(data.topic, data.customer_id, json.dumps(envelope_json(data, **{field: value})).encode())
               for data, field, value in BROKEN]
    good = booking("c-schema-ok", "B-ok")
    records.append(Record(good.topic, good.customer_id, new_event(good, source="contract-test").to_bytes()))
    await backend.bus().publish(records)

    async def earned() -> bool:
        return (await loyalty.client.get("/v1/members/c-schema-ok")).status_code == 200
    await eventually(earned)  # the good event after the bad ones is applied

    async def parked() -> bool:
        return len(await loyalty.runtime.consumer.dead_letters()) == len(BROKEN)
    await eventually(parked)
    reasons = {letter.event_type: letter.error for letter in await loyalty.runtime.consumer.dead_letters()}
    for data, field, _ in BROKEN:
        assert reasons[data.type].startswith(f"{data.type} data does not fit its schema: {field}: "), reasons[data.type]
    for customer in ("c-schema-1", "c-schema-2", "c-schema-3"):  # nothing of the broken records was applied
        assert (await loyalty.client.get(f"/v1/members/{customer}")).status_code == 404
