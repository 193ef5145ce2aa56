"""The events the loyalty service consumes, and their handlers: the whole wiring at a glance."""

from __future__ import annotations

from services.loyalty import handlers as h
from shared.consumer import Subscriptions
from shared.events import (
    BookingCancelled, BookingCompleted, ComplaintReopened, ComplaintResolved, CustomerAtRisk, CustomerErased,
    CustomerRegistered, CustomersMerged, FeedbackSubmitted, OrganisationRegistered, SegmentMembershipChanged,
)

SUBSCRIPTIONS: Subscriptions = {
    BookingCompleted: [h.on_booking_completed],
    BookingCancelled: [h.on_booking_cancelled],
    ComplaintResolved: [h.on_complaint_resolved],
    ComplaintReopened: [h.on_complaint_reopened],
    FeedbackSubmitted: [h.on_feedback_submitted],
    CustomerAtRisk: [h.on_customer_at_risk],
    SegmentMembershipChanged: [h.on_segment_membership_changed],
    CustomersMerged: [h.on_customers_merged],
    CustomerErased: [h.on_customer_erased],
    CustomerRegistered: [h.on_customer_registered],
    OrganisationRegistered: [h.on_organisation_registered],
}
