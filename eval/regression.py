"""Compare two runs setting by setting, paired over questions, and flag significant drops beyond a tolerance."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from eval import stats
from eval.analysis import RunData, SettingRow, score_records

DEFAULT_TOLERANCE = 0.02
ALPHA = 0.05


@dataclass(frozen=True)
class SettingChange:
    """One setting present in both runs: grounded accuracy then and now, and the paired comparison."""

    model: str
    setting_id: str
    label: str
    reference: float
    current: float
    difference: float  # current − reference
    lo: float
    hi: float
    p_value: float
    p_holm: float
    questions: int
    regressed: bool  # dropped by more than the tolerance and significant after Holm correction

    def describe(self, reference_name: str, tolerance: float) -> str:
        verdict = "REGRESSION" if self.regressed else "ok"
        return (
            f"{verdict}: {self.label} ({self.model}) grounded accuracy {self.reference:.3f} → {self.current:.3f} "
            f"({self.difference:+.3f}, 95% CI {self.lo:+.3f} to {self.hi:+.3f}, Holm p = {self.p_holm:.3g}, "
            f"{self.questions} questions) vs {reference_name}, tolerance {tolerance}"
        )


def _per_question(data: RunData) -> dict[tuple[str, str], dict[str, float]]:
    sums: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in score_records(data):
        sums[(row["model"], row["setting_id"])][row["question_id"]].append(float(row["grounded_correct"]))
    return {key: {q: float(np.mean(v)) for q, v in per_q.items()} for key, per_q in sums.items()}


def matching_settings(current: RunData, reference: RunData) -> dict[str, str]:
    """Reference setting id → this run's setting id: the same id, or else the one setting of this run with the same
    values of every parameter both runs record. A parameter the code gained since the reference run (a new
    retrieval knob) changes every setting id, while the settings are still the same grid."""
    current_ids = {c["id"] for c in current.cells}
    mapping = {}
    for old in reference.cells:
        if old["id"] in current_ids:
            mapping[old["id"]] = old["id"]
            continue
        matches = [c["id"] for c in current.cells if bool(c.get("control")) == bool(old.get("control"))
                   and all(c["params"][k] == v for k, v in old["params"].items() if k in c["params"])]
        if len(matches) == 1:
            mapping[old["id"]] = matches[0]
    return mapping


def unmatched_parameters(current: RunData, reference: RunData) -> list[str]:
    """Parameters only one of the two runs records (settings were matched on the others)."""
    now = {k for c in current.cells for k in c["params"]}
    then = {k for c in reference.cells for k in c["params"]}
    return sorted(now ^ then)


def compare_runs(current: RunData, reference: RunData, tolerance: float = DEFAULT_TOLERANCE,
                 alpha: float = ALPHA) -> list[SettingChange]:
    """Every (model, setting) both runs scored (`matching_settings`), compared on the questions both answered;
    Holm across settings."""
    labels = {c["id"]: c["label"] for c in current.cells}
    mapping = matching_settings(current, reference)
    then = {(model, mapping[sid]): scores for (model, sid), scores in _per_question(reference).items() if sid in mapping}
    return compare_scores(_per_question(current), then, labels, tolerance, alpha)


def compare_scores(now: dict[tuple[str, str], dict[str, float]], then: dict[tuple[str, str], dict[str, float]],
                   labels: dict[str, str], tolerance: float = DEFAULT_TOLERANCE, alpha: float = ALPHA) -> list[SettingChange]:
    """`compare_runs` on per-question accuracies: {(model, setting id): {question id: mean grounded_correct}}."""
    raw = []
    for key in [k for k in now if k in then]:
        questions = sorted(set(now[key]) & set(then[key]))
        if not questions:
            continue
        a = np.array([then[key][q] for q in questions])
        b = np.array([now[key][q] for q in questions])
        raw.append((key, a, b, stats.compare(a, b)))
    adjusted = stats.holm([c.p_value for *_, c in raw]) if raw else []
    changes = []
    for (key, a, b, c), p_holm in zip(raw, adjusted):
        changes.append(SettingChange(
            model=key[0], setting_id=key[1], label=labels.get(key[1], key[1]), reference=float(a.mean()),
            current=float(b.mean()), difference=c.difference, lo=c.lo, hi=c.hi, p_value=c.p_value,
            p_holm=float(p_holm), questions=c.n_questions,
            regressed=bool(c.difference < -tolerance and p_holm < alpha),
        ))
    return changes


@dataclass(frozen=True)
class BeforeAfterRow:
    """One setting both runs scored: grounded accuracy before (the reference run) and after (this run) over the
    questions both answered, with the paired difference; each run's refusal and retrieval metrics beside it."""

    label: str
    model: str
    grounded_before: float
    grounded_after: float
    difference: float
    lo: float
    hi: float
    p_holm: float
    refusal_recall_before: float | None
    refusal_recall_after: float | None
    over_refusal_before: float | None
    over_refusal_after: float | None
    recall_before: float | None
    recall_after: float | None
    questions: int


def before_after(changes: list[SettingChange], after: list[SettingRow], before: list[SettingRow],
                 mapping: dict[str, str]) -> list[BeforeAfterRow]:
    """`compare_runs`' changes joined with both runs' setting rows (the reference's ids mapped by
    `matching_settings`), in this run's setting order."""
    now = {(r.model, r.setting_id): r for r in after}
    then = {(r.model, mapping[r.setting_id]): r for r in before if r.setting_id in mapping}
    by_key = {(c.model, c.setting_id): c for c in changes}
    rows = []
    for key in [k for k in now if k in by_key]:
        c, a, b = by_key[key], now[key], then[key]
        rows.append(BeforeAfterRow(
            label=c.label, model=c.model, grounded_before=c.reference, grounded_after=c.current,
            difference=c.difference, lo=c.lo, hi=c.hi, p_holm=c.p_holm,
            refusal_recall_before=b.refusal_recall, refusal_recall_after=a.refusal_recall,
            over_refusal_before=b.over_refusal, over_refusal_after=a.over_refusal,
            recall_before=b.retrieval_recall_at_k, recall_after=a.retrieval_recall_at_k, questions=c.questions,
        ))
    return rows
