"""Turn a run folder's stored generations into scores and the summary behind the report.

A run folder holds `run.json` (what ran: config, cells, baseline, models), `questions.jsonl` (the QA items used),
`retrievals.jsonl` (the ranked sources per question and retrieval setting) and `records.jsonl` (one line per
generation). Scoring happens here, from those files alone, so a report can be redrawn (or two runs compared)
without a model. All metrics come from `eval.metrics`, all statistics from `eval.stats`.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import UserError
from eval import stats
from eval.aggregate import answer_metrics, mean, reason_shares, rounded
from eval.answer_keys import answer_key
from eval.metrics import evidence_recall_at_k, score_sample, summarize_question
from eval.qa import Evidence, QAItem
from eval.records import read_jsonl
from rag.citations import parse_citations
from rag.generators import ignores_sampling

ALPHA = 0.05
# Failure attribution of an answerable sample that is not grounded-correct.
NOT_RETRIEVED = "evidence not retrieved"
NOT_USED = "retrieved, not used"
ANSWERED_WRONG = "used, answered wrongly"
FAILURES = (NOT_RETRIEVED, NOT_USED, ANSWERED_WRONG)
GREEDY_IGNORES = ("top_p", "top_k", "min_p")  # at temperature 0 the argmax survives every one of these filters


def canonical_setting(params: dict[str, Any]) -> str:
    """What decodes identically: cells at temperature 0 that differ only in top_p, top_k or min_p are one
    setting (greedy decoding takes the argmax, which every one of those filters keeps)."""
    greedy = params.get("temperature") == 0
    return json.dumps({k: v for k, v in params.items() if not (greedy and k in GREEDY_IGNORES)}, sort_keys=True)


@dataclass
class RunData:
    """Everything a run folder holds, parsed."""

    run_dir: Path
    meta: dict[str, Any]
    questions: dict[str, QAItem]
    retrievals: dict[tuple[str, str], dict[str, Any]]
    records: list[dict[str, Any]]

    @property
    def cells(self) -> list[dict[str, Any]]:
        return self.meta["cells"]

    @property
    def baseline_id(self) -> str:
        return self.meta["baseline"]


def qa_item_to_json(item: QAItem) -> dict[str, Any]:
    return asdict(item)


def qa_item_from_json(data: dict[str, Any]) -> QAItem:
    return QAItem(
        id=data["id"],
        lang=data["lang"],
        question=data["question"],
        answers=tuple(tuple(g) for g in data["answers"]),
        answerable=data["answerable"],
        type=data["type"],
        evidence=tuple(Evidence(**e) for e in data["evidence"]),
        near_miss=Evidence(**data["near_miss"]) if data.get("near_miss") else None,
        alias_notes=data.get("alias_notes", {}),
    )


def load_run(run_dir: str | Path) -> RunData:
    """Read a run folder; UserError when it is not one."""
    run_dir = Path(run_dir)
    meta_path = run_dir / "run.json"
    if not meta_path.is_file():
        raise UserError(f"{run_dir} is not a run folder (no run.json); pass a folder under eval/runs/")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    questions = {q["id"]: qa_item_from_json(q) for q in read_jsonl(run_dir / "questions.jsonl")}
    retrievals = {}
    if (run_dir / "retrievals.jsonl").exists():
        retrievals = {(r["question_id"], r["retrieval_id"]): r for r in read_jsonl(run_dir / "retrievals.jsonl")}
    records_path = run_dir / "records.jsonl"
    damaged = lambda message: print(f"warning: {message}", file=sys.stderr)  # noqa: E731 - reported, never fatal
    lines = read_jsonl(records_path, on_damaged=damaged) if records_path.exists() else []
    records = list({r["key"]: r for r in lines if isinstance(r, dict) and isinstance(r.get("key"), str)}.values())
    return RunData(run_dir, meta, questions, retrievals, records)


def _source_texts(data: RunData, record: dict[str, Any]) -> list[str]:
    if record.get("retrieval_id") is None:
        return []
    retrieval = data.retrievals[(record["question_id"], record["retrieval_id"])]
    return [s["text"] for s in retrieval["sources"][: record["n_sources"]]]


def attribute_failure(item: QAItem, sources: list[str], score: Any) -> str | None:
    """Why an answerable sample failed: evidence not in the sources shown / shown but no cited source overlaps
    it (refusals included) / cited but the answer is still wrong. None for correct or unanswerable samples."""
    if not item.answerable or score.grounded_correct:
        return None
    quotes = [e.quote for e in item.evidence]
    if (evidence_recall_at_k(sources, quotes, len(sources)) or 0.0) < 1.0:
        return NOT_RETRIEVED
    if not score.citation_recall:
        return NOT_USED
    return ANSWERED_WRONG


def score_records(data: RunData) -> list[dict[str, Any]]:
    """One row per record: identity, the cell's parameters, every `SampleScore` field and the failure cause."""
    cells = {c["id"]: c for c in data.cells}
    rows = []
    for record in data.records:
        cell = cells.get(record["setting_id"])
        item = data.questions.get(record["question_id"])
        if cell is None or item is None:
            continue  # a record of this store that the run did not ask for
        sources = _source_texts(data, record)
        cited = [sources[n - 1] for n in parse_citations(record["answer"], len(sources))]
        score = score_sample(record["answer"], item, cited)
        score = replace(score, answer_key=answer_key(record["answer"], item, score.answer_key))
        rows.append({
            "question_id": item.id,
            "lang": item.lang,
            "type": item.type,
            "model": record["model"],
            "setting_id": cell["id"],
            "sample": record["sample"],
            **cell["params"],
            **vars(score),
            "failure": None if cell.get("control") else attribute_failure(item, sources, score),
            "new_tokens": record["new_tokens"],
            "truncated": record["truncated"],
            "latency_ms": record["latency_ms"],
        })
    return rows


