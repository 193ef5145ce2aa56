"""The AsyncAPI 3.0 document of tourcrm's events, generated from the event models."""

from __future__ import annotations

import json
from typing import Any

from shared.events import EVENT_TYPES, TOPICS, Envelope

PRODUCERS = {
    "tourcrm.bookings": "booking website and mobile app backends, and the profile HTTP ingest",
    "tourcrm.profile": "profile service",
    "tourcrm.complaints": "complaints service",
    "tourcrm.loyalty": "loyalty service",
    "tourcrm.feedback": "feedback service",
}


def document() -> dict[str, Any]:
    envelope = Envelope.model_json_schema()
    envelope["properties"].pop("data", None)
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {topic: {"address": topic, "description": f"Published by the {PRODUCERS[topic]}; "
                                        "key: customer id (order per customer).", "messages": {}} for topic in TOPICS}
    schemas: dict[str, Any] = {"Envelope": envelope}
    for event_type, model in EVENT_TYPES.items():
        name = model.__name__
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            schemas[def_name] = definition
        schemas[name] = schema
        messages[name] = {
            "name": event_type,
            "title": name,
            "summary": (model.__doc__ or "").strip() or event_type,
            "contentType": "application/cloudevents+json",
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/Envelope"},
                    {
                        "type": "object",
                        "required": ["type", "dataschema", "data"],
                        "properties": {
                            "type": {"const": event_type},
                            "dataschema": {"const": model.dataschema()},
                            "data": {"$ref": f"#/components/schemas/{name}"},
                        },
                    },
                ]
            },
        }
        channels[model.topic]["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "tourcrm events",
            "version": "1.0.0",
            "description": "Domain events of tourcrm as CloudEvents 1.0 in JSON structured mode, one per Kafka "
            "record, keyed by customer id. Delivery is at least once; consumers are idempotent by event id.",
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "components": {"messages": messages, "schemas": schemas},
    }


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
