"""Demo survey answers: the post-trip invitations the bookings brought (through the bus) are sent
(`POST /v1/surveys/dispatch`) and most are answered through the public answer route with their tokens,
with comments in the customer's language. Unhappy answers go on to the closed loop: feedback emits
detractor-detected and complaints files a service-recovery complaint (channel `survey`) by itself."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

from tourcrm.demo.catalog import COMMENTS

if TYPE_CHECKING:
    from tourcrm.demo import Demo

MOODS = {"happy": 6, "mixed": 3, "unhappy": 1}


async def invitations(demo: Demo, **params: str) -> list[dict]:
    """Every post-trip invitation of a demo booking (all pages)."""
    wanted = {t.body["booking_id"] for t in demo.plan.trips}
    found, cursor = [], None
    while True:
        query = {"kind": "post-trip", "limit": 500, **params, **({"cursor": cursor} if cursor else {})}
        page = (await demo.call("feedback", "GET", "/v1/surveys/invitations", params=query)).json()
        found += [i for i in page["items"] if i["booking_id"] in wanted]
        if not (cursor := page["next_cursor"]):
            return found


async def answer_surveys(demo: Demo) -> None:
    expected = len(demo.plan.trips)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + demo.wait_seconds
    while len(await invitations(demo)) < expected and loop.time() < deadline:
        await asyncio.sleep(1)  # the bookings reach the feedback service through the bus
    for _ in range(expected // 100 + 10):  # each round sends (or suppresses) at most a few hundred
        done = (await demo.call("feedback", "POST", "/v1/surveys/dispatch")).json()
        if not any(done.values()):
            break
    # Customers the demo will file complaints for answer nothing: an answer is the follow-up of a customer's
    # resolved complaint, which it would close or reopen, whatever state the demo means to leave it in.
    complaining = {demo.ids[demo.plan.trips[c.trip].person] for c in demo.plan.complaints}
    sent = sorted((i for i in await invitations(demo, status="sent") if i["customer_id"] not in complaining),
                  key=lambda i: i["booking_id"])

    async def one(invitation: dict) -> None:
        rng = random.Random(f"{demo.plan.seed}:{invitation['booking_id']}")
        if rng.random() < 0.25:
            return  # some never answer
        token = invitation["token"]
        form = (await demo.call("feedback", "GET", f"/v1/surveys/invitations/{token}")).json()
        language = "en" if invitation["language"].startswith("en") else "zh"
        answers = _answers(form.get("questions", []), rng, language)
        await demo.call("feedback", "POST", f"/v1/surveys/invitations/{token}/responses", json={"answers": answers})
        demo.report.answers += 1
        demo.report.answers_by_language[language] += 1

    await demo.each("survey answers", sent, one)


def _answers(questions: list[dict], rng: random.Random, language: str) -> dict:
    mood = rng.choices(list(MOODS), weights=list(MOODS.values()))[0]
    nps = {"happy": rng.randint(9, 10), "mixed": rng.randint(7, 8), "unhappy": rng.randint(0, 5)}[mood]
    csat = {"happy": 5, "mixed": rng.randint(3, 4), "unhappy": rng.randint(1, 2)}[mood]
    answers: dict = {}
    for q in questions:
        if q["type"] == "nps":
            answers[q["id"]] = nps
        elif q["type"] in ("csat", "rating") and (q.get("required") or rng.random() < 0.6):
            answers[q["id"]] = max(1, min(5, csat + rng.choice([-1, 0, 0, 1])))
        elif q["type"] == "text" and rng.random() < 0.7:
            answers[q["id"]] = rng.choice(COMMENTS[language][mood])
    return answers
