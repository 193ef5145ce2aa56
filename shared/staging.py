"""Set-based handling of one event type in a consumer batch, with events still taking effect in their order.

The type's handler only `stage`s what the event brings; `apply` — the service's after_batch hook — writes the
whole queue with a few statements. Every other handler of the service is wrapped by `in_order`, which applies the
queue first, so an event that reads what the staged ones write sees them. When the consumer redoes a batch one
event at a time (and on a dead-letter replay) the hooks run after each event, in its transaction: a bad event is
parked alone. `refuse_unapplied` (a before_commit session hook) refuses a transaction that staged but never
applied (a consumer wired without the hook) rather than lose its effects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.consumer import Handler, Subscriptions
from shared.events import Event


class Staged:
    """A queue in session.info, applied by `apply(session, items)` in the order staged."""

    def __init__(self, name: str, apply: Callable[[AsyncSession, list[Any]], Awaitable[None]]) -> None:
        self.name, self._apply = name, apply

    def stage(self, session: AsyncSession, item: Any) -> None:  # noqa: ANN401 - whatever `apply` takes
        session.info.setdefault(self.name, []).append(item)

    async def apply(self, session: AsyncSession) -> None:
        """The after_batch hook: the queued items, written at once."""
        items = session.info.pop(self.name, None)
        if items:
            await self._apply(session, items)

    def in_order(self, subscriptions: Subscriptions,
                 acts: Callable[[Event[Any]], bool] | None = None) -> Subscriptions:
        """These subscriptions with every handler applying the queue first. `acts`: whether the handlers do anything
        with this event (None: always); an event they ignore leaves the queue as it is, so a stream of such events
        between staged ones does not write the queue once per event."""
        def wrapped(handler: Handler) -> Handler:
            async def handle(event: Event[Any], session: AsyncSession) -> None:
                if acts is None or acts(event):
                    await self.apply(session)
                await handler(event, session)

            handle.__name__ = handler.__name__
            return handle

        return {model: [wrapped(handler) for handler in handlers] for model, handlers in subscriptions.items()}

    def refuse_unapplied(self, session: Session) -> None:
        """before_commit: staged but never applied is refused (the consumer then redoes the batch one at a time)."""
        if session.info.get(self.name):
            raise RuntimeError(f"{self.name}: events staged but not applied: add its apply to SPEC.after_batch")