def _matrices(rows: list[dict[str, Any]], value: str = "grounded_correct") -> tuple[list[str], dict[tuple, np.ndarray]]:
    return stats.setting_matrices(rows, ["model", "setting_id"], value=value)


def _question_summaries(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], Any]:
    """(model, setting, question) → QuestionSummary over its samples (answers compared by `answer_key`)."""
    from eval.metrics import SampleScore

    fields = SampleScore.__dataclass_fields__
    groups: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for r in rows:
        groups[(r["model"], r["setting_id"], r["question_id"])].append(SampleScore(**{f: r[f] for f in fields}))
    return {key: summarize_question(scores) for key, scores in groups.items()}


# ---- the summary: typed rows whose snake_case fields are summary.json's keys; display labels: eval.report ----


@dataclass(frozen=True)
class SettingRow:
    """One (model, setting): answer metrics, the comparison with the baseline and the best-set membership."""

    model: str
    setting_id: str
    label: str
    baseline: bool
    same_as: str | None  # label of the setting that decodes identically and stands for this one in the tests
    grounded_accuracy: float
    ci_low: float  # 95 % interval (eval.stats.proportion_ci)
    ci_high: float
    hit_answerable: float | None
    uncited_correct: float | None
    hallucination: float | None
    over_refusal: float | None
    refusal_precision: float | None
    refusal_recall: float | None
    f1: float | None
    citation_precision: float | None
    citation_recall: float | None
    agreement: float | None
    agreement_ci_low: float | None
    agreement_ci_high: float | None
    maj_at_n: float | None
    retrieval_recall_at_k: float | None
    tokens: float | None
    truncated: float | None
    latency_ms: float | None
    questions: int
    samples: int
    vs_baseline: float | None = None
    diff_ci_low: float | None = None
    diff_ci_high: float | None = None
    p_holm: float | None = None
    best_set: bool | None = None  # in the selection-aware set not worse than the best; None: not a candidate
    agreement_best_set: bool | None = None


