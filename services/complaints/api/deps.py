"""Who may call: scopes, staff or customer-facing, and the headers the routes share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from shared.auth import Client, Scope

# Customers (through a customer-facing key acting for them) file and follow their own complaints;
# staff work is refused to customer-facing keys (shared.auth: routes serve them only when they say so).
Caller = Scope("complaints:write", "complaints:agent", "complaints:manage", customers=True)
Reader = Scope("complaints:read", "complaints:write", "complaints:agent", "complaints:manage", customers=True)
Staff = Scope("complaints:agent", "complaints:manage")
Manager = Scope("complaints:manage")
IfMatch = Annotated[str | None, Header(description="the ETag you read")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


def is_manager(client: Client) -> bool:
    return client.holds("complaints:manage")


def is_staff(client: Client) -> bool:
    return not client.customer_facing and (client.holds("complaints:agent") or is_manager(client))


