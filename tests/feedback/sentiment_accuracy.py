"""Accuracy of the comment analyser on the labelled travel comments in tests/data/travel_comments.tsv.

    python -m tests.feedback.sentiment_accuracy

Clear cases (labelled positive or negative) count as right when the predicted label matches; mixed
comments have no single right label and are reported as the spread of what was predicted.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import sys

from services.feedback import sentiment
from services.feedback.sentiment import analyse

DATA = Path(__file__).resolve().parent.parent / "data" / "travel_comments.tsv"


def labelled() -> list[dict[str, str]]:
    with DATA.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def packages_only(text: str) -> sentiment.Analysis:
    """The packages alone, without the tourism lexicon: snownlp for Chinese, VADER for English (the baseline)."""
    language = sentiment.language_of(text)
    if language == "zh":
        score = sentiment._snownlp(text)  # noqa: SLF001
    else:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        score = SentimentIntensityAnalyzer().polarity_scores(text)["compound"]
    return sentiment.Analysis(label=sentiment.label_of(score), score=score, language=language)


def evaluate(analyser=analyse) -> dict[str, object]:  # noqa: ANN001
    rows = labelled()
    right: Counter[str] = Counter()
    clear: Counter[str] = Counter()
    mixed: Counter[str] = Counter()
    misses = []
    for row in rows:
        analysis = analyser(row["text"])
        predicted = analysis.label if analysis else "neutral"
        if row["label"] == "mixed":
            mixed[f"{row['lang']} {predicted}"] += 1
            continue
        clear[row["lang"]] += 1
        if predicted == row["label"]:
            right[row["lang"]] += 1
        else:
            misses.append((row["lang"], row["label"], predicted, analysis.score if analysis else None, row["text"]))
    accuracy = {lang: right[lang] / clear[lang] for lang in clear}
    accuracy["all"] = sum(right.values()) / sum(clear.values())
    return {"comments": len(rows), "clear": dict(clear), "accuracy": accuracy, "mixed": dict(mixed), "misses": misses}


if __name__ == "__main__":
    result = evaluate(packages_only if "--baseline" in sys.argv else analyse)
    print(f"{result['comments']} comments; clear cases per language {result['clear']}")
    for lang, value in result["accuracy"].items():  # type: ignore[union-attr]
        print(f"accuracy on clear cases, {lang}: {value:.1%}")
    print(f"mixed comments, predicted: {result['mixed']}")
    for miss in result["misses"]:  # type: ignore[union-attr]
        print("miss:", *miss)
