"""Incident routes: record, list, read, tick the checklist, amend (If-Match), and the written report."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import or_, select

from services.complaints import incidents, report_pdf
from services.complaints.api.deps import IfMatch, Staff
from services.complaints.models import Incident
from services.complaints.schemas import ChecklistTick, IncidentIn, IncidentPatch, IncidentPublic
from shared.app import ReadSessionDep, UnitOfWork
from shared.db import settings_of, utcnow
from shared.errors import Problem
from shared.pages import Cursor, Limit, Page, decode_cursor, page_of

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])


def view(i: Incident) -> IncidentPublic:
    return IncidentPublic(id=i.id, customer_id=i.customer_id, complaint_id=i.complaint_id, booking_id=i.booking_id,
                          kind=i.kind, occurred_at=i.occurred_at, location=i.location, description=i.description,
                          supplier=i.supplier, details=json.loads(i.details), checklist=json.loads(i.checklist),
                          insurance=json.loads(i.insurance) if i.insurance else None, outcome=i.outcome,
                          status=i.status, etag=f'"v{i.version}"', created_at=i.created_at, updated_at=i.updated_at)


def answer(i: Incident, status: int = 200) -> JSONResponse:
    body = view(i)
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers={"ETag": body.etag})


@router.post("", status_code=201, response_model=IncidentPublic)
async def record(body: IncidentIn, session: UnitOfWork, client: Staff) -> JSONResponse:
    """Record an incident; its checklist is the handbook's for the kind."""
    return answer(await incidents.record(session, body, now=utcnow()), 201)


@router.get("", response_model=Page[IncidentPublic])
async def list_incidents(session: ReadSessionDep, client: Staff, cursor: Cursor = None, limit: Limit = 50,
                         customer: Annotated[str | None, Query(max_length=100)] = None) -> Page[IncidentPublic]:
    query = select(Incident)
    if customer:
        query = query.where(Incident.customer_id == customer)
    after = decode_cursor(cursor, datetime, str)
    if after:
        query = query.where(or_(Incident.created_at < after[0],
                                (Incident.created_at == after[0]) & (Incident.id < after[1])))
    rows = (await session.execute(query.order_by(Incident.created_at.desc(), Incident.id.desc())
                                  .limit(limit + 1))).scalars().all()
    return page_of(rows, limit, key=lambda i: (i.created_at, i.id), item=view)


@router.get("/{incident_id}", response_model=IncidentPublic)
async def get_incident(incident_id: str, session: ReadSessionDep, client: Staff) -> JSONResponse:
    return answer(await incidents.get(session, incident_id))


@router.patch("/{incident_id}", response_model=IncidentPublic)
async def amend(incident_id: str, patch: IncidentPatch, session: UnitOfWork, client: Staff,
                if_match: IfMatch = None) -> JSONResponse:
    """Supplier, details, insurance claim, outcome, status (If-Match required)."""
    incident = await incidents.get(session, incident_id)
    if if_match is None:
        raise Problem(428, "this update needs If-Match with the ETag you read", title="Precondition Required",
                      errors=[{"field": "If-Match", "location": "header", "message": "required"}])
    if if_match.strip().removeprefix("W/") not in (f'"v{incident.version}"', "*"):
        raise Problem(412, "the incident changed since you read it", title="Precondition Failed")
    return answer(await incidents.amend(session, incident, patch, now=utcnow()))


@router.post("/{incident_id}/checklist/{step}", response_model=IncidentPublic)
async def tick(incident_id: str, step: str, body: ChecklistTick, session: UnitOfWork, client: Staff) -> JSONResponse:
    """Tick off (or untick) one step of the checklist."""
    incident = await incidents.get(session, incident_id)
    return answer(await incidents.tick(session, incident, step, body, actor=client.name, now=utcnow()))


@router.get("/{incident_id}/report", response_class=PlainTextResponse,
            responses={200: {"content": {"text/markdown": {}, "application/pdf": {}}}})
async def report(incident_id: str, session: ReadSessionDep, client: Staff, lang: Literal["zh", "en"] = "zh",
                 format: Literal["markdown", "pdf"] = "markdown") -> Response:  # noqa: A002 - the query name
    """The written incident report (事故报告) in Chinese or English, as Markdown or PDF."""
    incident = await incidents.get(session, incident_id)
    text = incidents.report(incident, lang, settings_of(session).tz)
    if format == "pdf":
        pdf = await asyncio.to_thread(report_pdf.render, text, f"incident {incident.id}")
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="incident-{incident.id}-{lang}.pdf"'})
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
