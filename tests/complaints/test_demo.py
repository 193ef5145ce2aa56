"""`make run`'s demo data includes complaints in every state of the flow."""

from __future__ import annotations

from services.complaints.workflow import STATES
from tourcrm.demo import load_demo
from tests.conftest import TEST_KEYS, Backend


async def test_demo_has_complaints_in_every_state(backend: Backend, tmp_path) -> None:  # noqa: ANN001
    profile = await backend.service("profile")
    complaints = await backend.service("complaints")
    settings = profile.runtime.settings.model_copy(update={"var_dir": tmp_path})
    assert await load_demo(settings, TEST_KEYS["all"], customers=3) >= 3
    items = (await complaints.client.get("/v1/complaints", params={"limit": 100})).json()["items"]
    assert {c["state"] for c in items} == set(STATES)
    assert any(c["reopen_count"] == 1 for c in items)
    assert "complaints" in (tmp_path / "demo-loaded").read_text()
