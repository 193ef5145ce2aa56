"""A bus record → a CloudEvents envelope, whatever its bytes, or EventError saying why not.

The CloudEvents Kafka protocol binding has two content modes, both accepted:
- structured: the value is the whole event as JSON (`content-type: application/cloudevents+json`,
  or no content type at all, as this project's producer wrote before it set one);
- binary: the attributes travel as `ce_<name>` headers and the value is the event's data
  (`content-type` is the data's content type), as the CloudEvents SDKs' `to_binary` sends.
Records no event can come from — a key that is not UTF-8 or is too long, no value (a tombstone),
a header without a value, one the Kafka client cannot read at all (a header name that is not UTF-8) — are
refused here, so that the consumer parks them with the reason.
"""

from __future__ import annotations

import json
from typing import Any

from shared.bus import Record
from shared.events import Envelope, EventError, decode_envelope, envelope_of

KEY_LIMIT = 200  # characters: a key is a customer id; the outbox and dead-letter key columns hold 200
STRUCTURED = "application/cloudevents"  # application/cloudevents+json (and ;charset=…)


def read(record: Record) -> Envelope:
    """The record's envelope, of a known type (its data not yet validated), or EventError."""
    if record.unreadable is not None:
        raise EventError(record.unreadable)
    if record.raw_key is not None:
        raise EventError("record key is not UTF-8")
    if record.key is not None and len(record.key) > KEY_LIMIT:
        raise EventError(f"record key is longer than {KEY_LIMIT} characters ({len(record.key)})")
    headers: dict[str, bytes] = {}
    for name, value in record.headers:
        if value is None:
            raise EventError(f"header {name[:100]!r} has no value")
        headers[name.lower()] = value
    if not record.value:
        raise EventError("record has no value (a tombstone or an empty record)")
    content_type = _text(headers, "content-type")
    if "ce_specversion" in headers and not (content_type or "").startswith(STRUCTURED):
        return _binary(headers, record.value, content_type)
    return decode_envelope(record.value)


def _binary(headers: dict[str, bytes], value: bytes, content_type: str | None) -> Envelope:
    """A binary-mode event: attributes from the ce_ headers, data from the value (JSON)."""
    attributes: dict[str, Any] = {name[3:]: _text(headers, name) for name in headers if name.startswith("ce_")}
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    media_type = (content_type or "application/json").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise EventError(f"binary-mode data of content type {media_type[:100]!r} is not JSON")
    try:
        attributes["data"] = json.loads(value)
    except ValueError as exc:
        raise EventError(f"binary-mode data is not JSON: {type(exc).__name__}") from exc
    return envelope_of(lambda: Envelope.model_validate(attributes))


def _text(headers: dict[str, bytes], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return value.decode()
    except UnicodeDecodeError as exc:
        raise EventError(f"header {name[:100]!r} is not UTF-8") from exc
