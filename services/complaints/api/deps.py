"""Who may call: scopes, staff or customer-facing, and the headers the routes share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from shared.auth import Client, require
from shared.errors import Problem

def any_scope(*scopes: str):  # noqa: ANN201 - a FastAPI dependency
    """The caller, holding at least one of `scopes` (403 naming them otherwise)."""
    checks = [require(s) for s in scopes]

    async def dependency(request: Request) -> Client:
        denied: Problem | None = None
        for check in checks:
            try:
                return await check(request)
            except Problem as problem:
                if problem.status != 403:
                    raise
                denied = problem
        assert denied is not None
        raise Problem(403, f"this key lacks the scopes {' or '.join(scopes)}", required_scope=list(scopes))

    dependency.scope = scopes[0]  # type: ignore[attr-defined]
    return dependency


def staff_only(*scopes: str):  # noqa: ANN201 - a FastAPI dependency
    """A staff client holding one of `scopes`: a customer-facing key acts for a customer, never as staff."""
    check = any_scope(*scopes)

    async def dependency(request: Request) -> Client:
        client = await check(request)
        if client.customer_facing:
            raise Problem(403, "this is staff work; a customer-facing key cannot do it", required_scope=list(scopes))
        return client

    dependency.scope = scopes[0]  # type: ignore[attr-defined]
    return dependency


Caller = Annotated[Client, Depends(any_scope("complaints:write", "complaints:agent", "complaints:manage"))]
Reader = Annotated[Client, Depends(any_scope("complaints:read", "complaints:write", "complaints:agent",
                                             "complaints:manage"))]
Staff = Annotated[Client, Depends(staff_only("complaints:agent", "complaints:manage"))]
Manager = Annotated[Client, Depends(staff_only("complaints:manage"))]
IfMatch = Annotated[str | None, Header(description="the ETag you read")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


def is_manager(client: Client) -> bool:
    return client.holds("complaints:manage")


def is_staff(client: Client) -> bool:
    return not client.customer_facing and (client.holds("complaints:agent") or is_manager(client))


