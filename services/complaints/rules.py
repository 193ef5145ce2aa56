"""Classification and routing rules: a category and a severity suggested from the intake (agents
may correct both), and the queue a complaint goes to."""

from __future__ import annotations

from typing import Literal

Category = Literal["service_quality", "product_not_as_described", "price", "communication", "slow_response",
                   "safety_incident", "other"]
CATEGORIES: tuple[str, ...] = ("service_quality", "product_not_as_described", "price", "communication",
                               "slow_response", "safety_incident", "other")
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
Channel = Literal["phone", "email", "web_form", "mobile_app", "social_media", "in_person", "tour_guide",
                  "third_party", "survey"]
TripPhase = Literal["before", "during", "after"]
RootCause = Literal["supplier", "guide", "internal_process", "product_design", "customer_expectation",
                    "force_majeure"]

# keyword → category, first match wins (Chinese and English, as intakes come)
KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("safety_incident", ("injur", "accident", "hospital", "lost traveller", "missing", "stolen", "受伤", "事故",
                         "医院", "走失", "失踪", "被盗", "安全")),
    ("product_not_as_described", ("not as described", "different from", "advertis", "misleading", "与描述不符",
                                  "货不对板", "虚假", "宣传")),
    ("price", ("price", "overcharg", "refund", "fee", "charge", "价格", "收费", "退款", "加价", "费用")),
    ("slow_response", ("no reply", "no answer", "waiting for", "slow", "没人回复", "回复慢", "等了")),
    ("communication", ("rude", "attitude", "misinform", "told us", "态度", "沟通", "告知")),
    ("service_quality", ("dirty", "guide", "hotel", "food", "bus", "shopping", "卫生", "导游", "酒店", "餐",
                         "购物", "服务")),
)

ESCALATING = ("injur", "hospital", "police", "embassy", "media", "lawyer", "受伤", "医院", "报警", "大使馆",
              "媒体", "律师", "曝光")


def suggest_category(text: str) -> str:
    lowered = text.lower()
    for category, words in KEYWORDS:
        if any(w in lowered for w in words):
            return category
    return "other"


def suggest_severity(text: str, category: str, phase: str) -> str:
    lowered = text.lower()
    if category == "safety_incident" or any(w in lowered for w in ESCALATING):
        return "critical" if phase == "during" else "high"
    if phase == "during":
        return "high" if category in ("service_quality", "product_not_as_described") else "medium"
    return "medium" if category in ("product_not_as_described", "price") else "low"


def queue_for(category: str, severity: str, phase: str) -> str:
    """Where a complaint waits: emergencies and trips under way first, then by subject."""
    if category == "safety_incident" or severity == "critical":
        return "emergency"
    if phase == "during":
        return "in_trip"
    return {"price": "billing", "product_not_as_described": "product"}.get(category, "customer_care")
