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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval import stats
from eval.aggregate import answer_metrics, mean, reason_shares, rounded
from eval.metrics import evidence_recall_at_k, score_sample, summarize_question
from eval.qa import Evidence, QAItem
from eval.records import read_jsonl
from ingest.errors import UserError
from rag.citations import parse_citations

ALPHA = 0.05
# Failure attribution of an answerable sample that is not grounded-correct.
NOT_RETRIEVED = "evidence not retrieved"
NOT_USED = "retrieved, not used"
ANSWERED_WRONG = "used, answered wrongly"
FAILURES = (NOT_RETRIEVED, NOT_USED, ANSWERED_WRONG)


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
    """(model, setting, question) → QuestionSummary over its samples."""
    from eval.metrics import SampleScore

    fields = SampleScore.__dataclass_fields__
    groups: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for r in rows:
        groups[(r["model"], r["setting_id"], r["question_id"])].append(SampleScore(**{f: r[f] for f in fields}))
    return {key: summarize_question(scores) for key, scores in groups.items()}


def retrieval_table(data: RunData) -> list[dict[str, Any]]:
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
        row: dict[str, Any] = {"retrieval": f"k={p['k']} hybrid={'on' if p['hybrid'] else 'off'}"
                               f"{' rerank' if p['rerank'] else ''}", "id": rid}
        for lang in ("all", "zh", "en"):
            chosen = [r for r in items if lang == "all" or data.questions[r["question_id"]].lang == lang]
            recalls = [r["recall_at_k"] for r in chosen if r["recall_at_k"] is not None]
            suffix = "" if lang == "all" else f" ({lang})"
            row[f"recall@k{suffix}"] = rounded(mean(recalls))
            if lang == "all":
                row["MRR"] = rounded(mean([r["mrr"] for r in chosen]))
                row["questions"] = len(recalls)
                row["retrieve ms"] = rounded(mean([r["retrieve_ms"] for r in chosen]), 1)
        table.append(row)
    return table


