"""Survey templates: the three shipped by default (zh-CN and en), versions written through the API,
and the questions an invitation shows — element ratings only for what the booking contained.

The elements are the six of Chinese tourism practice, 吃住行游购娱 (meals, lodging, transport,
sightseeing, shopping, entertainment), plus guide / staff service, value for money and met
expectations. A question with an `element` that the invitation's booking did not contain is left out.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.feedback.models import QuestionPublic, SurveyCreate, SurveyPublic, SurveyTemplate
from shared.db import utcnow
from shared.errors import NotFound, Unprocessable

TRIP_ELEMENTS = ("meals", "lodging", "transport", "sightseeing", "shopping", "entertainment")
ALWAYS = ("guide", "value", "expectations")  # "guide" only when the booking had one (a tour), see elements_of
ELEMENTS = (*TRIP_ELEMENTS, *ALWAYS)
RANGES = {"nps": (0, 10), "csat": (1, 5), "rating": (1, 5)}

_ELEMENT_TEXT = {
    "meals": ("用餐（吃）", "Meals"),
    "lodging": ("住宿（住）", "Lodging"),
    "transport": ("交通（行）", "Transport"),
    "sightseeing": ("游览景点（游）", "Sightseeing"),
    "shopping": ("购物安排（购）", "Shopping stops"),
    "entertainment": ("娱乐演出（娱）", "Entertainment"),
    "guide": ("导游 / 服务人员", "Guide and staff service"),
    "value": ("性价比", "Value for money"),
    "expectations": ("与您的期望相比", "Compared with what you expected"),
}


def _q(qid: str, qtype: str, zh: str, en: str, *, element: str | None = None, required: bool = True) -> dict[str, Any]:
    return {"id": qid, "type": qtype, "text": {"zh-CN": zh, "en": en}, "element": element, "required": required}


def _rating(element: str, *, required: bool = True) -> dict[str, Any]:
    zh, en = _ELEMENT_TEXT[element]
    return _q(f"rate_{element}", "rating", f"请为{zh}打分（1–5）", f"{en} (1–5)", element=element, required=required)


_NPS = _q("nps", "nps", "您有多大可能向亲友推荐我们？（0–10）", "How likely are you to recommend us to a friend? (0–10)")
_COMMENT = _q("comment", "text", "还有什么想告诉我们的吗？", "Anything else you would like to tell us?", required=False)

SHIPPED: dict[str, dict[str, Any]] = {
    # the short one, right after the trip: two required questions (NPS, overall CSAT), then one optional
    # grid rating the trip's elements (those the booking contained) and an optional comment
    "post-trip": {"version": 1, "kind": "post-trip",
                  "title": {"zh-CN": "旅行满意度调查", "en": "How was your trip?"},
                  "questions": [_NPS,
                                _q("csat", "csat", "您对这次旅行总体满意吗？（1–5）", "Overall, how satisfied are you with the trip? (1–5)"),
                                *[_rating(e, required=False) for e in (*TRIP_ELEMENTS, "guide", "value")],
                                _COMMENT]},
    "complaint-follow-up": {"version": 1, "kind": "follow-up",
                            "title": {"zh-CN": "投诉处理回访", "en": "How did we handle your complaint?"},
                            "questions": [_q("csat", "csat", "您对投诉的处理结果满意吗？（1–5）",
                                             "How satisfied are you with how your complaint was resolved? (1–5)"),
                                          _q("rate_speed", "rating", "处理速度（1–5）", "Speed of handling (1–5)"),
                                          _NPS, _COMMENT]},
    "member": {"version": 1, "kind": "member",
               "title": {"zh-CN": "会员满意度调查", "en": "Member survey"},
               "questions": [_NPS,
                             _q("csat", "csat", "您对我们的整体服务满意吗？（1–5）", "Overall, how satisfied are you with us? (1–5)"),
                             _rating("guide"), _rating("value"), _rating("expectations"), _COMMENT]},
}
TEMPLATE_OF_KIND = {"post-trip": "post-trip", "follow-up": "complaint-follow-up", "member": "member"}

_KIND_ELEMENTS = {  # what a product kind contains, before its tags add or say more
    "tour": {"meals", "lodging", "transport", "sightseeing", "guide"},
    "package": {"meals", "lodging", "transport", "sightseeing"},
    "hotel": {"meals", "lodging"},
    "flight": {"transport"},
    "train": {"transport"},
    "cruise": {"meals", "lodging", "transport", "sightseeing", "entertainment"},
    "ticket": {"sightseeing"},
}
_TAG_ELEMENTS = {"shopping": "shopping", "show": "entertainment", "entertainment": "entertainment",
                 "food": "meals", "meals": "meals", "guided": "guide", "hotel": "lodging", "transfer": "transport"}


def elements_of(kind: str | None, tags: list[str]) -> list[str]:
    """The elements a booking contained: from its product kind, its tags (`shopping`, `show`, …; a
    `guide:<id>` tag means a guide), always value and expectations."""
    found = set(_KIND_ELEMENTS.get(kind or "", set(TRIP_ELEMENTS)))
    for tag in tags:
        if tag in _TAG_ELEMENTS:
            found.add(_TAG_ELEMENTS[tag])
        if tag.startswith("guide:"):
            found.add("guide")
    return [e for e in ELEMENTS if e in found or e in ("value", "expectations")]


async def template(session: AsyncSession, template_id: str, version: int | None = None) -> SurveyPublic:
    """A template version (the latest when `version` is None): written through the API or shipped."""
    query = select(SurveyTemplate).where(SurveyTemplate.template_id == template_id)
    if version is not None:
        query = query.where(SurveyTemplate.version == version)
    return survey_of((await session.execute(query.order_by(SurveyTemplate.version.desc()).limit(1))).scalars().first(),
                     template_id, version)


def survey_of(row: Any, template_id: str, version: int | None) -> SurveyPublic:
    """A template version from its row (None: not written through the API, so a shipped one or a 404)."""
    if row is not None:
        return SurveyPublic(id=row.template_id, version=row.version, kind=row.kind, title=row.title,
                            questions=row.questions, shipped=False)
    shipped = SHIPPED.get(template_id)
    if shipped is None or (version is not None and version != shipped["version"]):
        raise NotFound("survey", template_id if version is None else f"{template_id} v{version}")
    return SurveyPublic(id=template_id, shipped=True, **shipped)


async def templates(session: AsyncSession) -> list[SurveyPublic]:
    """The latest version of every template."""
    ids = set(SHIPPED) | set((await session.execute(select(SurveyTemplate.template_id).distinct())).scalars())
    return [await template(session, i) for i in sorted(ids)]


async def create_version(session: AsyncSession, form: SurveyCreate) -> SurveyPublic:
    """A new version of a template; its questions must be well formed and name known elements."""
    ids = [q.id for q in form.questions]
    if len(set(ids)) != len(ids):
        raise Unprocessable("question ids must be unique", field="questions")
    for q in form.questions:
        if q.element is not None and q.element not in ELEMENTS:
            raise Unprocessable(f"unknown element {q.element!r}; one of {', '.join(ELEMENTS)}", field=f"questions.{q.id}")
    latest = (await session.execute(select(func.max(SurveyTemplate.version))
                                    .where(SurveyTemplate.template_id == form.id))).scalar()
    shipped = SHIPPED.get(form.id, {}).get("version", 0)
    row = SurveyTemplate(template_id=form.id, version=max(latest or 0, shipped) + 1, kind=form.kind, title=form.title,
                         questions=[q.model_dump() for q in form.questions], created_at=utcnow())
    session.add(row)
    await session.flush()
    return SurveyPublic(id=row.template_id, version=row.version, kind=row.kind, title=row.title,
                        questions=row.questions, shipped=False)


def _text(texts: dict[str, str], language: str) -> str:
    if language in texts:
        return texts[language]
    base = language.split("-")[0]
    for key, value in texts.items():
        if key.split("-")[0] == base:
            return value
    return texts.get("zh-CN") or next(iter(texts.values()))


def questions_for(survey: SurveyPublic, elements: list[str], language: str) -> list[QuestionPublic]:
    """The questions an invitation shows, in the customer's language; element questions only for its elements."""
    shown = []
    for q in survey.questions:
        if q.get("element") and q["element"] not in elements:
            continue
        low, high = RANGES.get(q["type"], (None, None))
        shown.append(QuestionPublic(id=q["id"], type=q["type"], text=_text(q["text"], language), element=q.get("element"),
                                    required=q.get("required", True), min=low, max=high))
    return shown


def title_of(survey: SurveyPublic, language: str) -> str:
    return _text(survey.title, language)
