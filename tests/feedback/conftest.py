"""The feedback tests load the comment analysers' models once, before the first test: loading them holds the
interpreter for a moment, which would otherwise stall whichever services a test is running at that time."""

from __future__ import annotations

import pytest

from services.feedback import sentiment


@pytest.fixture(scope="session", autouse=True)
def analysers_loaded() -> None:
    sentiment.warm_up()