def summarize(data: RunData, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The report's numbers (also `summary.json`): settings table with CIs and baseline comparisons, main effects,
    breakdowns, failure attribution, retrieval metrics and the worst questions."""
    rows = score_records(data) if rows is None else rows
    if not rows:
        raise UserError(f"{data.run_dir} has no scored generations yet; run the sweep first")
    cells = {c["id"]: c for c in data.cells}
    models = list(dict.fromkeys(r["model"] for r in rows))
    qids, matrices = _matrices(rows)
    summaries = _question_summaries(rows)
    settings_rows: list[dict[str, Any]] = []
    comparisons: list[dict[str, Any]] = []
    heat: dict[str, Any] = {}
    for model in models:
        keys = [k for k in matrices if k[0] == model]
        per_setting = {k[1]: matrices[k] for k in keys}
        agree = {
            sid: np.array([summaries[(model, sid, q)].agreement if (model, sid, q) in summaries else np.nan for q in qids])
            for sid in per_setting
        }
        majority = {
            sid: np.array([summaries[(model, sid, q)].majority if (model, sid, q) in summaries else np.nan for q in qids])
            for sid in per_setting
        }
        open_book = {sid: m for sid, m in per_setting.items() if not cells[sid].get("control")}
        best_acc = stats.not_worse_than_best(open_book, alpha=ALPHA) if len(open_book) > 1 else {s: True for s in open_book}
        best_agree = (
            stats.not_worse_than_best({s: agree[s] for s in open_book}, alpha=ALPHA)
            if len(open_book) > 1 else {s: True for s in open_book}
        )
        compared = (
            stats.compare_all(per_setting, data.baseline_id) if data.baseline_id in per_setting and len(per_setting) > 1 else {}
        )
        for sid in per_setting:
            cell = cells[sid]
            mine = [r for r in rows if r["model"] == model and r["setting_id"] == sid]
            retrieval = [
                data.retrievals[(q, cell["retrieval_id"])]
                for q in qids
                if cell.get("retrieval_id") and (q, cell["retrieval_id"]) in data.retrievals
            ]
            row = {
                "setting": cell["label"],
                "model": model,
                "id": sid,
                "baseline": sid == data.baseline_id,
                **answer_metrics(mine),
                "agreement": rounded(float(np.nanmean(agree[sid]))),
                "maj@n": rounded(float(np.nanmean(majority[sid]))),
                "retrieval recall@k": rounded(mean([r["recall_at_k"] for r in retrieval])),
                "tokens": rounded(mean([r["new_tokens"] for r in mine]), 1),
                "truncated": rounded(mean([r["truncated"] for r in mine])),
                "latency ms": rounded(mean([r["latency_ms"] for r in mine]), 1),
                "not worse than best": bool(best_acc.get(sid, False)),
            }
            comparison = compared.get(sid)
            if comparison is not None:
                row.update({
                    "vs baseline": rounded(comparison.difference),
                    "diff CI low": rounded(comparison.lo),
                    "diff CI high": rounded(comparison.hi),
                    "p (Holm)": rounded(comparison.p_holm, 4),
                })
                comparisons.append({
                    "model": model, "setting": cell["label"], "id": sid, "difference": rounded(comparison.difference),
                    "CI low": rounded(comparison.lo), "CI high": rounded(comparison.hi), "p": rounded(comparison.p_value, 4),
                    "p (Holm)": rounded(comparison.p_holm, 4), "test": comparison.test, "questions": comparison.n_questions,
                    "significant": bool(comparison.p_holm < ALPHA),
                })
            settings_rows.append(row)
        heat[model] = {
            "accuracy_not_worse": {s: bool(v) for s, v in best_acc.items()},
            "agreement_not_worse": {s: bool(v) for s, v in best_agree.items()},
        }

    grid_params = list(data.meta["varying"])
    grid_rows = [r for r in rows if cells[r["setting_id"]].get("in_grid")]
    effects = []
    for model in models:
        model_rows = [r for r in grid_rows if r["model"] == model]
        for effect in stats.main_effects(model_rows, grid_params) if grid_params and model_rows else []:
            effects.append({
                "model": model,
                "parameter": effect.param,
                "effect": rounded(effect.effect.mean),
                "CI low": rounded(effect.effect.lo),
                "CI high": rounded(effect.effect.hi),
                "values": [_json_value(v) for v in effect.values],
                "means": [rounded(m.mean) for m in effect.means],
                "means CI low": [rounded(m.lo) for m in effect.means],
                "means CI high": [rounded(m.hi) for m in effect.means],
            })

    return {
        "run": {k: data.meta[k] for k in ("run_id", "name", "started_at", "git_commit", "backend", "index") if k in data.meta},
        "settings": settings_rows,
        "comparisons vs baseline": comparisons,
        "parameter importance": effects,
        "breakdown by type": _breakdown(rows, "type", cells, data.baseline_id),
        "breakdown by language": _breakdown(rows, "lang", cells, data.baseline_id),
        "answer verdicts": _verdicts(rows, cells),
        "failure attribution": _failures(rows, cells),
        "retrieval": retrieval_table(data),
        "worst questions": _worst_questions(data, rows),
        "heatmap marks": heat,
    }


def _json_value(value: Any) -> Any:
    return value if isinstance(value, (bool, int, float, str)) or value is None else str(value)


def _breakdown(rows: list[dict[str, Any]], field: str, cells: dict[str, Any], baseline: str) -> list[dict[str, Any]]:
    """Grounded accuracy (with CI) per value of `field` for the baseline, the best setting and closed book."""
    _, matrices = _matrices(rows)
    means = {k: float(np.nanmean(stats.question_means(m))) for k, m in matrices.items()}
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        open_keys = [k for k in matrices if k[0] == model and not cells[k[1]].get("control")]
        best = max(open_keys, key=means.__getitem__)
        chosen = {"baseline": baseline, "best": best[1]}
        chosen.update({"closed book": k[1] for k in matrices if k[0] == model and cells[k[1]].get("control")})
        for value in sorted({r[field] for r in rows}):
            row: dict[str, Any] = {"model": model, field: value}
            for name, sid in chosen.items():
                subset = [r for r in rows if r["model"] == model and r["setting_id"] == sid and r[field] == value]
                if not subset:
                    continue
                _, m = _matrices(subset)
                est = stats.bootstrap_ci(next(iter(m.values())))
                row[name] = rounded(est.mean)
                row[f"{name} CI low"] = rounded(est.lo)
                row[f"{name} CI high"] = rounded(est.hi)
                row["questions"] = len({r["question_id"] for r in subset})
            row["best setting"] = cells[best[1]]["label"]
            out.append(row)
    return out


def _verdicts(rows: list[dict[str, Any]], cells: dict[str, Any]) -> list[dict[str, Any]]:
    """Per setting, shares of all samples: grounded-correct and each reason an answer failed."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["model"], r["setting_id"])].append(r)
    return [
        {"model": model, "setting": cells[sid]["label"], "id": sid, "samples": len(items), **reason_shares(items)}
        for (model, sid), items in groups.items()
    ]


def _failures(rows: list[dict[str, Any]], cells: dict[str, Any]) -> list[dict[str, Any]]:
    """Per setting, shares of answerable samples: grounded-correct and each failure cause."""
    out = []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["answerable"] and not cells[r["setting_id"]].get("control"):
            groups[(r["model"], r["setting_id"])].append(r)
    for (model, sid), items in groups.items():
        row: dict[str, Any] = {"model": model, "setting": cells[sid]["label"], "id": sid, "samples": len(items)}
        row["grounded correct"] = rounded(mean([r["grounded_correct"] for r in items]))
        for failure in FAILURES:
            row[failure] = rounded(mean([r["failure"] == failure for r in items]))
        out.append(row)
    return out


def _worst_questions(data: RunData, rows: list[dict[str, Any]], limit: int = 10) -> list[dict[str, Any]]:
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
        out.append({
            "id": qid,
            "lang": item.lang,
            "type": item.type,
            "question": item.question,
            "gold": " / ".join("|".join(g) for g in item.answers) if item.answerable else "(refusal)",
            "accuracy": rounded(mean([r["grounded_correct"] for r in per_q[qid]])),
            "answer (sample 0)": record["answer"],
            "failure": max(set(failures), key=failures.count) if failures else "",
            "sources": "; ".join(
                f"[{n}] {s['doc']} {s['heading']}" for n, s in enumerate(retrieval["sources"][: record["n_sources"]], 1)
            ),
        })
    return out
