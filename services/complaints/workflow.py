"""The handbook flow as an explicit state machine (接收→分类→调查核实→提出方案→执行→跟进反馈).

received → classified → investigating → solution_proposed → customer_agreed (or declined → back to
investigating) → executing → resolved → follow_up → closed; a reopen from resolved, follow_up or
closed goes back to investigating and needs a reason.
"""

from __future__ import annotations

from typing import Literal

State = Literal["received", "classified", "investigating", "solution_proposed", "customer_agreed", "executing",
                "resolved", "follow_up", "closed"]
STATES: tuple[str, ...] = ("received", "classified", "investigating", "solution_proposed", "customer_agreed",
                           "executing", "resolved", "follow_up", "closed")

# (from, to) → what the step is called
STEPS: dict[tuple[str, str], str] = {
    ("received", "classified"): "classify",
    ("classified", "investigating"): "investigate",
    ("investigating", "solution_proposed"): "propose",
    ("solution_proposed", "customer_agreed"): "agree",
    ("solution_proposed", "investigating"): "decline",
    ("customer_agreed", "executing"): "execute",
    ("executing", "resolved"): "resolve",
    ("resolved", "follow_up"): "follow_up",
    ("follow_up", "closed"): "close",
    ("resolved", "closed"): "close",
    ("resolved", "investigating"): "reopen",
    ("follow_up", "investigating"): "reopen",
    ("closed", "investigating"): "reopen",
}

OPEN_STATES = frozenset(STATES) - {"resolved", "follow_up", "closed"}
CUSTOMER_STEPS = frozenset({"agree", "decline"})  # what the customer may do through a customer-facing key


def allowed(state: str) -> list[str]:
    """The states a complaint in `state` may move to."""
    return [to for (frm, to) in STEPS if frm == state]


def step(state: str, to: str) -> str | None:
    """The name of the step from `state` to `to`, or None when there is no such step."""
    return STEPS.get((state, to))