@dataclass(frozen=True)
class ComparisonRow:
    """A distinct setting against the baseline, paired over questions, Holm over the distinct settings."""

    model: str
    setting_id: str
    label: str
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float
    test: str
    questions: int
    significant: bool


@dataclass(frozen=True)
class EffectRow:
    """One swept parameter of one model: the test of equal accuracy over its values and the best − worst contrast."""

    model: str
    parameter: str
    values: list[Any]
    means: list[float]
    means_ci_low: list[float]
    means_ci_high: list[float]
    best_value: Any
    worst_value: Any
    contrast: float  # mean at best_value − mean at worst_value
    contrast_ci_low: float  # simultaneous over every pair of values and the parameters
    contrast_ci_high: float
    p_value: float  # eval.stats.equal_means_test over the parameter's values
    p_holm: float
    significant: bool


@dataclass(frozen=True)
class BreakdownRow:
    """Grounded accuracy of one question type or language for the baseline, the best setting and closed book."""

    model: str
    group: str  # "type" or "lang"
    value: str
    questions: int
    best_label: str
    baseline: float | None = None
    baseline_ci_low: float | None = None
    baseline_ci_high: float | None = None
    best: float | None = None
    best_ci_low: float | None = None
    best_ci_high: float | None = None
    closed_book: float | None = None
    closed_book_ci_low: float | None = None
    closed_book_ci_high: float | None = None


@dataclass(frozen=True)
class VerdictRow:
    """Shares of all samples of a setting: grounded-correct and each reason an answer failed (snake_case)."""

    model: str
    setting_id: str
    label: str
    samples: int
    shares: dict[str, float | None]


@dataclass(frozen=True)
class FailureRow:
    """Shares of a setting's answerable samples: grounded-correct and each failure cause."""

    model: str
    setting_id: str
    label: str
    samples: int
    grounded_correct: float | None
    evidence_not_retrieved: float | None
    retrieved_not_used: float | None
    used_answered_wrongly: float | None


@dataclass(frozen=True)
class RetrievalRow:
    """Retrieval-only metrics of one retrieval setting (answerable questions)."""

    retrieval: str
    retrieval_id: str
    recall_at_k: float | None
    recall_at_k_zh: float | None
    recall_at_k_en: float | None
    mrr: float | None
    questions: int
    retrieve_ms: float | None


@dataclass(frozen=True)
class WorstQuestion:
    id: str
    lang: str
    type: str
    question: str
    gold: str
    accuracy: float | None
    answer_sample_0: str
    failure: str
    sources: str


@dataclass(frozen=True)
class RunFacts:
    """Who answered: the engine per model as loaded (a fallback names itself), and why it stood in."""

    run_id: str
    name: str | None
    started_at: str | None
    git_commit: str | None
    requested_models: list[str]
    answered_by: dict[str, str]  # model that answered → backend
    revisions: dict[str, str]
    notices: list[str]  # e.g. the fallback notice: which model could not load and why
    ignores_sampling: list[str]  # models whose backend ignores every sampling parameter
    index: dict[str, Any] | None


