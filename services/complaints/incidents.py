"""Incident reports (事故处理): a structured record per kind with the steps the handbooks prescribe as a
checklist that staff tick off, the supplier responsible, the insurance claim and the outcome; and the
written report (事故报告) in Chinese or English, in Markdown, generated from the record."""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.complaints.models import Incident
from services.complaints.schemas import ChecklistTick, IncidentIn, IncidentPatch
from shared.db import new_id, settings_of
from shared.errors import NotFound, Problem

# kind → [(step, Chinese, English)]
CHECKLISTS: dict[str, list[tuple[str, str, str]]] = {
    "lost_luggage": [
        ("report_to_carrier", "立即向承运人报失并取得报失编号", "Report to the carrier at once and get its reference"),
        ("describe_bag", "描述行李外观及内容物", "Describe the bag and its contents"),
        ("last_seen", "记录最后见到行李的地点", "Record where the bag was last seen"),
        ("claim_deadline", "确认索赔期限并提交索赔", "Note the claim deadline and file the claim"),
        ("essentials", "为旅客购置必需品并保留票据", "Buy the traveller's essentials and keep the receipts"),
    ],
    "lost_traveller": [
        ("last_seen", "记录最后见到旅客的时间和地点", "Record when and where the traveller was last seen"),
        ("guide_search", "导游组织寻找", "Search by the guide"),
        ("police", "报警", "Police contacted"),
        ("embassy", "联系使领馆（境外）", "Embassy or consulate contacted (abroad)"),
        ("family", "通知家属", "Family told"),
    ],
    "injured_traveller": [
        ("first_aid", "现场急救并送医", "First aid and transfer to hospital"),
        ("insurer", "通知保险公司", "Insurer notified"),
        ("family", "通知家属", "Family told"),
        ("evidence", "记录现场、证人和医疗票据", "Scene, witnesses and medical receipts documented"),
        ("authorities", "向有关部门报告", "Reported to the authorities"),
    ],
    "missed_connection": [
        ("carrier", "联系承运人改签", "Carrier contacted for rebooking"),
        ("rebooked", "为旅客重新安排行程", "Traveller rebooked"),
        ("accommodation", "安排餐食和住宿", "Meals and accommodation arranged"),
        ("costs", "记录额外费用以便索赔", "Extra costs recorded for the claim"),
    ],
    "overbooking": [
        ("alternative", "安排同级或更高标准的替代", "Equal or better alternative arranged"),
        ("supplier", "向供应商确认超售并要求赔偿", "Overbooking confirmed with the supplier, compensation claimed"),
        ("informed", "告知旅客并取得同意", "Traveller informed and agreed"),
        ("price_difference", "处理差价", "Price difference settled"),
    ],
}
TITLES = {"zh": {"lost_luggage": "行李丢失", "lost_traveller": "旅客走失", "injured_traveller": "旅客受伤",
                 "missed_connection": "误机/错过衔接", "overbooking": "超售"},
          "en": {"lost_luggage": "Lost luggage", "lost_traveller": "Lost traveller",
                 "injured_traveller": "Injured traveller", "missed_connection": "Missed connection",
                 "overbooking": "Overbooking"}}
LABELS = {
    "zh": {"report": "事故报告", "kind": "类型", "when": "发生时间", "where": "地点", "customer": "客户",
           "booking": "订单", "complaint": "投诉", "supplier": "责任供应商", "what": "经过", "details": "详情",
           "checklist": "处理步骤", "insurance": "保险理赔", "outcome": "处理结果", "status": "状态",
           "none": "无", "pending": "待定"},
    "en": {"report": "Incident report", "kind": "Kind", "when": "When", "where": "Where", "customer": "Customer",
           "booking": "Booking", "complaint": "Complaint", "supplier": "Supplier responsible", "what": "What happened",
           "details": "Details", "checklist": "Steps", "insurance": "Insurance claim", "outcome": "Outcome",
           "status": "Status", "none": "none", "pending": "pending"},
}


def _checklist(kind: str) -> str:
    return json.dumps([{"step": key, "done": False, "done_by": None, "done_at": None, "note": None}
                       for key, _, _ in CHECKLISTS[kind]])


