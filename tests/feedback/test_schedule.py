"""Triggers and suppression with a controllable clock: the post-trip invitation appears at the right
time, never twice for one booking, never inside the recontact period, never while a complaint is open;
cancelled with the booking; the follow-up is exempt from the recontact period but not from consent."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from shared.db import utcnow
from tests.conftest import Backend
from tests.feedback.support import (
    NOW, cancelled, closed, completed, consent, emitted, filed, invitations, resolved, send, tick,
)


async def test_post_trip_invitation_at_the_right_time_and_once(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    end = NOW.date() + timedelta(days=2)  # the trip ends in two days, at 20:00 Shanghai = 12:00 UTC
    booking = completed("c-1", "b-1", travel_end=end)
    await send(backend, feedback, booking, booking)  # a producer retrying with a new event id
    [invitation] = await invitations(feedback, booking_id="b-1")
    due = NOW.replace(hour=12) + timedelta(days=2, hours=24)  # default delay: 24 hours after the trip ends
    assert invitation.status == "scheduled" and invitation.send_at == due

    assert await tick(feedback, due - timedelta(minutes=1)) == {}
    assert (await invitations(feedback, booking_id="b-1"))[0].status == "scheduled"
    assert (await tick(feedback, due))["sent"] == 1
    [invitation] = await invitations(feedback, booking_id="b-1")
    assert invitation.status == "sent" and invitation.sent_at == due
    [event] = await emitted(feedback, "survey-invited")
    assert event["survey_id"] == invitation.id and event["kind"] == "post-trip" and event["token"] == invitation.token
    assert event["link"].endswith(invitation.token) and event["channel"] == "app-push"  # booked in the app
    assert await tick(feedback, due + timedelta(hours=1)) == {}  # never twice
    assert len(await emitted(feedback, "survey-invited")) == 1


async def test_a_trip_that_ended_long_ago_is_invited_at_once_and_delay_is_configurable(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    config = (await feedback.client.get("/v1/surveys/config")).json()
    r = await feedback.client.put("/v1/surveys/config", json=config | {"invite_delay_hours": 2})
    assert r.status_code == 200 and r.json()["invite_delay_hours"] == 2
    await send(backend, feedback, completed("c-old", "b-old", travel_end=NOW.date() - timedelta(days=90)),
               completed("c-new", "b-new", travel_end=NOW.date()))
    [old] = await invitations(feedback, booking_id="b-old")
    [new] = await invitations(feedback, booking_id="b-new")
    assert old.send_at <= utcnow()  # at once (when the event arrived)
    assert new.send_at == NOW.replace(hour=12) + timedelta(hours=2)


async def test_recontact_period_and_open_complaints_suppress(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    await send(backend, feedback, completed("c-2", "b-21"))
    await tick(feedback, NOW)
    await send(backend, feedback, completed("c-2", "b-22", travel_end=NOW.date() + timedelta(days=5)))
    await tick(feedback, NOW + timedelta(days=7))  # due, but 7 days after the last survey (< 30)
    [second] = await invitations(feedback, booking_id="b-22")
    assert (second.status, second.reason) == ("suppressed", "recontact-period")

    await send(backend, feedback, filed("c-3", "k-3"), completed("c-3", "b-3"))
    assert (await tick(feedback, NOW))["suppressed"] == 1
    [blocked] = await invitations(feedback, booking_id="b-3")
    assert (blocked.status, blocked.reason) == ("suppressed", "open-complaint")
    await send(backend, feedback, closed("c-3", "k-3"), completed("c-3", "b-3b"))
    await tick(feedback, NOW + timedelta(minutes=1))
    assert (await invitations(feedback, booking_id="b-3b"))[0].status == "sent"  # no open complaint any more
    firsts = [e["customer_id"] for e in await emitted(feedback, "survey-invited") if not e["reminder"]]
    assert firsts == ["c-2", "c-3"]


async def test_cancelled_with_the_booking_even_when_the_cancel_comes_first(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    await send(backend, feedback, completed("c-4", "b-4", travel_end=NOW.date() + timedelta(days=3)), cancelled("c-4", "b-4"))
    await send(backend, feedback, cancelled("c-5", "b-5"), completed("c-5", "b-5"))
    await tick(feedback, NOW + timedelta(days=10))
    for booking in ("b-4", "b-5"):
        [invitation] = await invitations(feedback, booking_id=booking)
        assert (invitation.status, invitation.reason) == ("cancelled", "booking-cancelled")
    assert await emitted(feedback, "survey-invited") == []


async def test_follow_up_exempt_from_recontact_not_from_consent(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    await send(backend, feedback, completed("c-6", "b-6"))
    await tick(feedback, NOW)
    await send(backend, feedback, filed("c-6", "k-6"), resolved("c-6", "k-6"), resolved("c-6", "k-6"))
    await tick(feedback, NOW + timedelta(days=1))  # inside the recontact period: sent all the same
    [follow_up] = await invitations(feedback, complaint_id="k-6")
    assert follow_up.status == "sent" and follow_up.kind == "follow-up" and follow_up.template_id == "complaint-follow-up"

    await send(backend, feedback, consent("c-7", "revoked"), filed("c-7", "k-7"), resolved("c-7", "k-7"))
    await tick(feedback, NOW)
    [refused] = await invitations(feedback, complaint_id="k-7")
    assert (refused.status, refused.reason) == ("suppressed", "no-consent")
    kinds = [e["kind"] for e in await emitted(feedback, "survey-invited")]
    assert kinds == ["post-trip", "follow-up"]


async def test_one_reminder_then_expiry(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    await send(backend, feedback, completed("c-8", "b-8"))
    await tick(feedback, NOW)
    assert (await tick(feedback, NOW + timedelta(days=2)))  == {}
    assert (await tick(feedback, NOW + timedelta(days=3)))["reminded"] == 1
    assert (await tick(feedback, NOW + timedelta(days=4))) == {}  # at most one reminder
    events = await emitted(feedback, "survey-invited")
    assert [e["reminder"] for e in events] == [False, True]
    assert (await tick(feedback, NOW + timedelta(days=14)))["expired"] == 1
    [invitation] = await invitations(feedback, booking_id="b-8")
    assert invitation.status == "expired"
    r = await feedback.client.get(f"/v1/surveys/invitations/{invitation.token}")
    assert r.status_code == 410 and r.json()["invitation_status"] == "expired"


async def test_consent_required_policy(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    config = (await feedback.client.get("/v1/surveys/config")).json()
    await feedback.client.put("/v1/surveys/config", json=config | {"consent_required": True})
    await send(backend, feedback, consent("c-9", "granted", "wechat"), completed("c-9", "b-9"), completed("c-10", "b-10"))
    await tick(feedback, NOW)
    assert (await invitations(feedback, booking_id="b-9"))[0].status == "sent"
    assert (await invitations(feedback, booking_id="b-10"))[0].reason == "no-consent"
    [event] = await emitted(feedback, "survey-invited")
    assert event["channel"] == "wechat"  # the channel the customer consented to


async def test_member_survey_twice_a_year_for_gold_and_platinum(backend: Backend) -> None:
    from shared.events import MemberEnrolled, TierChanged

    feedback = await backend.service("feedback")
    await send(backend, feedback, MemberEnrolled(customer_id="m-1", tier="gold", enrolled_at=NOW),
               MemberEnrolled(customer_id="m-2", enrolled_at=NOW),
               TierChanged(customer_id="m-3", old_tier="gold", new_tier="platinum", reason="review", changed_at=NOW))
    done = await tick(feedback, NOW)
    assert done["member_surveys"] == 2 and done["sent"] == 2
    assert await tick(feedback, NOW + timedelta(days=1)) == {}  # once per half year
    local = NOW.astimezone(ZoneInfo("Asia/Shanghai"))
    next_half = datetime(local.year + (local.month > 6), 7 if local.month <= 6 else 1, 1, tzinfo=local.tzinfo)
    later = await tick(feedback, next_half + timedelta(days=31, hours=12))  # next half year, past the recontact period
    assert later["member_surveys"] == 2 and later["sent"] == 2
    assert sorted(i.customer_id for i in await invitations(feedback, kind="member")) == ["m-1", "m-1", "m-3", "m-3"]


async def test_a_members_tier_events_of_one_batch_take_effect_in_their_order(backend: Backend) -> None:
    from shared.events import MemberEnrolled, TierChanged

    feedback = await backend.service("feedback")
    await send(backend, feedback,  # one batch, one customer: enrolled gold, down to silver, up to platinum; and the reverse
               MemberEnrolled(customer_id="m-up", tier="gold", enrolled_at=NOW),
               TierChanged(customer_id="m-up", old_tier="gold", new_tier="silver", reason="review", changed_at=NOW),
               TierChanged(customer_id="m-up", old_tier="silver", new_tier="platinum", reason="review", changed_at=NOW),
               MemberEnrolled(customer_id="m-down", tier="platinum", enrolled_at=NOW),
               TierChanged(customer_id="m-down", old_tier="platinum", new_tier="silver", reason="review", changed_at=NOW))
    done = await tick(feedback, NOW)
    assert done["member_surveys"] == 1  # the last tier counts: platinum is surveyed, silver is not
    assert [i.customer_id for i in await invitations(feedback, kind="member")] == ["m-up"]


async def test_members_tiers_between_points_earned_written_together(backend: Backend) -> None:
    """Loyalty's stream puts points-earned between the tier events: the tiers are still the last of each member, a
    referral among them still marks both customers, and the tiers are written by one upsert a batch, not one per tier
    event (each points-earned applied the staged tiers first: 15,000 upserts in a 100,000-booking run)."""
    from sqlalchemy import event as sa_event
    from sqlalchemy import select
    from services.feedback.models import SurveyCustomer
    from shared.events import PointsEarned, TierChanged

    feedback = await backend.service("feedback")
    writes: list[str] = []

    def count(_conn, _cursor, statement: str, *_args) -> None:  # noqa: ANN001
        if statement.startswith("INSERT INTO survey_customer") and " tier" in statement.split(")", 1)[0]:
            writes.append(statement)

    tiers = [TierChanged(customer_id=f"t-{n}", old_tier="regular", new_tier="silver" if n % 2 else "gold",
                         reason="review", changed_at=NOW) for n in range(10)]
    earned = [PointsEarned(customer_id=f"t-{n}", points=10, balance=10 * n, entry_id=str(n), kind="earn")
              for n in range(10)]
    referral = PointsEarned(customer_id="t-0", points=100, balance=100, entry_id="r", cause="ref-1", kind="referral",
                            referee_id="t-9")
    events = [e for pair in zip(tiers, earned) for e in pair]
    sa_event.listen(feedback.runtime.engine.sync_engine, "before_cursor_execute", count)
    try:
        await send(backend, feedback, *events[:10], referral, *events[10:])
    finally:
        sa_event.remove(feedback.runtime.engine.sync_engine, "before_cursor_execute", count)
    async with feedback.runtime.read_sessions() as s:
        rows = {r.customer_id: r for r in (await s.execute(select(SurveyCustomer))).scalars()}
    assert {cid: r.tier for cid, r in rows.items()} == {f"t-{n}": "silver" if n % 2 else "gold" for n in range(10)}
    assert rows["t-0"].referrer and rows["t-9"].referred
    assert 1 <= len(writes) <= 4  # one per batch around the referral (was one per tier event: 10)


async def test_nothing_goes_out_in_the_quiet_hours(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    await send(backend, feedback, completed("c-11", "b-11"), completed("c-12", "b-12", travel_end=NOW.date()))
    night = NOW.replace(hour=14)  # 22:00 in Shanghai; quiet hours 21:00–09:00 by default
    assert await tick(feedback, night) == {}
    assert (await tick(feedback, night + timedelta(hours=11)))["sent"] == 1  # 09:00: b-11 goes; b-12 is due tomorrow
    assert await tick(feedback, night + timedelta(days=4)) == {}  # b-12 due and b-11's reminder due, but at night
    morning = await tick(feedback, night + timedelta(days=4, hours=11))
    assert (morning["sent"], morning["reminded"]) == (1, 1)

    await send(backend, feedback, completed("c-13", "b-13", travel_end=NOW.date() - timedelta(days=30)))  # ended: due now
    r = await feedback.client.post("/v1/surveys/dispatch")  # staff send what is due now, whatever the hour
    assert r.status_code == 200 and r.json()["sent"] == 1
    assert (await invitations(feedback, booking_id="b-13"))[0].status == "sent"
