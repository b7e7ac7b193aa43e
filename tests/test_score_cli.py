"""`python -m eval.score`: external answers scored with the report's scorer; output shapes and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eval import stats
from eval.analysis import RunData, snake_case, summarize as summarize_run
from eval.metrics import REASONS, SampleScore
from eval.qa import DEFAULT_QA, load_qa
from eval.score import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "eval" / "data" / "example_answers.jsonl"
GLM = "| GLM-130B | 2022-08 | Tsinghua | 中、英 | 130B | 400B |"


def _write(tmp_path: Path, rows: list[object]) -> Path:
    path = tmp_path / "answers.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")  # fmt: skip
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--qa", str(DEFAULT_QA), "--corpus", str(REPO / "corpus"), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_shipped_example_is_scored_per_setting(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--answers", str(EXAMPLE))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["setting", "grounded", "CI", "low"]
    careful, guessing = (line.split() for line in lines[1:3])
    assert careful[0] == "careful" and careful[1] == "1.000"
    assert guessing[0] == "guessing" and guessing[1] == "0.250"
    assert "verdicts (guessing): grounded correct 0.250, hedged 0.250, not cited 0.250, hallucinated 0.250" in out


def test_json_holds_every_score_field_with_the_reason_and_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--answers", str(EXAMPLE), "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"summary", "scores"}
    assert len(data["scores"]) == len(EXAMPLE.read_text(encoding="utf-8").splitlines())
    for row in data["scores"]:
        assert set(SampleScore.__dataclass_fields__) <= set(row)
        assert {"line", "setting", "question_id", "sample", "cited"} <= set(row)
        assert row["reason"] is None or row["reason"] in REASONS
    reasons = {(r["setting"], r["question_id"]): r["reason"] for r in data["scores"]}
    assert reasons[("guessing", "zh-table-003")] == "not cited"
    assert reasons[("guessing", "en-table-008")] == "hedged"
    assert reasons[("guessing", "zh-unans-001")] == "hallucinated"
    assert reasons[("careful", "zh-unans-001")] is None
    summary = {row["setting"]: row for row in data["summary"]}
    assert {"grounded acc", "CI low", "CI high", "hit (answerable)", "uncited correct", "refusal precision",
            "refusal recall", "over-refusal", "hallucination", "citation precision", "citation recall"} <= set(summary["careful"])  # fmt: skip
    assert (summary["guessing"]["uncited correct"], summary["guessing"]["refusal recall"]) == (pytest.approx(1 / 3, abs=1e-3), 0.0)


def test_out_writes_scores_and_summary(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = _run(capsys, "--answers", str(EXAMPLE), "--out", str(tmp_path / "scored"))
    assert code == 0 and "wrote" in out
    scores = [json.loads(line) for line in (tmp_path / "scored" / "scores.jsonl").read_text(encoding="utf-8").splitlines()]
    summary = json.loads((tmp_path / "scored" / "summary.json").read_text(encoding="utf-8"))
    assert len(scores) == 8 and [row["setting"] for row in summary] == ["careful", "guessing"]


def test_several_samples_per_question_keep_questions_as_the_unit(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = [{"doc": "002_6ac13b971160b9c7.txt", "text": GLM}]
    rows = [{"id": "zh-table-003", "answer": "400B [1]", "sources": src, "sample": s} for s in range(3)]
    rows += [{"id": "zh-table-005", "answer": "780B", "sources": [], "sample": s} for s in range(3)]  # uncited
    code, out, _ = _run(capsys, "--answers", str(_write(tmp_path, rows)), "--json")
    summary = json.loads(out)["summary"][0]
    expected = stats.proportion_ci(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]))
    assert code == 0 and (summary["questions"], summary["samples"]) == (2, 6)
    assert (summary["grounded acc"], summary["CI low"], summary["CI high"]) == (0.5, round(expected.lo, 3), round(expected.hi, 3))


def test_the_report_and_eval_score_give_the_same_numbers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The same answers as a run folder's records and as an answers file: one scorer, one set of columns."""
    answers = [json.loads(line) for line in EXAMPLE.read_text(encoding="utf-8").splitlines()]
    _, out, _ = _run(capsys, "--answers", str(EXAMPLE), "--json")
    by_score = {row["setting"]: row for row in json.loads(out)["summary"]}
    questions = {item.id: item for item in load_qa(DEFAULT_QA, REPO / "corpus") if item.id in {a["id"] for a in answers}}
    cells = [{"id": s, "label": s, "params": {}, "retrieval_id": "r", "in_grid": True} for s in by_score]
    retrievals = {(a["id"], "r"): {"question_id": a["id"], "retrieval_id": "r", "sources": [
        {"doc": src["doc"], "heading": "", "text": src["text"]} for src in a["sources"]], "recall_at_k": None, "mrr": None,
        "retrieve_ms": 1.0, "retrieval": {"k": 5, "hybrid": True, "rerank": False}} for a in answers}  # fmt: skip
    records = [{"key": f"{a['setting']}|{a['id']}", "model": "m", "setting_id": a["setting"], "question_id": a["id"],
                "sample": a["sample"], "answer": a["answer"], "retrieval_id": "r", "n_sources": len(a["sources"]),
                "new_tokens": 1, "truncated": False, "latency_ms": 1.0} for a in answers]  # fmt: skip
    meta = {"run_id": "x", "cells": cells, "baseline": "careful", "varying": []}
    report = summarize_run(RunData(tmp_path, meta, questions, retrievals, records))
    fields = {"grounded acc": "grounded_accuracy", "CI low": "ci_low", "CI high": "ci_high", "hit (answerable)": "hit_answerable",
              "uncited correct": "uncited_correct", "hallucination": "hallucination", "over-refusal": "over_refusal",
              "refusal precision": "refusal_precision", "refusal recall": "refusal_recall", "F1": "f1",
              "citation precision": "citation_precision", "citation recall": "citation_recall"}  # fmt: skip
    for row in report.settings:
        mine = by_score[row.label]
        for column, field in fields.items():
            assert getattr(row, field) == mine[column], column
    verdicts = {row.label: row.shares for row in report.answer_verdicts}
    assert all(verdicts[s][snake_case(r)] == by_score[s]["verdicts"][r] for s in by_score for r in REASONS)