async def get(session: AsyncSession, incident_id: str) -> Incident:
    found = await session.get(Incident, incident_id)
    if found is None:
        raise NotFound("incident", incident_id)
    return found


def _touch(incident: Incident, now: datetime) -> None:
    incident.version += 1
    incident.updated_at = now


async def record(session: AsyncSession, body: IncidentIn, *, now: datetime) -> Incident:
    incident = Incident(id=new_id(), customer_id=body.customer_id, complaint_id=body.complaint_id,
                        booking_id=body.booking_id, kind=body.kind, occurred_at=body.occurred_at,
                        location=body.location, description=body.description, supplier=body.supplier,
                        details=json.dumps(body.details, ensure_ascii=False), checklist=_checklist(body.kind),
                        created_at=now, updated_at=now)
    session.add(incident)
    return incident


async def tick(session: AsyncSession, incident: Incident, step: str, body: ChecklistTick, *, actor: str,
               now: datetime) -> Incident:
    steps = json.loads(incident.checklist)
    found = next((s for s in steps if s["step"] == step), None)
    if found is None:
        raise Problem(404, f"a {incident.kind} checklist has no step {step}; its steps: "
                      f"{', '.join(s['step'] for s in steps)}", title="Not Found")
    found.update(done=body.done, done_by=actor if body.done else None, done_at=now.isoformat() if body.done else None,
                 note=body.note)
    incident.checklist = json.dumps(steps, ensure_ascii=False)
    _touch(incident, now)
    session.add(incident)
    return incident


async def amend(session: AsyncSession, incident: Incident, patch: IncidentPatch, *, now: datetime) -> Incident:
    if patch.supplier is not None:
        incident.supplier = patch.supplier or None
    if patch.details is not None:
        incident.details = json.dumps(json.loads(incident.details) | patch.details, ensure_ascii=False)
    if patch.insurance is not None:
        insurance = patch.insurance.model_dump(mode="json")
        if insurance["amount"] is not None and insurance["currency"] is None:
            insurance["currency"] = settings_of(session).currency
        incident.insurance = json.dumps(insurance, ensure_ascii=False)
    if patch.outcome is not None:
        incident.outcome = patch.outcome
    if patch.status is not None:
        incident.status = patch.status
    _touch(incident, now)
    session.add(incident)
    return incident


def report(incident: Incident, lang: str, tz) -> str:  # noqa: ANN001 - a ZoneInfo
    """The written incident report in Markdown, in Chinese (zh) or English (en)."""
    t, kinds = LABELS[lang], TITLES[lang]
    labels = {key: (zh if lang == "zh" else en) for key, zh, en in CHECKLISTS[incident.kind]}
    when = incident.occurred_at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
    lines = [f"# {t['report']}: {kinds[incident.kind]}", "",
             f"- **{t['kind']}**: {kinds[incident.kind]}", f"- **{t['when']}**: {when}",
             f"- **{t['where']}**: {incident.location or t['none']}", f"- **{t['customer']}**: {incident.customer_id}",
             f"- **{t['booking']}**: {incident.booking_id or t['none']}",
             f"- **{t['complaint']}**: {incident.complaint_id or t['none']}",
             f"- **{t['supplier']}**: {incident.supplier or t['pending']}",
             f"- **{t['status']}**: {incident.status}", "", f"## {t['what']}", "", incident.description or t["none"], ""]
    details = json.loads(incident.details)
    if details:
        lines += [f"## {t['details']}", ""] + [f"- {k}: {v}" for k, v in details.items()] + [""]
    lines += [f"## {t['checklist']}", ""]
    for step in json.loads(incident.checklist):
        mark = "x" if step["done"] else " "
        extra = f" — {step['done_by']}, {step['done_at']}" if step["done"] else ""
        lines.append(f"- [{mark}] {labels[step['step']]}{extra}" + (f" ({step['note']})" if step.get("note") else ""))
    insurance = json.loads(incident.insurance) if incident.insurance else None
    lines += ["", f"## {t['insurance']}", ""]
    lines += [f"- {k}: {v}" for k, v in insurance.items() if v is not None] if insurance else [t["none"]]
    lines += ["", f"## {t['outcome']}", "", incident.outcome or t["pending"], ""]
    return "\n".join(lines)
