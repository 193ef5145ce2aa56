"""The closed loop: unhappy answers emit detractor-detected with the answers and the booking context;
every answer emits feedback-submitted (a follow-up's carries the complaint id); with loyalty on the same
bus, an answer earns the survey bonus once."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from tests.conftest import Backend, eventually
from tests.feedback.support import NOW, emitted, filed, invitations, invited, resolved, send, tick


async def _answer(feedback, token: str, answers: dict) -> dict:  # noqa: ANN001
    r = await feedback.client.post(f"/v1/surveys/invitations/{token}/responses", json={"answers": answers})
    assert r.status_code == 201, r.text
    return r.json()


async def test_unhappy_answers_are_detractors(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    by_nps = await invited(backend, feedback, "d-1", "db-1", tags=["guide:G-9", "supplier:S-2"], destination="西安")
    by_csat = await invited(backend, feedback, "d-2", "db-2")
    by_comment = await invited(backend, feedback, "d-3", "db-3")
    happy = await invited(backend, feedback, "d-4", "db-4")
    await _answer(feedback, by_nps.token, {"nps": 4, "csat": 3, "rate_guide": 2, "comment": "导游态度恶劣，强制购物"})
    await _answer(feedback, by_csat.token, {"nps": 8, "csat": 2})
    await _answer(feedback, by_comment.token, {"nps": 8, "csat": 3, "comment":
                                               "Dirty hotel, rude guide, forced shopping stops all day. A total rip off, never again."})
    await _answer(feedback, happy.token, {"nps": 9, "csat": 5, "comment": "Wonderful trip!"})

    detractors = await emitted(feedback, "detractor-detected")
    assert [d["customer_id"] for d in detractors] == ["d-1", "d-2", "d-3"]
    first = detractors[0]
    assert first["reasons"][0] == "nps" and first["nps"] == 4 and first["booking_id"] == "db-1"
    assert first["answers"] == {"nps": 4, "csat": 3, "rate_guide": 2}  # scores only: the comment stays in feedback
    assert "导游态度恶劣" not in json.dumps(detractors, ensure_ascii=False)
    assert first["product"] == {"id": "P-GUILIN-5D", "name": "桂林山水五日游", "kind": "tour", "destination": "西安",
                                "guide": "G-9", "supplier": "S-2", "channel": "app"}
    assert detractors[1]["reasons"] == ["csat"] and detractors[1]["nps"] == 8
    assert detractors[2]["reasons"] == ["comment"] and detractors[2]["sentiment"] <= -0.6
    submitted = await emitted(feedback, "feedback-submitted")
    assert [s["detractor"] for s in submitted] == [True, True, True, False]


async def test_follow_up_answer_carries_the_complaint(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    await invited(backend, feedback, "d-5", "db-5", destination="西安", tags=["guide:G-3"])
    await send(backend, feedback, filed("d-5", "k-5", booking="db-5"), resolved("d-5", "k-5"))
    await tick(feedback, NOW)
    [follow_up] = await invitations(feedback, complaint_id="k-5")
    assert (follow_up.booking_id, follow_up.destination, follow_up.guide) == ("db-5", "西安", "G-3")
    form = (await feedback.client.get(f"/v1/surveys/invitations/{follow_up.token}")).json()
    assert [q["id"] for q in form["questions"]] == ["csat", "rate_speed", "nps", "comment"]
    await _answer(feedback, follow_up.token, {"csat": 5, "rate_speed": 4, "nps": 9})
    await send(backend, feedback, filed("d-5", "k-6"), resolved("d-5", "k-6"))
    await tick(feedback, NOW)
    [unhappy] = await invitations(feedback, complaint_id="k-6")
    await _answer(feedback, unhappy.token, {"csat": 1, "rate_speed": 1, "nps": 2, "comment": "处理结果很不满意"})
    happy, sad = await emitted(feedback, "feedback-submitted")
    assert happy["complaint_id"] == "k-5" and happy["kind"] == "follow-up" and happy["csat"] == 5 and not happy["detractor"]
    assert sad["complaint_id"] == "k-6" and sad["detractor"] and sad["nps"] == 2
    assert await emitted(feedback, "detractor-detected") == []  # the complaint's own business, not a new case


async def test_survey_bonus_with_loyalty_once_per_invitation(backend: Backend) -> None:
    from services.loyalty.models import LedgerEntry

    loyalty = await backend.service("loyalty")
    feedback = await backend.service("feedback")
    invitation = await invited(backend, feedback, "d-6", "db-6")

    async def member_exists() -> bool:
        return (await loyalty.client.get("/v1/members/d-6")).status_code == 200
    await eventually(member_exists)  # enrolled on the booking
    await _answer(feedback, invitation.token, {"nps": 10, "csat": 5})

    async def bonus_entries() -> int:
        async with loyalty.runtime.read_sessions() as s:
            return (await s.execute(select(func.count()).select_from(LedgerEntry)
                                    .where(LedgerEntry.business_key == f"survey:{invitation.id}"))).scalar_one()
    await eventually(lambda: _equals(bonus_entries(), 1))
    # the relay publishing the same event again (at least once) changes nothing
    await tick(feedback, NOW + timedelta(minutes=1))
    assert await bonus_entries() == 1


async def _equals(value, expected) -> bool:  # noqa: ANN001
    return (await value) == expected


async def test_word_of_mouth_among_promoters(backend: Backend) -> None:
    from shared.events import PointsEarned

    feedback = await backend.service("feedback")
    for n, nps in enumerate([10, 9, 9, 5]):
        invitation = await invited(backend, feedback, f"w-{n}", f"wb-{n}")
        await _answer(feedback, invitation.token, {"nps": nps, "csat": 4})
    # w-0 (a promoter) referred w-2 (a promoter); w-3 (a detractor) referred w-9 (no answer)
    await send(backend, feedback, PointsEarned(customer_id="w-0", points=100, balance=100, entry_id="1", cause="ref-1",
                                               kind="referral", referee_id="w-2"),
               PointsEarned(customer_id="w-3", points=100, balance=100, entry_id="2", cause="ref-2", kind="referral",
                            referee_id="w-9"),
               PointsEarned(customer_id="w-1", points=50, balance=50, entry_id="3", kind="earn"))
    mouth = (await feedback.client.get("/v1/feedback/scores")).json()["word_of_mouth"]
    assert mouth == {"promoters": 3, "referrers": 1, "referrer_share": 0.333, "referred": 1, "referred_share": 0.333}
