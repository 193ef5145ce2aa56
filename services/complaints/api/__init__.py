"""HTTP routes of the complaints service (thin: parse, authorise, call one use case, shape the answer)."""

from services.complaints.api.complaints import router as complaints
from services.complaints.api.crises import router as crises
from services.complaints.api.incidents import router as incidents
from services.complaints.api.policy import router as policy

ROUTERS = [policy, complaints, crises, incidents]  # policy first: /complaints/policy before /complaints/{id}