@dataclass(frozen=True)
class Summary:
    """The report's numbers; `to_json` is summary.json."""

    run: RunFacts
    settings: list[SettingRow]
    comparisons_vs_baseline: list[ComparisonRow]
    main_effects: list[EffectRow]
    minimum_detectable_difference: dict[str, float]  # model → 80 % power at α = 0.05 after Holm (normal approx.)
    breakdown_by_type: list[BreakdownRow]
    breakdown_by_language: list[BreakdownRow]
    answer_verdicts: list[VerdictRow]
    failure_attribution: list[FailureRow]
    retrieval: list[RetrievalRow]
    worst_questions: list[WorstQuestion]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def retrieval_table(data: RunData) -> list[RetrievalRow]:
    """Retrieval-only metrics per retrieval setting: evidence recall@k and MRR over answerable questions."""
    by_setting: dict[str, list[dict[str, Any]]] = defaultdict(list)
    params: dict[str, dict[str, Any]] = {}
    for (qid, rid), r in data.retrievals.items():
        if qid in data.questions:
            by_setting[rid].append(r)
            params[rid] = r["retrieval"]
    table = []
    for rid, items in by_setting.items():
        p = params[rid]
        recall = {}
        for lang in ("all", "zh", "en"):
            chosen = [r for r in items if lang == "all" or data.questions[r["question_id"]].lang == lang]
            recall[lang] = [r["recall_at_k"] for r in chosen if r["recall_at_k"] is not None]
        table.append(RetrievalRow(
            retrieval=f"k={p['k']} hybrid={'on' if p['hybrid'] else 'off'}{' rerank' if p['rerank'] else ''}",
            retrieval_id=rid, recall_at_k=rounded(mean(recall["all"])), recall_at_k_zh=rounded(mean(recall["zh"])),
            recall_at_k_en=rounded(mean(recall["en"])), mrr=rounded(mean([r["mrr"] for r in items])),
            questions=len(recall["all"]), retrieve_ms=rounded(mean([r["retrieve_ms"] for r in items]), 1),
        ))
    return table


def run_facts(meta: dict[str, Any]) -> RunFacts:
    """What answered, from run.json (a run written before `notices`/`ignores_sampling` existed: from `backends`)."""
    backends = dict(meta.get("backends") or {})
    ignores = meta.get("ignores_sampling")
    if ignores is None:
        ignores = [m for m, b in backends.items() if ignores_sampling(b)]
    return RunFacts(
        run_id=meta.get("run_id"), name=meta.get("name"), started_at=meta.get("started_at"),
        git_commit=meta.get("git_commit"), requested_models=list(meta.get("config", {}).get("models", [])),
        answered_by=backends, revisions=dict(meta.get("revisions") or {}), notices=list(meta.get("notices") or []),
        ignores_sampling=list(ignores), index=meta.get("index"),
    )


def stand_ins(cells: dict[str, Any], ids: list[str], ignores_sampling: bool, baseline: str) -> dict[str, str]:
    """setting id → the id of the setting that stands for it in the tests: itself, or an identical decode (the
    baseline first, else the first in order). When the backend ignores sampling only retrieval and prompt count."""
    from eval.config import SWEEPABLE_SAMPLING

    def key(sid: str) -> str:
        params = dict(cells[sid]["params"])
        if ignores_sampling:
            params = {k: v for k, v in params.items() if k not in SWEEPABLE_SAMPLING}
        return canonical_setting(params)

    first: dict[str, str] = {}
    for sid in sorted(ids, key=lambda s: s != baseline):
        first.setdefault(key(sid), sid)
    return {sid: first[key(sid)] for sid in ids}


def minimum_detectable_difference(matrix: np.ndarray, comparisons: int, alpha: float = ALPHA, power: float = 0.8) -> float:
    """Smallest difference from the baseline found with `power` after Holm over `comparisons`, by the normal
    approximation for independent samples: (z(1 − α/2m) + z(power)) · sd of a question's paired difference / √q,
    the sampling variance estimated from the baseline's own questions (`eval.calibrate` simulates it)."""
    from scipy.stats import norm

    rows = matrix[~np.isnan(matrix).all(axis=1)]
    counts = np.sum(~np.isnan(rows), axis=1)
    p = np.nanmean(rows, axis=1)
    if (counts > 1).all():
        within = p * (1 - p) * counts / (counts - 1)  # unbiased per question
    else:  # one sample per question: the spread of a coin at the overall accuracy
        within = np.full_like(p, p.mean() * (1 - p.mean()))
    sd = np.sqrt(np.mean(2 * within / counts))
    z = norm.ppf(1 - alpha / (2 * max(comparisons, 1))) + norm.ppf(power)
    return float(z * sd / np.sqrt(rows.shape[0]))


