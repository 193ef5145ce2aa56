"""Comment analysis, pure: sentiment (positive / neutral / negative with a score in [-1, 1]) and topics,
for Chinese (jieba words, snownlp's model) and English (VADER), with the tourism lexicon on top.

The packages load their models from their own wheels (nothing is downloaded at run time) once per
process, on first use; callers in the event loop run `analyse` in a worker thread.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from dataclasses import dataclass, field

from services.feedback import lexicon as lx

ANALYSER = "lex-1"  # bump when the analyser changes: POST /v1/feedback/rescore re-scores older responses
POSITIVE_AT, NEGATIVE_AT = 0.2, -0.2
_CJK = re.compile(r"[\u4e00-\u9fff]")
_CLAUSE = re.compile(r"[，,。.!！?？；;、\n]")


@dataclass(frozen=True)
class Analysis:
    label: str  # positive, neutral, negative
    score: float  # -1 … 1
    language: str  # zh, en
    topics: list[str] = field(default_factory=list)
    analyser: str = ANALYSER


def language_of(text: str) -> str:
    cjk = len(_CJK.findall(text))
    return "zh" if cjk and cjk >= 0.2 * len(re.sub(r"\s", "", text)) else "en"


def label_of(score: float) -> str:
    return "positive" if score >= POSITIVE_AT else "negative" if score <= NEGATIVE_AT else "neutral"


def analyse(text: str | None) -> Analysis | None:
    """Sentiment and topics of a comment; None for an empty one."""
    if not text or not text.strip():
        return None
    text = text.strip()[:5000]
    language = language_of(text)
    score = _zh_score(text) if language == "zh" else _en_score(text)
    score = round(max(-1.0, min(1.0, score)), 3)
    return Analysis(label=label_of(score), score=score, language=language, topics=topics_of(text, language))


def warm_up() -> None:
    """Load jieba's dictionary, snownlp's and VADER's models (a few seconds, once per process)."""
    analyse("导游很好。")
    analyse("The guide was good.")


# --- Chinese ------------------------------------------------------------------------------------


@functools.cache
def _jieba():  # noqa: ANN202
    import jieba

    jieba.setLogLevel(logging.WARNING)
    for word in (*lx.ZH_PHRASES, *lx.ZH_WORDS):
        jieba.add_word(word)
    return jieba


def _snownlp(text: str) -> float:
    from snownlp import SnowNLP

    return 2 * SnowNLP(text).sentiments - 1


def _zh_clause(tokens: list[str]) -> float:
    total, weight, negated = 0.0, 1.0, False
    for i, token in enumerate(tokens):
        if token in lx.ZH_INTENSIFIERS:
            weight *= lx.ZH_INTENSIFIERS[token]
            continue
        if token in lx.ZH_NEGATORS:
            negated = not negated
            continue
        value = lx.ZH_WORDS.get(token)
        if value is None:
            continue
        total += value * weight * (-0.8 if negated else 1.0)
        weight, negated = 1.0, False
    return total


def _zh_score(text: str) -> float:
    jieba = _jieba()
    lexical, hits = 0.0, 0
    contrast = 1.0
    for clause in filter(None, (c.strip() for c in _CLAUSE.split(text))):
        rest = clause
        value = 0.0
        for phrase, weight in lx.ZH_PHRASES.items():
            if phrase in rest:
                value += weight
                rest = rest.replace(phrase, " ")
        tokens = [t for t in jieba.lcut(rest) if t.strip()]
        if tokens and tokens[0] in lx.ZH_CONTRAST:
            contrast = 1.5  # what follows "but" weighs more than what came before
        value += _zh_clause(tokens)
        if value:
            hits += 1
            lexical += value * contrast
    model = _snownlp(text)
    if not hits:
        return 0.5 * model
    return 0.75 * math.tanh(lexical / 3) + 0.25 * model


# --- English ------------------------------------------------------------------------------------


@functools.cache
def _vader():  # noqa: ANN202
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyser = SentimentIntensityAnalyzer()
    analyser.lexicon.update(lx.EN_WORDS)
    return analyser


def _en_score(text: str) -> float:
    lowered = text.lower()
    for phrase, token in lx.EN_PHRASES.items():
        lowered = lowered.replace(phrase, token)
    return _vader().polarity_scores(lowered)["compound"]


# --- topics -------------------------------------------------------------------------------------


def topics_of(text: str, language: str | None = None) -> list[str]:
    """The topics a comment is about (guide, hotel, meals, transport, luggage, shopping, price, safety, …)."""
    language = language or language_of(text)
    lowered = text.lower()
    if language == "en":
        for phrase, token in lx.EN_PHRASES.items():
            lowered = lowered.replace(phrase, f"{phrase} {token}")
    found = []
    for topic, (zh, en) in lx.TOPICS.items():
        words = zh if language == "zh" else en
        if language == "zh" and any(w in lowered for w in words):
            found.append(topic)
        elif language == "en" and any(re.search(rf"\b{re.escape(w)}", lowered) for w in words):
            found.append(topic)
    return found
