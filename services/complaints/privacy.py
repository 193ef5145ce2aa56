"""The complaints service's part in export, erasure and merge (shared.privacy).

On erasure the complaint records stay for the statistics and the supplier's accountability, with
the customer replaced by a pseudonym and every free text of theirs overwritten; booking facts,
consents and crisis notices about the customer are deleted.
"""

from __future__ import annotations

from services.complaints.models import BookingFact, Complaint, ConsentFact, CrisisNoticeSent, Incident, TimelineEntry
from shared.events import COMPLAINTS
from shared.privacy import PersonalData, Privacy

ERASED = "[erased]"

PRIVACY = Privacy("complaints", [
    PersonalData(Complaint, on_erase="pseudonymise",
                 personal_fields={"summary": ERASED, "description": ERASED, "attachments": "[]", "context": "{}"}),
    PersonalData(TimelineEntry, on_erase="pseudonymise", personal_fields={"text": ERASED}, section="complaint_timeline"),
    PersonalData(Incident, on_erase="pseudonymise",
                 personal_fields={"description": ERASED, "details": "{}", "location": ERASED}),
    PersonalData(BookingFact),
    PersonalData(ConsentFact),
    PersonalData(CrisisNoticeSent),
], topic=COMPLAINTS)
