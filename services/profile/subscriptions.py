"""The events the profile service consumes, and their handlers: the whole wiring at a glance.

Subscribing to one model of a topic brings the whole topic: customer-data-erased confirmations
arrive on each service's own topic (tourcrm.loyalty, .complaints, .feedback) and on ours, and are
dispatched by type, so a new service takes part in the erasure report without a change here.
"""

from __future__ import annotations

from services.profile import handlers as h, worklist
from shared import events as ev
from shared.consumer import Subscriptions

_IN_ORDER: Subscriptions = {
    ev.BookingCancelled: [h.on_booking_cancelled],
    ev.PointsExpired: [h.on_points_expired],
    ev.PointsExpiring: [h.on_points_expiring, worklist.on_points_expiring],
    ev.TierDowngradeWarning: [worklist.on_tier_downgrade_warning],
    ev.WinBackOffered: [worklist.on_win_back_offered],
    ev.ComplaintFiled: [h.on_complaint_filed],
    ev.ComplaintEscalated: [h.on_complaint_escalated],
    ev.ComplaintResolved: [h.on_complaint_resolved],
    ev.ComplaintClosed: [h.on_complaint_closed],
    ev.ComplaintReopened: [h.on_complaint_reopened],
    ev.FeedbackSubmitted: [h.on_feedback_submitted],
    ev.DetractorDetected: [h.on_detractor_detected],
    ev.CustomerDataErased: [h.on_customer_data_erased],
}
SUBSCRIPTIONS: Subscriptions = {
    ev.BookingCompleted: [h.on_booking_completed],  # deferred to bookings.write_deferred (SPEC.after_batch)
    # staged, applied by SPEC.after_batch (h.MEMBER_VIEWS.apply) in one go
    ev.MemberEnrolled: [h.on_member_enrolled],
    ev.PointsEarned: [h.on_points_movement],
    ev.PointsRedeemed: [h.on_points_movement],
    ev.PointsReversed: [h.on_points_movement],
    ev.TierChanged: [h.on_tier_changed],
    **h.MEMBER_VIEWS.in_order(_IN_ORDER),  # each applies the staged member views first: events keep their order
}
