"""The events the complaints service consumes, and their handlers: the whole wiring at a glance."""

from __future__ import annotations

from services.complaints import handlers as h
from services.complaints.privacy import PRIVACY
from shared.consumer import Subscriptions
from shared.events import BookingCancelled, BookingCompleted, ConsentChanged, DetractorDetected, FeedbackSubmitted

_IN_ORDER: Subscriptions = {
    BookingCancelled: [h.on_booking_cancelled],
    ConsentChanged: [h.on_consent_changed],
    DetractorDetected: [h.on_detractor_detected],
    FeedbackSubmitted: [h.on_feedback_submitted],
    **PRIVACY.subscriptions(),
}
SUBSCRIPTIONS: Subscriptions = {
    BookingCompleted: [h.on_booking_completed],  # staged; SPEC.after_batch writes the batch's bookings at once
    **h.BOOKINGS.in_order(_IN_ORDER),  # each writes the staged bookings first: events keep their order
}
