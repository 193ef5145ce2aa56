"""Solutions and compensation: an agent may offer up to a limit, above it a manager approves.

Money is a Decimal with its currency; goodwill is integer points. What a complaints:manage key
proposes is approved by that; an agent's offer above the limit is refused (403 naming the limit).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlmodel.ext.asyncio.session import AsyncSession

from services.complaints import policy
from services.complaints.models import Complaint, Solution
from services.complaints.policy import PolicyConfig
from services.complaints.records import note, touched
from services.complaints.schemas import SolutionIn
from shared.db import new_id, settings_of
from shared.errors import Conflict, Problem

OFFER_STATES = ("investigating", "solution_proposed")


def within_agent_limit(solution: Solution, rules: PolicyConfig) -> bool:
    if solution.points > rules.agent_points_limit:
        return False
    if solution.amount is None:
        return True
    return solution.amount <= rules.agent_money_limits.get(solution.currency or "", Decimal(0))


def agent_limit_text(currency: str | None, rules: PolicyConfig) -> str:
    money = rules.agent_money_limits.get(currency or "")
    return f"{money} {currency} or {rules.agent_points_limit} points" if money is not None else \
        f"no money in {currency}, {rules.agent_points_limit} points"


async def propose(session: AsyncSession, complaint: Complaint, body: SolutionIn, *, actor: str, manager: bool,
                  now: datetime) -> Solution:
    """Record a solution; above the agent's limit only a manager may propose (and so approve) it."""
    if complaint.state not in OFFER_STATES:
        raise Conflict(f"solutions are proposed while investigating; the complaint is {complaint.state}",
                       allowed_states=list(OFFER_STATES))
    currency = body.currency or (settings_of(session).currency if body.amount is not None else None)
    solution = Solution(id=new_id(), complaint_id=complaint.id, kind=body.kind, amount=body.amount, currency=currency,
                        points=body.points or 0, description=body.description, status="proposed",
                        proposed_by=actor[:100], created_at=now)
    rules = await policy.current(session)
    if not within_agent_limit(solution, rules):
        if not manager:
            raise Problem(403, f"this {body.kind} is above an agent's limit ({agent_limit_text(currency, rules)}); "
                          "a manager (complaints:manage) must propose it", title="Above Approval Limit",
                          type_="https://tourcrm.dev/problems/above-approval-limit", required_scope="complaints:manage",
                          agent_limit={"amount": str(rules.agent_money_limits.get(currency or "", "0")),
                                       "currency": currency, "points": rules.agent_points_limit})
        solution.approved_by = actor[:100]
    session.add(solution)
    note(session, complaint, "solution", actor, now,
         f"{solution.kind} proposed" + (" (approved by a manager)" if solution.approved_by else ""))
    touched(complaint, now)
    session.add(complaint)
    return solution