def summarize(data: RunData, rows: list[dict[str, Any]] | None = None) -> Summary:
    """The report's numbers: settings with intervals, baseline comparisons and the best set, main effects,
    breakdowns, verdicts, failure attribution, retrieval metrics and the worst questions.

    Cells that decode identically (temperature 0 differing only in top_p/top_k/min_p; every sampling parameter
    when the backend ignores sampling) are one setting in the tests: the baseline comparisons' Holm family and
    the best set count distinct settings only, and the duplicates' rows name the setting that stands for them
    (`same_as`). A model whose backend ignores sampling gets no main effect of a sampling parameter.
    """
    from eval.config import SWEEPABLE_SAMPLING

    rows = score_records(data) if rows is None else rows
    if not rows:
        raise UserError(f"{data.run_dir} has no scored generations yet; run the sweep first")
    facts = run_facts(data.meta)
    cells = {c["id"]: c for c in data.cells}
    models = list(dict.fromkeys(r["model"] for r in rows))
    qids, matrices = _matrices(rows)
    summaries = _question_summaries(rows)
    settings_rows: list[SettingRow] = []
    comparisons: list[ComparisonRow] = []
    mdd: dict[str, float] = {}
    for model in models:
        per_setting = {k[1]: matrices[k] for k in matrices if k[0] == model}
        stand_in = stand_ins(cells, list(per_setting), model in facts.ignores_sampling, data.baseline_id)
        distinct = [s for s in per_setting if stand_in[s] == s]

        def per_question(field: str, sid: str) -> np.ndarray:
            return np.array([getattr(summaries[(model, sid, q)], field) if (model, sid, q) in summaries else np.nan
                             for q in qids])

        agree = {sid: per_question("agreement", sid) for sid in per_setting}
        majority = {sid: per_question("majority", sid) for sid in per_setting}
        candidates = [s for s in distinct if not cells[s].get("control")]
        best_acc = stats.best_set({s: per_setting[s] for s in candidates}, alpha=ALPHA)
        best_agree = stats.best_set({s: agree[s] for s in candidates}, alpha=ALPHA)
        has_baseline = data.baseline_id in per_setting
        compared = (
            stats.compare_all({s: per_setting[s] for s in distinct}, data.baseline_id)
            if has_baseline and len(distinct) > 1 else {}
        )
        if has_baseline and len(distinct) > 1:
            mdd[model] = rounded(minimum_detectable_difference(per_setting[data.baseline_id], len(distinct) - 1))
        for sid in per_setting:
            cell, rep = cells[sid], stand_in[sid]
            mine = [r for r in rows if r["model"] == model and r["setting_id"] == sid]
            metrics = answer_metrics(mine)
            agreement = stats.proportion_ci(agree[sid])
            retrieval = [
                data.retrievals[(q, cell["retrieval_id"])]["recall_at_k"]
                for q in qids
                if cell.get("retrieval_id") and (q, cell["retrieval_id"]) in data.retrievals
            ]
            comparison = compared.get(rep) if rep != data.baseline_id else None
            settings_rows.append(SettingRow(
                model=model, setting_id=sid, label=cell["label"], baseline=sid == data.baseline_id,
                same_as=None if rep == sid else cells[rep]["label"],
                grounded_accuracy=metrics["grounded acc"], ci_low=metrics["CI low"], ci_high=metrics["CI high"],
                hit_answerable=metrics["hit (answerable)"], uncited_correct=metrics["uncited correct"],
                hallucination=metrics["hallucination"], over_refusal=metrics["over-refusal"],
                refusal_precision=metrics["refusal precision"], refusal_recall=metrics["refusal recall"],
                f1=metrics["F1"], citation_precision=metrics["citation precision"],
                citation_recall=metrics["citation recall"],
                agreement=rounded(agreement.mean), agreement_ci_low=rounded(agreement.lo),
                agreement_ci_high=rounded(agreement.hi), maj_at_n=rounded(float(np.nanmean(majority[sid]))),
                retrieval_recall_at_k=rounded(mean(retrieval)),
                tokens=rounded(mean([r["new_tokens"] for r in mine]), 1),
                truncated=rounded(mean([r["truncated"] for r in mine])),
                latency_ms=rounded(mean([r["latency_ms"] for r in mine]), 1),
                questions=metrics["questions"], samples=metrics["samples"],
                vs_baseline=rounded(comparison.difference) if comparison else None,
                diff_ci_low=rounded(comparison.lo) if comparison else None,
                diff_ci_high=rounded(comparison.hi) if comparison else None,
                p_holm=rounded(comparison.p_holm, 4) if comparison else None,
                best_set=best_acc.get(rep), agreement_best_set=best_agree.get(rep),
            ))
        for sid in distinct:
            c = compared.get(sid)
            if c is not None:
                comparisons.append(ComparisonRow(
                    model=model, setting_id=sid, label=cells[sid]["label"], difference=rounded(c.difference),
                    ci_low=rounded(c.lo), ci_high=rounded(c.hi), p_value=rounded(c.p_value, 4),
                    p_holm=rounded(c.p_holm, 4), test=c.test, questions=c.n_questions, significant=bool(c.p_holm < ALPHA),
                ))

    effects = []
    for model in models:
        params = [p for p in data.meta["varying"] if not (model in facts.ignores_sampling and p in SWEEPABLE_SAMPLING)]
        model_rows = [r for r in rows if r["model"] == model and cells[r["setting_id"]].get("in_grid")]
        for e in stats.main_effects(model_rows, params, alpha=ALPHA) if params and model_rows else []:
            effects.append(EffectRow(
                model=model, parameter=e.param, values=[_json_value(v) for v in e.values],
                means=[rounded(m.mean) for m in e.means], means_ci_low=[rounded(m.lo) for m in e.means],
                means_ci_high=[rounded(m.hi) for m in e.means], best_value=_json_value(e.contrast.high),
                worst_value=_json_value(e.contrast.low), contrast=rounded(e.contrast.difference),
                contrast_ci_low=rounded(e.contrast.lo), contrast_ci_high=rounded(e.contrast.hi),
                p_value=rounded(e.p_value, 4), p_holm=rounded(e.p_holm, 4), significant=bool(e.p_holm < ALPHA),
            ))

    return Summary(
        run=facts,
        settings=settings_rows,
        comparisons_vs_baseline=comparisons,
        main_effects=effects,
        minimum_detectable_difference=mdd,
        breakdown_by_type=_breakdown(rows, "type", cells, data.baseline_id),
        breakdown_by_language=_breakdown(rows, "lang", cells, data.baseline_id),
        answer_verdicts=_verdicts(rows, cells),
        failure_attribution=_failures(rows, cells),
        retrieval=retrieval_table(data),
        worst_questions=_worst_questions(data, rows),
    )


