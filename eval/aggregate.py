"""Per-setting aggregates of scored answers: the columns the report's settings table and `python -m eval.score`
share. A row is one scored answer: `question_id` plus every `eval.metrics.SampleScore` field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from eval import stats
from eval.metrics import REASONS


def mean(values: Sequence[Any]) -> float | None:
    """Mean of the non-None values; None when there are none."""
    kept = [float(v) for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def answer_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Grounded accuracy (mean over questions of each question's mean, with `eval.stats.proportion_ci`) and the
    answer-quality columns of one setting (definitions: docs/eval.md, "What the report aggregates")."""
    _, matrices = stats.setting_matrices(rows, [])
    matrix = next(iter(matrices.values()))
    accuracy = stats.proportion_ci(matrix)
    answerable = [r for r in rows if r["answerable"]]
    precision, recall = stats.refusal_precision_recall([r["refused"] for r in rows], [r["answerable"] for r in rows])
    return {
        "grounded acc": rounded(accuracy.mean),
        "CI low": rounded(accuracy.lo),
        "CI high": rounded(accuracy.hi),
        "hit (answerable)": rounded(mean([r["hit"] for r in answerable])),
        "uncited correct": rounded(mean([r["uncited_correct"] for r in answerable])),
        "hallucination": rounded(mean([r["hallucination"] for r in rows])),
        "over-refusal": rounded(mean([r["over_refusal"] for r in answerable])),
        "refusal precision": rounded(precision),
        "refusal recall": rounded(recall),
        "F1": rounded(mean([r["f1"] for r in rows])),
        "citation precision": rounded(mean([r["citation_precision"] for r in rows])),
        "citation recall": rounded(mean([r["citation_recall"] for r in answerable])),
        "questions": int(np.sum(~np.isnan(stats.question_means(matrix)))),
        "samples": len(rows),
    }


def reason_shares(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Share of all answers that are grounded-correct and that fail for each reason (`eval.metrics.REASONS`)."""
    shares: dict[str, Any] = {"grounded correct": rounded(mean([r["reason"] is None for r in rows]))}
    shares.update({reason: rounded(mean([r["reason"] == reason for r in rows])) for reason in REASONS})
    return shares
