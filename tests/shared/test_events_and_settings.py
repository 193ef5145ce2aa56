"""The event catalog, its AsyncAPI document, and settings."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.asyncapi import render
from shared.events import (
    EVENT_TYPES, TOPICS, BookingCompleted, CustomerRegistered, CustomersMerged, EventError, decode, new_event,
)
from shared.logging import correlation_id
from shared.settings import Settings
from tourcrm import settings_for
from tests.conftest import REPO

CATALOG = REPO / "docs" / "events.md"  # the event table of the product design, kept in the repository


def test_every_event_of_the_design_catalog_has_a_typed_model() -> None:
    table = CATALOG.read_text()
    named = set()
    for row in table.splitlines():
        if row.startswith("| ") and not row.startswith("| event") and not row.startswith("|---"):
            first_cell = row.split("|")[1]
            named.update(re.findall(r"\b([a-z]+(?:-[a-z]+)+)\b", re.sub(r"\(.*?\)", "", first_cell)))
    assert len(named) >= 25, f"could not read the event table of {CATALOG}"
    assert named - set(EVENT_TYPES) == set()
    assert all(model.topic in TOPICS for model in EVENT_TYPES.values())


def test_envelope_round_trip_carries_version_subject_and_correlation_id() -> None:
    data = BookingCompleted.model_validate(
        {"booking_id": "B1", "customer_id": "C1", "product": {"id": "P", "name": "桂林", "kind": "tour"},
         "amount": "100.50", "completed_at": "2026-05-01T10:00:00+08:00"}
    )
    token = correlation_id.set("corr-1")
    try:
        envelope = new_event(data, source="booking-web", subject="C1")
    finally:
        correlation_id.reset(token)
    raw = json.loads(envelope.to_bytes())
    assert raw["specversion"] == "1.0" and raw["type"] == "booking-completed"
    assert raw["dataschema"] == "tourcrm:booking-completed:1"
    assert raw["correlationid"] == "corr-1" and raw["subject"] == "C1"
    decoded, typed = decode(envelope.to_bytes())
    assert decoded.id == envelope.id and typed == data
    assert str(typed.amount) == "100.50"


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"type": "booking-completed"}', "not a CloudEvents 1.0 envelope"),
        (b'{"source": "x", "type": "nope", "data": {}}', "unknown event type 'nope'"),
        (b'{"source": "x", "type": "booking-cancelled", "data": {"booking_id": "B"}}', "customer_id: Field required"),
    ],
)
def test_records_that_are_not_events_say_why(payload: bytes, reason: str) -> None:
    with pytest.raises(EventError, match=re.escape(reason)):
        decode(payload)


def test_published_asyncapi_document_is_generated_from_the_models() -> None:
    published = (REPO / "docs" / "asyncapi.json").read_text()
    assert published == render(), "docs/asyncapi.json is stale: run `tourcrm asyncapi`"
    document = json.loads(published)
    assert set(document["components"]["messages"]) == {m.__name__ for m in EVENT_TYPES.values()}
    assert set(document["channels"]) == set(TOPICS)


def test_settings_default_to_embedded_sqlite_and_refuse_placeholder_secrets(tmp_path: Path) -> None:
    embedded = settings_for("loyalty", Settings(var_dir=tmp_path))
    assert embedded.db_url == f"sqlite+aiosqlite:///{tmp_path}/loyalty.db"
    assert embedded.kafka_bootstrap_servers is None and embedded.http_port == 8003
    assert embedded.url_of("complaints") == "http://127.0.0.1:8002"
    assert embedded.timezone == "Asia/Shanghai" and embedded.currency == "CNY"
    production = dict(environment="production", api_keys="[]")
    pg = Settings(service="profile", database_url="postgresql://crm:s3cr3t-Xy@db/{service}", **production)
    assert pg.db_url == "postgresql+asyncpg://crm:s3cr3t-Xy@db/profile"
    with pytest.raises(ValidationError, match="placeholder password"):
        Settings(service="profile", database_url="postgresql://crm:changeme@db/profile", **production)
    with pytest.raises(ValidationError, match="TOURCRM_API_KEYS"):
        Settings(service="profile", environment="production")
    with pytest.raises(ValidationError):
        Settings(timezone="Mars/Olympus")


BOOKING = {"booking_id": "B1", "customer_id": "C1", "product": {"id": "P", "name": "桂林", "kind": "tour"},
           "amount": "100.50", "completed_at": "2026-05-01T10:00:00+08:00",
           "travel_start": "2026-04-26", "travel_end": "2026-04-30"}


@pytest.mark.parametrize(("change", "field"), [
    ({"currency": "ZZZ"}, "currency"),
    ({"currency": "XXX"}, "currency"),  # ISO's "no currency" is no money
    ({"completed_at": "9999-12-31T23:59:59Z"}, "completed_at"),  # overflowed the business time zone once
    ({"completed_at": "0001-01-01T00:00:00Z"}, "completed_at"),
    ({"travel_end": "2026-04-20"}, "travel_end"),  # before the start
    ({"travel_start": "1899-01-01"}, "travel_start"),
    ({"amount": "100000000.01"}, "amount"),  # beyond any real booking
])
def test_a_booking_that_can_never_apply_is_refused_naming_the_field(change: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BookingCompleted.model_validate(BOOKING | change)
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


def test_a_booking_completed_in_the_future_is_implausible_beyond_the_clock_skew() -> None:
    booking = BookingCompleted.model_validate(BOOKING | {"currency": "USD"})
    written = booking.completed_at
    assert booking.implausible(written) is None
    assert booking.implausible(written - timedelta(minutes=4)) is None  # a producer's clock a little ahead
    assert booking.implausible(written - timedelta(hours=1)) == ("completed_at", "is in the future")


def test_a_topic_prefix_without_a_separator_gets_a_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.app import make_bus
    from shared.events import BOOKINGS

    monkeypatch.setenv("TOURCRM_TOPIC_PREFIX", "probe")
    bus = make_bus(Settings(service="loyalty", kafka_bootstrap_servers="127.0.0.1:9092"))
    assert bus.physical(BOOKINGS) == "probe.tourcrm.bookings" and bus.physical("loyalty") == "probe.loyalty"
    for kept in ("probe.", "probe-", "probe_", ""):
        monkeypatch.setenv("TOURCRM_TOPIC_PREFIX", kept)
        assert make_bus(Settings(kafka_bootstrap_servers="127.0.0.1:9092")).physical(BOOKINGS) == kept + BOOKINGS


def test_records_of_an_older_version_still_apply_without_what_the_new_one_dropped() -> None:
    """Records written before personal data left the bus (version 1) are still on the topics after an upgrade:
    they apply, and the personal fields they carry are not kept; a version nobody wrote is refused."""
    envelope = new_event(CustomerRegistered(customer_id="c-1", preferred_language="en"), source="tourcrm/profile")
    old = json.loads(envelope.to_bytes()) | {"dataschema": "tourcrm:customer-registered:1"}
    old["data"] |= {"name": "王小明", "phones": ["+8613800138000"], "emails": ["w@example.cn"], "birth_date": "1990-01-01"}
    _, data = decode(json.dumps(old).encode())
    assert data == CustomerRegistered(customer_id="c-1", preferred_language="en")
    with pytest.raises(EventError, match="unsupported dataschema"):
        decode(json.dumps(old | {"dataschema": "tourcrm:customer-registered:3"}).encode())
    merged = json.loads(new_event(CustomersMerged(customer_id="c-1", merged_ids=["c-2"]), source="x").to_bytes())
    merged |= {"dataschema": "tourcrm:customers-merged:1", "data": merged["data"] | {"reason": "同一人"}}
    assert decode(json.dumps(merged).encode())[1] == CustomersMerged(customer_id="c-1", merged_ids=["c-2"])
