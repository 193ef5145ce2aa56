"""Solutions and compensation: an agent may offer up to a limit, above it a manager approves.

Money is a Decimal with its currency; goodwill is integer points. What a complaints:manage key
proposes is approved by that; an agent's offer above the limit is refused (403 naming the limit).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlmodel.ext.asyncio.session import AsyncSession

from services.complaints.models import Complaint, Solution
from services.complaints.records import note, touched
from services.complaints.schemas import SolutionIn
from shared.db import new_id, settings_of
from shared.errors import Conflict, Problem

# what an agent may offer alone, per solution
AGENT_MONEY_LIMIT = {"CNY": Decimal("500.00"), "USD": Decimal("70.00"), "EUR": Decimal("65.00"),
                     "HKD": Decimal("550.00")}
AGENT_POINTS_LIMIT = 2000
OFFER_STATES = ("investigating", "solution_proposed")


def within_agent_limit(solution: Solution) -> bool:
    if solution.points > AGENT_POINTS_LIMIT:
        return False
    if solution.amount is None:
        return True
    limit = AGENT_MONEY_LIMIT.get(solution.currency or "", Decimal(0))
    return solution.amount <= limit


def agent_limit_text(currency: str | None) -> str:
    money = AGENT_MONEY_LIMIT.get(currency or "CNY")
    return f"{money} {currency or 'CNY'} or {AGENT_POINTS_LIMIT} points" if money is not None else \
        f"no {currency} money, {AGENT_POINTS_LIMIT} points"


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
    if not within_agent_limit(solution):
        if not manager:
            raise Problem(403, f"this {body.kind} is above an agent's limit ({agent_limit_text(currency)}); "
                          "a manager (complaints:manage) must propose it", title="Above Approval Limit",
                          type_="https://tourcrm.dev/problems/above-approval-limit", required_scope="complaints:manage",
                          agent_limit={"amount": str(AGENT_MONEY_LIMIT.get(currency or "", "0")), "currency": currency,
                                       "points": AGENT_POINTS_LIMIT})
        solution.approved_by = actor[:100]
    session.add(solution)
    note(session, complaint, "solution", actor, now,
         f"{solution.kind} proposed" + (" (approved by a manager)" if solution.approved_by else ""))
    touched(complaint, now)
    session.add(complaint)
    return solution
