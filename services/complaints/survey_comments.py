"""A detractor's comment, read from feedback's API when the service-recovery case opens.

detractor-detected carries scores and booking context only: free text about a customer would stay in
Kafka's log after the customer is erased. So complaints asks feedback for the answer by response id
(`GET /v1/customers/{id}/feedback`, with this service's own key, TOURCRM_SERVICE_KEY). When feedback cannot
tell (unreachable, no key, the answer gone), the case opens all the same, saying why the comment is missing:
a complaint is never lost for want of its text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx

from shared.auth import dev_key
from shared.settings import Settings

log = logging.getLogger(__name__)
TIMEOUT = 5.0  # seconds: the call runs inside the consumer's transaction


@dataclass(frozen=True)
class SurveyComment:
    """The comment and free-text answers of one survey response, or why they could not be read."""

    text: str | None = None
    answers: dict[str, str] = field(default_factory=dict)
    unavailable: str | None = None


def _key(settings: Settings) -> str | None:
    if settings.service_key:
        return settings.service_key
    return dev_key(settings.var_dir) if settings.environment == "development" else None


async def read(settings: Settings, customer_id: str, response_id: str) -> SurveyComment:
    """The comment of `response_id` as feedback keeps it."""
    key = _key(settings)
    if key is None:
        return SurveyComment(unavailable="no service key to ask feedback (set TOURCRM_SERVICE_KEY)")
    try:
        base = settings.url_of("feedback").rstrip("/")
    except LookupError as exc:
        return SurveyComment(unavailable=str(exc))
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, headers={"Authorization": f"Bearer {key}"}) as http:
            reply = await http.get(f"{base}/v1/customers/{quote(customer_id, safe='')}/feedback")
    except httpx.HTTPError as exc:
        log.warning("feedback unreachable for a survey comment", extra={"response_id": response_id,
                                                                         "error": type(exc).__name__})
        return SurveyComment(unavailable=f"feedback unreachable ({type(exc).__name__})")
    if reply.status_code != 200:
        return SurveyComment(unavailable=f"feedback answered {reply.status_code}")
    for response in reply.json().get("responses", []):
        if response.get("id") == response_id:
            answers = {q: v for q, v in (response.get("answers") or {}).items() if isinstance(v, str)}
            return SurveyComment(text=response.get("comment"), answers=answers)
    return SurveyComment(unavailable="feedback no longer holds the response")
