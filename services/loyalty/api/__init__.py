"""HTTP routes of the loyalty service: parse, authorise, call a use case, shape the answer.

State changes run in a `UnitOfWork` (one commit after the route returns; a unique-key race is a 409);
POSTs that move points take an `Idempotency-Key` (redemptions, adjustments); capture and release are
idempotent by state and run in the fast lane. The privacy export comes from `privacy.PRIVACY.router()`.
"""

from __future__ import annotations

from services.loyalty.api import admin, checkout, insights, member_events, members, redemptions

# side by side, not nested: a route's path (its label in the request metrics) is then the full /v1/… path. A request
# is matched against the routes in this order (~1.4 µs a route with FastAPI 0.165, and the chosen router's again):
# the calls of a checkout (redemptions, quote) first. No two routes match one request, so the order decides nothing
# else (tests/loyalty/test_api_shape.py).
routers = [redemptions.router, checkout.router, members.router, admin.router, insights.router, member_events.router]
