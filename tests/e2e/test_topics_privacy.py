"""No personal data in clear on any topic after an erasure, on both backends.

A customer with a distinctive name, phone and email is registered and updated, books a trip, answers the
post-trip survey unhappily with a comment that names them (→ a service-recovery complaint, whose text
complaints reads from feedback's API) and files a complaint naming them; then profile erases the customer.
Every record of every topic is then read back — with a plain aiokafka consumer on Kafka, from the log of the
in-process bus otherwise — and none may still hold those strings: events carry no personal data at all.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from tests.complaints.support import file
from tests.conftest import Backend, RunningService, eventually
from tests.e2e.test_closed_loop import answer_unhappily
from tests.profile.helpers import booking, create, post_booking

NAME, NEW_NAME = "司马青云", "司马青云霄"
PHONE, NEW_PHONE = "+8613987650123", "+8613987650456"
EMAIL, NEW_EMAIL = "sima.qingyun.privacy@example.com", "qingyun.sima.moved@example.com"
SECRETS = (NAME, PHONE, NEW_PHONE, PHONE.removeprefix("+86"), NEW_PHONE.removeprefix("+86"), EMAIL, NEW_EMAIL,
           "1979-07-09", "sima.qingyun", "qingyun.sima")


async def every_record(backend: Backend) -> list[bytes]:
    """Keys, header values and values of every record on the backend's topics, from the beginning."""
    if not backend.is_kafka:
        return [part for partitions in backend.memory_bus.logs.values() for log in partitions for record in log
                for part in (record.value or b"", (record.key or "").encode(), *(v or b"" for _, v in record.headers))]
    admin = AIOKafkaAdminClient(bootstrap_servers=backend.kafka_servers)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(backend.prefix)]
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=backend.kafka_servers, enable_auto_commit=False,
                                auto_offset_reset="earliest")  # no group: every partition of the topics is ours
    await consumer.start()
    try:
        partitions = list(consumer.assignment())
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[bytes] = []
        async with asyncio.timeout(60):
            while [p for p in partitions if await consumer.position(p) < ends[p]]:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    found += [part for r in records for part in (r.value or b"", r.key or b"",
                                                                 *(v or b"" for _, v in r.headers))]
        assert {t.removeprefix(backend.prefix) for t in topics} >= {"tourcrm.profile", "tourcrm.bookings",
                                                                    "tourcrm.feedback", "tourcrm.complaints"}
        return found
    finally:
        await consumer.stop()


async def erased_everywhere(profile: RunningService, customer_id: str) -> bool:
    report = await profile.client.get(f"/v1/customers/{customer_id}/erasure")
    return report.status_code == 200 and report.json()["complete"]


async def test_no_personal_data_in_clear_on_any_topic_after_erasure(backend: Backend) -> None:
    profile = await backend.service("profile")
    complaints = await backend.service("complaints")
    loyalty = await backend.service("loyalty")
    feedback = await backend.service("feedback")
    customer = await create(profile, name=NAME, phones=[PHONE], emails=[EMAIL], birth_date="1979-07-09",
                            preferred_language="zh-CN")
    cid = customer["id"]
    patched = await profile.client.patch(f"/v1/customers/{cid}", headers={"If-Match": '"v1"'},
                                         json={"name": NEW_NAME, "phones": [NEW_PHONE], "emails": [NEW_EMAIL]})
    assert patched.status_code == 200, patched.text
    ended = (datetime.now(timezone.utc) - timedelta(days=5)).date()
    await post_booking(profile, booking("B-privacy", cid, amount="4200.00", travel_end=ended,
                                        completed_at=datetime.now(timezone.utc) - timedelta(days=20)))
    await answer_unhappily(feedback, "post-trip", f"我是{NAME}，电话{PHONE}，邮箱{EMAIL}：导游态度恶劣，强制购物。",
                           customer=cid)

    async def recovered() -> bool:
        items = (await complaints.client.get("/v1/complaints", params={"customer_id": cid})).json()["items"]
        return any(c["source"] == "survey" for c in items)
    await eventually(recovered)
    recovery = [c for c in (await complaints.client.get("/v1/complaints", params={"customer_id": cid})).json()["items"]
                if c["source"] == "survey"][0]
    assert NAME in (await complaints.client.get(f"/v1/complaints/{recovery['id']}")).json()["description"]
    await file(complaints.client, cid, booking_id="B-privacy",
               summary=f"{NAME} 投诉导游", description=f"{NAME} ({NEW_PHONE}, {NEW_EMAIL}) was forced to shop.")

    async def member() -> bool:
        return (await loyalty.client.get(f"/v1/members/{cid}")).status_code == 200
    await eventually(member)
    erased = await profile.client.delete(f"/v1/customers/{cid}")
    assert erased.status_code == 202, erased.text
    await eventually(lambda: erased_everywhere(profile, cid))

    records = await every_record(backend)
    assert len(records) > 20, "too few records to prove anything"
    text = b"\n".join(records).decode(errors="replace")
    assert cid in text  # the records about the customer are there (keyed by the id, which is no personal data)
    leaked = [secret for secret in SECRETS if secret in text]
    assert leaked == [], f"personal data in clear on the topics: {leaked}"
