"""Routes of the care work queue: open tasks, a planned return visit, assign, snooze, complete (once). Staff only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.profile import worklist
from services.profile.contact_public import TaskCompleted, WorkItem
from services.profile.contact_schemas import AssignIn, CareTaskIn, CompleteIn, SnoozeIn, UtcMoment
from shared.app import ReadSessionDep, UnitOfWork
from shared.auth import Scope
from shared.pages import Cursor, Limit, Page

router = APIRouter(prefix="/v1", tags=["care work queue"])
Kind = Annotated[str | None, Query(pattern="^(birthday|post-trip-thanks|anniversary|win-back|festival-greeting|"
                                           "points-expiring|tier-downgrade-warning|return-visit)$")]
Assignee = Annotated[str | None, Query(min_length=1, max_length=100)]
DueBefore = Annotated[UtcMoment | None, Query(description="only tasks due before this time")]


@router.get("/work-queue", response_model=Page[WorkItem])
async def work_queue(session: ReadSessionDep, client: Scope("profile:read"), cursor: Cursor = None,
                     limit: Limit = 50, assignee: Assignee = None, kind: Kind = None,
                     due_before: DueBefore = None) -> Page[WorkItem]:
    """Open care tasks (not completed), earliest due first."""
    return await worklist.queue_page(session, cursor, limit, assignee=assignee, kind=kind, due_before=due_before)


@router.post("/care-tasks", status_code=201, response_model=WorkItem)
async def plan_return_visit(body: CareTaskIn, session: UnitOfWork, client: Scope("profile:write")) -> WorkItem:
    """Plan a return visit (回访) for a customer."""
    return await worklist.plan_return_visit(session, body)


@router.get("/care-tasks/{task_id}", response_model=WorkItem)
async def get_task(task_id: str, session: ReadSessionDep, client: Scope("profile:read")) -> WorkItem:
    return await worklist.task(session, task_id)


@router.post("/care-tasks/{task_id}/assign", response_model=WorkItem)
async def assign(task_id: str, body: AssignIn, session: UnitOfWork, client: Scope("profile:write")) -> WorkItem:
    return await worklist.assign(session, task_id, body.assignee)


@router.post("/care-tasks/{task_id}/snooze", response_model=WorkItem)
async def snooze(task_id: str, body: SnoozeIn, session: UnitOfWork, client: Scope("profile:write")) -> WorkItem:
    """Put the task off until `until` (in the future)."""
    return await worklist.snooze(session, task_id, body.until)


@router.post("/care-tasks/{task_id}/complete", response_model=TaskCompleted)
async def complete(task_id: str, body: CompleteIn, session: UnitOfWork, client: Scope("profile:write")) -> TaskCompleted:
    """Complete the task with its outcome, recorded as a contact, in one transaction; a second time is a 409."""
    return await worklist.complete(session, task_id, body, by=client.name)