def _json_value(value: Any) -> Any:
    return value if isinstance(value, (bool, int, float, str)) or value is None else str(value)


def _breakdown(rows: list[dict[str, Any]], field: str, cells: dict[str, Any], baseline: str) -> list[BreakdownRow]:
    """Grounded accuracy (with `proportion_ci`) per value of `field` for the baseline, the open-book setting with
    the highest accuracy and closed book."""
    _, matrices = _matrices(rows)
    means = {k: float(np.nanmean(stats.question_means(m))) for k, m in matrices.items()}
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        open_keys = [k for k in matrices if k[0] == model and not cells[k[1]].get("control")]
        best = max(open_keys, key=means.__getitem__)
        chosen = {"baseline": baseline, "best": best[1]}
        chosen.update({"closed_book": k[1] for k in matrices if k[0] == model and cells[k[1]].get("control")})
        for value in sorted({r[field] for r in rows}):
            found: dict[str, Any] = {}
            questions = 0
            for name, sid in chosen.items():
                subset = [r for r in rows if r["model"] == model and r["setting_id"] == sid and r[field] == value]
                if not subset:
                    continue
                _, m = _matrices(subset)
                est = stats.proportion_ci(next(iter(m.values())))
                found.update({name: rounded(est.mean), f"{name}_ci_low": rounded(est.lo), f"{name}_ci_high": rounded(est.hi)})
                questions = len({r["question_id"] for r in subset})
            out.append(BreakdownRow(model=model, group=field, value=value, questions=questions,
                                    best_label=cells[best[1]]["label"], **found))
    return out


