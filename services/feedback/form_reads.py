"""GET /v1/surveys/invitations/{token}, the survey form the website or app renders from a link in a message: the
invitation and its template version in one prebuilt statement on a pooled connection outside a transaction
(`shared.lane.reads`), no session or ORM. The checks are `responses.still_open`, as for an answer.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.feedback.models import Invitation, InvitationForm, SurveyTemplate
from services.feedback.responses import still_open
from services.feedback.templates import questions_for, survey_of, title_of
from shared.auth import Client
from shared.lane import Row, reads

_i, _t = Invitation.__table__, SurveyTemplate.__table__
FORM = (select(_i, _t.c.template_id.label("t_template_id"), _t.c.version.label("t_version"), _t.c.kind.label("t_kind"),
               _t.c.title.label("t_title"), _t.c.questions.label("t_questions"))
        .select_from(_i.outerjoin(_t, and_(_t.c.template_id == _i.c.template_id, _t.c.version == _i.c.template_version)))
        .where(_i.c.token == bindparam("token")))


async def form(engine: AsyncEngine, token: str, client: Client, now: datetime) -> InvitationForm:
    """What the website or app renders for a token: 404 unknown, not sent or of another customer (customer-facing
    keys), 409 answered, 410 expired or cancelled."""
    async with reads(engine) as db:
        found = await db.row(FORM, {"token": token})
    invitation = still_open(found, client, now)
    written = None if found["t_template_id"] is None else Row(
        template_id=found["t_template_id"], version=found["t_version"], kind=found["t_kind"], title=found["t_title"],
        questions=found["t_questions"])
    survey = survey_of(written, invitation.template_id, invitation.template_version)
    return InvitationForm(token=invitation.token, kind=invitation.kind, status=invitation.status,
                          language=invitation.language, title=title_of(survey, invitation.language),
                          product_name=invitation.product_name, expires_at=invitation.expires_at,
                          questions=questions_for(survey, invitation.elements, invitation.language))
