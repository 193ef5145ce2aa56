"""HTTP routes of the profile service: parse, authorise, call one use case, shape the answer. Every route
declares its answer (services/profile/public.py); every state-changing route runs in one UnitOfWork."""

from __future__ import annotations

from services.profile.api import bookings, contacts, customers, data_rights, insights, organisations, reports, worklist

ROUTERS = (customers.router, bookings.router, insights.router, data_rights.router, organisations.router,
           reports.router, contacts.router, worklist.router)