GOOD = {"id": "zh-table-003", "answer": "400B [1]", "sources": [{"doc": "002_6ac13b971160b9c7.txt", "text": GLM}]}
BAD_LINES = {
    "malformed JSON": ('{"id": "zh-table-003", "answer":', "not valid JSON"),
    "not an object": ("[1, 2]", "expected a JSON object, got list"),
    "missing field": ({"id": "zh-table-003", "answer": "400B"}, "missing field(s) sources"),
    "unknown field": ({**GOOD, "samples": 1}, "unknown field(s) samples; allowed: id, answer, sources, sample, setting"),
    "unknown id": ({**GOOD, "id": "zh-table-999"}, "unknown id 'zh-table-999': not a question of the QA set"),
    "answer not a string": ({**GOOD, "answer": 400}, "answer must be a string, got 400"),
    "source without text": ({**GOOD, "sources": [{"doc": "a"}]}, 'source 1 must be an object with string fields "doc" and "text"'),
    "negative sample": ({**GOOD, "sample": -1}, "sample must be an integer >= 0, got -1"),
    "empty setting": ({**GOOD, "setting": " "}, "setting must be a non-empty string"),
    "duplicate": (GOOD, "a second answer for id 'zh-table-003', sample 0, setting 'default' (first on line 1)"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_input_exits_2_naming_the_line(case: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad, message = BAD_LINES[case]
    path = _write(tmp_path, [GOOD, "", bad])  # the bad answer is on line 3
    code, out, err = _run(capsys, "--answers", str(path))
    assert code == 2 and out == ""
    assert err.startswith(f"error: {path}:3: ") and message in err and err.count("\n") == 1


def test_missing_or_empty_answers_and_bad_out_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "--answers", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "answers file not found" in err
    code, _, err = _run(capsys, "--answers", str(_write(tmp_path, [""])))
    assert code == 2 and "no answers" in err
    (tmp_path / "file").write_text("x", encoding="utf-8")
    code, _, err = _run(capsys, "--answers", str(EXAMPLE), "--out", str(tmp_path / "file"))
    assert code == 2 and "is a file, not a folder" in err


def test_python_dash_m_eval_score_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "eval.score", "--answers", str(EXAMPLE)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].startswith("careful")
