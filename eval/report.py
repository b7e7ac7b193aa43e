"""`python -m eval.report`: the report of a run (HTML + PNGs + summary.json), trends, and regression gating.

    python -m eval.report RUN                 # RUN = a run folder, a run id under --runs, or `latest`
    python -m eval.report RUN --compare OTHER [--fail-on-regression] [--tolerance 0.02]
    python -m eval.report latest --name nightly --fail-on-regression   # vs the previous run and the pinned reference
    python -m eval.report RUN --pin           # RUN becomes the pinned reference of its config
    python -m eval.report --trend [--name nightly]       # runs.sqlite → trend.png
    python -m eval.report RUN --markdown FILE  # also the settings and retrieval tables as Markdown, stamped
    python -m eval.report RUN --compare BEFORE --markdown FILE  # … and a before/after table against BEFORE

`--fail-on-regression` exits with status 1 when any setting's grounded accuracy fell by more than the tolerance
and the paired test over questions is significant after Holm correction (α = 0.05), against the previous run of
the same config or against its pinned reference (`--pin`, or `--reference RUN` for one check): a slow drift that
never fails night to night fails once it passes the tolerance against the reference.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import sys
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.errors import OneLineArgumentParser, UserError, parse_args
from core.machine import describe
from eval import figures
from eval.analysis import RunData, Summary, load_run, summarize
from eval.config import DEFAULT_RUNS_DIR
from eval.records import git_commit
from eval.regression import DEFAULT_TOLERANCE, before_after, compare_runs, matching_settings, unmatched_parameters
from eval.run_index import RunIndex
from eval.trend import INDEX_NAME, write_trend

SUMMARY = "summary.json"
REPORT = "report.html"


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    summary: Path
    figures: list[Path]


def draw_figures(data: RunData, summary: Summary) -> list[Path]:
    """Every figure the run supports, as PNG files in the run folder."""
    out = data.run_dir
    varying = list(data.meta["varying"])
    drawn = [
        figures.plot_settings(summary, out / "settings.png"),
        figures.plot_parameters(summary, out / "parameters.png"),
        figures.plot_importance(summary, out / "importance.png"),
        figures.plot_breakdowns(summary, out / "breakdown.png"),
        figures.plot_failures(summary, out / "failures.png"),
    ]
    models = list(dict.fromkeys(r.model for r in summary.settings))
    for i, model in enumerate(models):
        if model in summary.run.ignores_sampling:
            continue  # every cell of the grid is the same decode: a heatmap would show noise-free copies
        suffix = "" if i == 0 else f"_{i + 1}"
        drawn.append(figures.plot_heatmap(summary, data.cells, varying, "grounded_accuracy", out / f"heatmap_accuracy{suffix}.png", model))
        drawn.append(figures.plot_heatmap(summary, data.cells, varying, "agreement", out / f"heatmap_agreement{suffix}.png", model))
    return [p for p in drawn if p is not None]


def write_report(run_dir: str | Path) -> ReportFiles:
    """Score the run, write summary.json, the figures and report.html, and record the results in runs.sqlite."""
    data = load_run(run_dir)
    summary = summarize(data)
    summary_path = data.run_dir / SUMMARY
    summary_path.write_text(json.dumps(summary.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
    drawn = draw_figures(data, summary)
    html_path = data.run_dir / REPORT
    html_path.write_text(render_html(data, summary, drawn), encoding="utf-8")
    db = data.run_dir.parent / INDEX_NAME
    if db.is_file():
        with RunIndex(db) as index:
            if index.run(data.meta["run_id"]):
                index.set_settings(data.meta["run_id"], [
                    {
                        "model": r.model, "setting_id": r.setting_id, "label": r.label, "is_baseline": int(r.baseline),
                        "grounded_accuracy": r.grounded_accuracy, "ci_low": r.ci_low, "ci_high": r.ci_high,
                        "hallucination": r.hallucination, "agreement": r.agreement, "n_questions": r.questions,
                    }
                    for r in summary.settings
                ])
    return ReportFiles(html_path, summary_path, drawn)


# ---- HTML -------------------------------------------------------------------------------------------------

CSS = """
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif;
       margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.baseline td { background: #fff3e0; } img { max-width: 100%; margin: 0.5em 0 1.5em; border: 1px solid #eee; }
.meta td:first-child { font-weight: bold; } .note { color: #555; font-size: 14px; } .wide { overflow-x: auto; }
.notice { background: #fff8e1; border-left: 4px solid #f0a500; padding: 0.5em 1em; }
"""

# Display labels of the typed rows' fields, applied only here (summary.json keeps the field names).
LABELS = {
    "label": "setting", "same_as": "same decode as", "grounded_accuracy": "grounded acc", "ci_low": "CI low",
    "ci_high": "CI high", "vs_baseline": "vs baseline", "diff_ci_low": "diff CI low", "diff_ci_high": "diff CI high",
    "p_holm": "p (Holm)", "p_value": "p", "best_set": "best set", "agreement_best_set": "agreement best set",
    "hit_answerable": "hit (answerable)", "uncited_correct": "uncited correct", "over_refusal": "over-refusal",
    "refusal_precision": "refusal precision", "refusal_recall": "refusal recall", "maj_at_n": "maj@n", "f1": "F1",
    "citation_precision": "citation precision", "citation_recall": "citation recall",
    "retrieval_recall_at_k": "retrieval recall@k", "latency_ms": "latency ms", "best_value": "best value",
    "worst_value": "worst value", "contrast": "best − worst", "contrast_ci_low": "contrast CI low",
    "contrast_ci_high": "contrast CI high", "means": "mean per value", "recall_at_k": "recall@k",
    "recall_at_k_zh": "recall@k (zh)", "recall_at_k_en": "recall@k (en)", "mrr": "MRR", "retrieve_ms": "retrieve ms",
    "retrieval_id": "id", "setting_id": "id", "best_label": "best setting", "closed_book": "closed book",
    "baseline_ci_low": "baseline CI low", "baseline_ci_high": "baseline CI high", "best_ci_low": "best CI low",
    "best_ci_high": "best CI high", "closed_book_ci_low": "closed book CI low", "closed_book_ci_high": "closed book CI high",
    "answer_sample_0": "answer (sample 0)", "evidence_not_retrieved": "evidence not retrieved",
    "retrieved_not_used": "retrieved, not used", "used_answered_wrongly": "used, answered wrongly",
    "grounded_correct": "grounded correct",
    "grounded_before": "grounded acc before", "grounded_after": "grounded acc after", "lo": "diff CI low",
    "hi": "diff CI high", "refusal_recall_before": "refusal recall before", "refusal_recall_after": "refusal recall after",
    "over_refusal_before": "over-refusal before", "over_refusal_after": "over-refusal after",
    "recall_before": "recall@k before", "recall_after": "recall@k after",
}

SETTINGS_COLUMNS = (
    "label", "model", "same_as", "grounded_accuracy", "ci_low", "ci_high", "vs_baseline", "diff_ci_low", "diff_ci_high",
    "p_holm", "best_set", "hit_answerable", "uncited_correct", "hallucination", "over_refusal", "refusal_precision",
    "refusal_recall", "agreement", "agreement_best_set", "maj_at_n", "f1", "citation_precision", "citation_recall",
    "retrieval_recall_at_k", "tokens", "truncated", "latency_ms", "questions", "samples",
)  # fmt: skip


def display(field: str) -> str:
    """The column label of a row field."""
    return LABELS.get(field, field.replace("_", " "))


def _cell(value: Any) -> str:
    if value is None:
        return '<td class="num">–</td>'
    if isinstance(value, bool):
        return f"<td>{'✓' if value else ''}</td>"
    if isinstance(value, float):
        return f'<td class="num">{value:.3f}</td>' if abs(value) < 1000 else f'<td class="num">{value:.0f}</td>'
    if isinstance(value, int):
        return f'<td class="num">{value}</td>'
    if isinstance(value, list):
        return f"<td>{html.escape(', '.join(str(v) for v in value))}</td>"
    return f"<td>{html.escape(str(value))}</td>"


def _flat(row: Any) -> dict[str, Any]:
    """A typed row as {field: value}, a nested dict (verdict shares) spread into columns."""
    out: dict[str, Any] = {}
    for key, value in (asdict(row) if is_dataclass(row) else row).items():
        if isinstance(value, dict):
            out.update(value)
        else:
            out[key] = value
    return out


def html_table(rows: list[Any], columns: tuple[str, ...] | None = None) -> str:
    """Typed rows (or dicts) as a table; columns are fields, shown under their display labels."""
    if not rows:
        return '<p class="note">Nothing to show.</p>'
    flat = [_flat(r) for r in rows]
    columns = columns or tuple(dict.fromkeys(k for r in flat for k in r))
    columns = tuple(c for c in columns if any(c in r for r in flat))
    head = "".join(f"<th>{html.escape(display(c))}</th>" for c in columns)
    body = "".join(
        f'<tr class="{"baseline" if r.get("baseline") is True else ""}">' + "".join(_cell(r.get(c)) for c in columns) + "</tr>"
        for r in flat
    )
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}">'


def answered_by(summary: Summary) -> str:
    """`model (backend) @ revision` for every model that answered."""
    run = summary.run
    return ", ".join(f"{m} ({b}) @ {run.revisions.get(m, '?')}" for m, b in run.answered_by.items()) or "–"


def notices(summary: Summary) -> list[str]:
    """What a reader must know before reading the numbers: fallbacks, and settings that are one decode."""
    out = list(summary.run.notices)
    for model in summary.run.ignores_sampling:
        out.append(f"{model} ignores sampling (temperature, top_p, top_k, min_p, …): cells that differ only in "
                   "sampling are the same answers, so they are one setting in the tests, and there are no heatmaps, "
                   "best-set marks or main effects of sampling parameters for it.")
    duplicates = [r for r in summary.settings if r.same_as and r.model not in summary.run.ignores_sampling]
    if duplicates:
        out.append(f"{len(duplicates)} cell(s) at temperature 0 differ from another only in top_p/top_k/min_p, which "
                   "greedy decoding ignores: each is tested as the setting named in 'same decode as'.")
    return out


def render_html(data: RunData, summary: Summary, drawn: list[Path]) -> str:
    """One self-contained page: tables and the figures embedded as base64 PNGs."""
    by_name = {p.stem: p for p in drawn}
    meta = data.meta
    config = meta.get("config", {})

    def fig(*stems: str) -> str:
        return "".join(_img(by_name[s]) for s in stems if s in by_name)

    heatmaps = sorted(s for s in by_name if s.startswith("heatmap_"))
    mdd = ", ".join(f"{m}: {v:.3f}" for m, v in summary.minimum_detectable_difference.items()) or "–"
    facts = {
        "run": meta.get("run_id"), "config": f"{config.get('name')} ({meta.get('config_hash')})",
        "answered by": answered_by(summary), "models requested": ", ".join(summary.run.requested_models),
        "backend requested": config.get("backend"), "git commit": meta.get("git_commit"),
        "index": json.dumps(meta.get("index"), ensure_ascii=False), "started (UTC)": meta.get("started_at"),
        "finished (UTC)": meta.get("finished_at"), "status": meta.get("status"),
        "questions": len(data.questions), "samples per setting (n)": config.get("n"),
        "generations": len(data.records), "generated / from cache": f"{meta.get('generated')} / {meta.get('cached')}",
        "minimum detectable difference (80% power, α = 0.05 after Holm)": mdd,
    }
    sections = [
        f"<h1>Eval report — {html.escape(str(config.get('name')))} {html.escape(str(meta.get('run_id')))}</h1>",
        "".join(f'<p class="notice">{html.escape(n)}</p>' for n in notices(summary)),
        '<table class="meta">' + "".join(f"<tr><td>{html.escape(k)}</td>{_cell(v)}</tr>" for k, v in facts.items()) + "</table>",
        '<p class="note">Grounded accuracy: an answerable question counts as correct when the answer states every gold '
        "value (compared as values: 175B = 1750亿), not negated, without offering more candidate values than the gold "
        "has, within the length cap, and a source the answer cites states it too; an unanswerable one when the answer "
        "is a refusal. Right but not in a cited source: uncited correct. Intervals: 95% Clopper–Pearson at the "
        "effective number of questions (each question's samples kept together). Comparisons: paired over questions "
        "against the baseline (sign-flip test, McNemar when n = 1), Holm-adjusted across the distinct settings. Best "
        "set: the settings not shown worse than the best one (multiple comparisons with the best, α = 0.05, "
        "selection-aware).</p>",
        "<h2>Settings</h2>", html_table(summary.settings, SETTINGS_COLUMNS), fig("settings"),
        "<h2>temperature × top_p</h2>" if heatmaps else "", fig(*heatmaps),
        "<h2>Parameters</h2>", fig("parameters", "importance"),
        html_table(summary.main_effects, ("model", "parameter", "values", "means", "best_value", "worst_value", "contrast",
                                          "contrast_ci_low", "contrast_ci_high", "p_value", "p_holm", "significant")),
        "<h2>Comparisons against the baseline</h2>", html_table(summary.comparisons_vs_baseline),
        "<h2>By question type and language</h2>", fig("breakdown"),
        html_table(summary.breakdown_by_type), html_table(summary.breakdown_by_language),
        "<h2>Answer verdicts</h2>",
        '<p class="note">Share of all samples that are grounded-correct, and of those that are not, the first reason '
        "that applies: refused, too long, not hit, negated, hedged, not cited (answerable questions); hallucinated "
        "(unanswerable questions not refused).</p>",
        html_table(summary.answer_verdicts),
        "<h2>Failure attribution</h2>",
        '<p class="note">Each answerable sample that is not grounded-correct: its evidence was not among the sources '
        "shown; it was shown but no cited source overlaps it (refusals included); or it was cited and the answer "
        "is still wrong.</p>",
        fig("failures"), html_table(summary.failure_attribution),
        "<h2>Retrieval</h2>", html_table(summary.retrieval),
        "<h2>Worst questions (baseline setting)</h2>", html_table(summary.worst_questions),
    ]
    body = "\n".join(sections)
    title = f"Eval report {meta.get('run_id')}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


# ---- Markdown (for docs/results.md) -----------------------------------------------------------------------

MARKDOWN_SETTINGS = (
    "label", "model", "grounded_accuracy", "ci_low", "ci_high", "vs_baseline", "p_holm", "hit_answerable",
    "hallucination", "over_refusal", "refusal_recall", "agreement", "questions", "samples",
)  # fmt: skip
MARKDOWN_RETRIEVAL = ("retrieval", "recall_at_k", "recall_at_k_zh", "recall_at_k_en", "mrr", "questions")
MARKDOWN_BEFORE_AFTER = (
    "label", "model", "grounded_before", "grounded_after", "difference", "lo", "hi", "p_holm", "refusal_recall_before",
    "refusal_recall_after", "over_refusal_before", "over_refusal_after", "recall_before", "recall_after", "questions",
)  # fmt: skip


def _md_cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "✓" if value else ""
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


P_VALUES = ("p_holm", "p_value")


def short_model(model: str) -> str:
    """A local model path as its file or folder name (the full path is in the "Answered by" line); a Hub id as is."""
    return Path(model).name if model.startswith(("/", ".", "~")) else model


def markdown_table(rows: list[Any], columns: tuple[str, ...]) -> str:
    """Typed rows as a Markdown table under the report's column labels; the baseline setting in bold, p-values
    below 0.001 as `< 0.001` rather than a rounded 0, local model paths by their file name."""
    flat = [_flat(r) for r in rows]
    head = "| " + " | ".join(display(c) for c in columns) + " |"
    numeric = {c for c in columns if any(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool) for r in flat)}
    rule = "|" + "|".join("---:" if c in numeric else "---" for c in columns) + "|"
    body = []
    for r in flat:
        cells = ["< 0.001" if c in P_VALUES and r.get(c) is not None and r[c] < 0.0005
                 else _md_cell(short_model(r[c]) if c == "model" else r.get(c)) for c in columns]
        if r.get("baseline") is True:
            cells[0] = f"**{cells[0]}** (baseline)"
        body.append("| " + " | ".join(cells) + " |")
    return "\n".join([head, rule, *body])


def stamp(meta: dict[str, Any], scored_by: str, command: str) -> str:
    """Where the numbers come from, from run.json: the run and its config, when it finished (UTC), the commit of
    the code that ran it and the host (and CPU) it ran on; and the commit of the code that scored it now
    (`scored_by`) with the `command` that did."""
    finished = meta.get("finished_at") or meta.get("started_at") or "unknown date"
    when = datetime.fromisoformat(finished).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if finished[:1].isdigit() else finished
    def short(commit: str | None) -> str:
        commit = str(commit or "unknown")
        return commit[:7] + commit[40:] if len(commit) >= 40 else commit  # keeps a `+dirty` mark

    config = meta.get("config", {})
    machine = f" ({describe(meta['machine'])})" if meta.get("machine") else ""  # runs before the field existed lack it
    return (
        f"Run {meta.get('run_id')} of config {config.get('name')} (hash {meta.get('config_hash')}), finished {when}, "
        f"code of commit {short(meta.get('git_commit'))}, host {meta.get('host', 'unknown')}{machine}; {meta.get('status')}; "
        f"scored at commit {short(scored_by)} by `{command}`."
    )


def render_markdown(data: RunData, summary: Summary, before: RunData | None = None) -> str:
    """The stamp, the notices, who answered, and the settings and retrieval tables of a run, as Markdown; with
    `before`, also each common setting before and after, paired over questions (`eval.regression`)."""
    commit = git_commit()
    command = f"python -m eval.report {data.meta.get('run_id')}"
    command += f" --compare {before.meta.get('run_id')} --markdown FILE" if before is not None else " --markdown FILE"
    lines = [stamp(data.meta, commit, command), ""]
    lines += [f"Note: {n}" for n in notices(summary)]
    lines += [
        f"Answered by {answered_by(summary)}; {len(data.questions)} questions, n = {data.meta.get('config', {}).get('n')}.",
        "",
        markdown_table(summary.settings, MARKDOWN_SETTINGS),
        "",
        markdown_table(summary.retrieval, MARKDOWN_RETRIEVAL),
    ]
    if before is not None:
        rows = before_after(compare_runs(data, before), summary.settings, summarize(before).settings,
                            matching_settings(data, before))
        if not rows:
            raise UserError(f"runs {data.meta.get('run_id')} and {before.meta.get('run_id')} share no scored setting to compare")
        lines += ["", f"Before: {stamp(before.meta, commit, command)}", ""]
        if unmatched := unmatched_parameters(data, before):
            lines += [f"Parameters only one of the runs records (settings matched on the others): {', '.join(unmatched)}.", ""]
        lines += [
            f"Before and after, per setting (difference = after − before, paired over the questions both runs answered, "
            f"95 % interval and Holm-adjusted p of `eval.stats.compare`):",
            "",
            markdown_table(rows, MARKDOWN_BEFORE_AFTER),
        ]
    return "\n".join(lines) + "\n"


def write_markdown(run_dir: Path, out: Path, before_dir: Path | None = None) -> Path:
    """Score the run from its folder and write its Markdown tables to `out` (with a before/after table against
    `before_dir` when given)."""
    data = load_run(run_dir)
    before = load_run(before_dir) if before_dir is not None else None
    out.write_text(render_markdown(data, summarize(data), before), encoding="utf-8")
    return out


# ---- CLI --------------------------------------------------------------------------------------------------


def resolve_run(spec: str, runs_dir: Path, name: str | None = None) -> Path:
    """A run folder from a path, a run id under `runs_dir`, or `latest` (newest complete run in runs.sqlite,
    of the config named `name` when given)."""
    if spec == "latest":
        db = runs_dir / INDEX_NAME
        if not db.is_file():
            raise UserError(f"no run index at {db}; run a sweep first or pass a run folder")
        with RunIndex(db) as index:
            runs = index.runs(name=name)
        if not runs:
            of = f" of config {name!r}" if name else ""
            raise UserError(f"{db} lists no complete run{of} yet; run a sweep first")
        return Path(runs[-1]["run_dir"])
    for candidate in (Path(spec), runs_dir / spec):
        if (candidate / "run.json").is_file():
            return candidate
    raise UserError(f"run {spec!r} not found (neither a folder with run.json nor a run id in {runs_dir})")


def references_for(run_dir: Path, runs_dir: Path, compare: str | None = None, reference: str | None = None
                   ) -> list[tuple[str, Path]]:
    """(role, run folder) of every run to check RUN against: `--compare`'s run alone; else the previous complete
    run of the same config hash and the pinned reference (`--reference`, else the config's pin in runs.sqlite),
    each once."""
    if compare:
        return [("compared run", resolve_run(compare, runs_dir))]
    found: list[tuple[str, Path]] = []
    db = run_dir.parent / INDEX_NAME
    run_id = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["run_id"]
    pinned = None
    if db.is_file():
        with RunIndex(db) as index:
            previous = index.previous_run(run_id)
            pinned = index.pinned_reference(run_id)
        if previous:
            found.append(("previous run", Path(previous["run_dir"])))
    chosen = resolve_run(reference, runs_dir) if reference else Path(pinned["run_dir"]) if pinned else None
    if chosen is not None and chosen.resolve() != run_dir.resolve() and all(chosen.resolve() != p.resolve() for _, p in found):
        found.append(("pinned reference", chosen))
    return found


def pin_reference(run_dir: Path) -> str:
    """Record RUN as the pinned reference of its config in the runs.sqlite next to it."""
    db = run_dir.parent / INDEX_NAME
    run_id = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["run_id"]
    if not db.is_file():
        raise UserError(f"no run index at {db}; only a run listed in runs.sqlite can be pinned")
    with RunIndex(db) as index:
        run = index.run(run_id)
        if run is None or run["status"] != "complete":
            raise UserError(f"run {run_id} is not a complete run in {db}; pin a complete run")
        index.pin(run_id, datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return run_id


def check_against(run_dir: Path, reference_dir: Path, tolerance: float, out=None, role: str = "") -> bool:
    """Print one line per common setting (to `out`, default stdout); True when any regressed."""
    changes = compare_runs(load_run(run_dir), load_run(reference_dir), tolerance=tolerance)
    if not changes:
        raise UserError(f"runs {run_dir.name} and {reference_dir.name} share no scored setting to compare")
    name = f"{role} {reference_dir.name}" if role else reference_dir.name
    for change in changes:
        print(change.describe(name, tolerance), file=out or sys.stdout)
    return any(c.regressed for c in changes)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="python -m eval.report", description=__doc__.split("\n")[0])
    parser.add_argument("run", nargs="?", help="run folder, run id under --runs, or `latest`")
    parser.add_argument("--runs", default=DEFAULT_RUNS_DIR, help=f"runs folder holding runs.sqlite (default {DEFAULT_RUNS_DIR})")
    parser.add_argument("--trend", action="store_true", help="draw grounded accuracy over time into RUNS/trend.png")
    parser.add_argument("--name", help="only runs of this config name (e.g. nightly): for `latest` and --trend")
    parser.add_argument("--compare", metavar="RUN", help="compare with this run only (instead of the previous run and the pinned reference)")
    parser.add_argument("--reference", metavar="RUN", help="the reference run to check against besides the previous one (default: the config's pin)")
    parser.add_argument("--pin", action="store_true", help="make RUN the pinned reference of its config in runs.sqlite")
    parser.add_argument("--fail-on-regression", action="store_true",
                        help="exit 1 when grounded accuracy dropped significantly by more than --tolerance")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help=f"largest accepted drop in grounded accuracy (default {DEFAULT_TOLERANCE})")
    parser.add_argument("--no-redraw", action="store_true", help="only compare; do not rewrite the report files")
    parser.add_argument("--markdown", metavar="FILE",
                        help="also write the run's settings and retrieval tables as Markdown, stamped with the run, date, commit and "
                             "host (with --compare: and a before/after table against that run)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)
    if isinstance(args, int):  # --help (0) or a bad flag (2, one line already printed)
        return args
    runs_dir = Path(args.runs)
    try:
        if args.trend:
            print(f"trend: {write_trend(runs_dir, name=args.name)}")
            if not args.run:
                return 0
        if not args.run:
            raise UserError("pass a run folder (or `latest`), or --trend")
        run_dir = resolve_run(args.run, runs_dir, args.name)
        if not args.no_redraw:
            files = write_report(run_dir)
            print(f"report: {files.html} ({len(files.figures)} figures, {files.summary.name})")
        if args.markdown:
            before = resolve_run(args.compare, runs_dir) if args.compare else None
            print(f"markdown: {write_markdown(run_dir, Path(args.markdown), before)}")
        if args.pin:
            print(f"pinned: {pin_reference(run_dir)} is the reference of its config")
        if args.compare or args.reference or args.fail_on_regression:
            references = references_for(run_dir, runs_dir, args.compare, args.reference)
            if not references:
                print(f"no earlier run of this config to compare {run_dir.name} with; nothing to check")
                return 0
            regressed = [ref.name for role, ref in references if check_against(run_dir, ref, args.tolerance, role=role)]
            if regressed and args.fail_on_regression:
                print(f"FAILED: grounded accuracy regressed against {', '.join(regressed)} by more than {args.tolerance} "
                      "(significant after Holm correction); see the REGRESSION lines above", file=sys.stderr)
                return 1
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
