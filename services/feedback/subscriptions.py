"""The events the feedback service consumes, and their handlers: the whole wiring at a glance."""

from __future__ import annotations

from services.feedback import handlers as h
from services.feedback import invitations
from services.feedback.privacy import PRIVACY
from shared.consumer import Subscriptions
from shared.events import (
    BookingCancelled, BookingCompleted, ComplaintClosed, ComplaintFiled, ComplaintReopened, ComplaintResolved,
    ConsentChanged, CustomerRegistered, CustomerUpdated, MemberEnrolled, PointsEarned, TierChanged,
)


_IN_ORDER: Subscriptions = {
    BookingCancelled: [h.on_booking_cancelled],
    ComplaintFiled: [h.on_complaint_filed],
    ComplaintReopened: [h.on_complaint_reopened],
    ComplaintResolved: [h.on_complaint_resolved],
    ComplaintClosed: [h.on_complaint_closed],
    ConsentChanged: [h.on_consent_changed],
    CustomerRegistered: [h.on_customer_profile],
    CustomerUpdated: [h.on_customer_profile],
    MemberEnrolled: [h.on_tier],
    TierChanged: [h.on_tier],
    PointsEarned: [h.on_points_earned],
    **PRIVACY.subscriptions(),  # customer-erased, customers-merged
}
SUBSCRIPTIONS: Subscriptions = {
    BookingCompleted: [h.on_booking_completed],  # staged; SPEC.after_batch schedules the batch's invitations
    **invitations.POST_TRIPS.in_order(_IN_ORDER),  # each applies the staged bookings first: events keep their order
}