def snake_case(name: str) -> str:
    """`retrieved, not used` → `retrieved_not_used`."""
    return "_".join("".join(ch if ch.isalnum() else " " for ch in name).split())


def _verdicts(rows: list[dict[str, Any]], cells: dict[str, Any]) -> list[VerdictRow]:
    """Per setting, shares of all samples: grounded-correct and each reason an answer failed."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["model"], r["setting_id"])].append(r)
    return [
        VerdictRow(model, sid, cells[sid]["label"], len(items), {snake_case(k): v for k, v in reason_shares(items).items()})
        for (model, sid), items in groups.items()
    ]


def _failures(rows: list[dict[str, Any]], cells: dict[str, Any]) -> list[FailureRow]:
    """Per setting, shares of answerable samples: grounded-correct and each failure cause."""
    out = []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["answerable"] and not cells[r["setting_id"]].get("control"):
            groups[(r["model"], r["setting_id"])].append(r)
    for (model, sid), items in groups.items():
        share = lambda failure: rounded(mean([r["failure"] == failure for r in items]))  # noqa: E731
        out.append(FailureRow(
            model=model, setting_id=sid, label=cells[sid]["label"], samples=len(items),
            grounded_correct=rounded(mean([r["grounded_correct"] for r in items])),
            evidence_not_retrieved=share(NOT_RETRIEVED), retrieved_not_used=share(NOT_USED),
            used_answered_wrongly=share(ANSWERED_WRONG),
        ))
    return out


def _worst_questions(data: RunData, rows: list[dict[str, Any]], limit: int = 10) -> list[WorstQuestion]:
    """The questions with the lowest grounded accuracy under the baseline: gold answers, one answer, sources."""
    base = [r for r in rows if r["setting_id"] == data.baseline_id]
    if not base:
        return []
    model = base[0]["model"]
    base = [r for r in base if r["model"] == model]
    per_q: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in base:
        per_q[r["question_id"]].append(r)
    ranked = sorted(per_q, key=lambda q: (mean([r["grounded_correct"] for r in per_q[q]]), q))[:limit]
    records = {(r["question_id"], r["sample"]): r for r in data.records
               if r["setting_id"] == data.baseline_id and r["model"] == model}
    cell = next(c for c in data.cells if c["id"] == data.baseline_id)
    out = []
    for qid in ranked:
        item = data.questions[qid]
        sample = min(per_q[qid], key=lambda r: r["sample"])
        record = records[(qid, sample["sample"])]
        retrieval = data.retrievals.get((qid, cell.get("retrieval_id")), {"sources": []})
        failures = [r["failure"] for r in per_q[qid] if r["failure"]]
        out.append(WorstQuestion(
            id=qid, lang=item.lang, type=item.type, question=item.question,
            gold=" / ".join("|".join(g) for g in item.answers) if item.answerable else "(refusal)",
            accuracy=rounded(mean([r["grounded_correct"] for r in per_q[qid]])),
            answer_sample_0=record["answer"],
            failure=max(set(failures), key=failures.count) if failures else "",
            sources="; ".join(
                f"[{n}] {s['doc']} {s['heading']}" for n, s in enumerate(retrieval["sources"][: record["n_sources"]], 1)
            ),
        ))
    return out
