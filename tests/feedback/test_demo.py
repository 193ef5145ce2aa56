"""The embedded demo answers most of the surveys its trips brought, with comments (through the feedback API)."""

from __future__ import annotations

from tests.conftest import TEST_KEYS, Backend
from tourcrm.demo import load_demo


async def test_demo_includes_answered_surveys_with_comments(backend: Backend, tmp_path) -> None:  # noqa: ANN001
    profile = await backend.service("profile")
    feedback = await backend.service("feedback")
    settings = profile.runtime.settings.model_copy(update={"var_dir": tmp_path})
    assert await load_demo(settings, TEST_KEYS["all"], customers=8) >= 8
    assert "surveys answered" in (tmp_path / "demo-loaded").read_text()
    scores = (await feedback.client.get("/v1/feedback/scores")).json()["overall"]
    assert scores["responses"] >= 1 and scores["invited"] >= scores["responses"]
    sent = (await feedback.client.get("/v1/surveys/invitations", params={"status": "answered"})).json()["items"]
    answers = [(await feedback.client.get(f"/v1/customers/{i['customer_id']}/feedback")).json()["responses"] for i in sent]
    assert any(r["comment"] and r["sentiment"] for rs in answers for r in rs)
