"""The events the complaints service consumes, and their handlers: the whole wiring at a glance."""

from __future__ import annotations

from shared.consumer import Subscriptions

SUBSCRIPTIONS: Subscriptions = {}
