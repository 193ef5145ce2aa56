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
    **PRIVACY.subscriptions(),  # customer-erased, customers-merged
}
# Two staged queues, each applied before any event of another kind: at most one holds events at a time, so events
# keep their order (a booking's invitation carries the tier a member event before it set).
SUBSCRIPTIONS: Subscriptions = {
    # staged; SPEC.after_batch schedules the batch's invitations
    **h.TIERS.in_order({BookingCompleted: [h.on_booking_completed]}),
    # staged; SPEC.after_batch writes the tiers by one upsert
    **invitations.POST_TRIPS.in_order({MemberEnrolled: [h.on_tier], TierChanged: [h.on_tier]}),
    **h.TIERS.in_order(invitations.POST_TRIPS.in_order(_IN_ORDER)),  # each applies both queues first
    # points-earned: both queues applied first only for referral points (the rest change nothing here): loyalty's
    # points-earned between its tier events wrote the tier queue once per tier event (15,000 upserts a 100,000-booking
    # run, BENCHMARKS.md "PostgreSQL per booking / 2026-12-03 (afternoon)")
    **h.TIERS.in_order(invitations.POST_TRIPS.in_order({PointsEarned: [h.on_points_earned]}, h.is_referral),
                       h.is_referral),
}
