"""The sweep end to end: the smoke config on the tiny random Qwen3 and the bundled-embedder corpus index.

Records and their keys, resume after Ctrl-C, cache hits on re-run, only new cells for a new grid value, the
report files, regression gating on a doctored run, the trend figure, and the CLI with the extractive backend.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import sqlite3
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bench.openai_stub import OpenAIStub
from eval.analysis import load_run, score_records
from eval.config import EvalConfig, load_eval_config
from eval.records import read_jsonl, sample_seed
from eval.report import check_against, write_report
from eval.report import main as report_main
from eval.run import CACHE_FILE, run_sweep
from eval.run import main as run_main
from eval.stats import proportion_ci
from rag.refusal import is_refusal
from rag.templates import template_hash

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REPO = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
QUESTIONS = 3
CELLS = 2 * 2 + 1  # temperature × top_p, plus the closed-book control
SAMPLES = 2


@pytest.fixture(scope="module")
def smoke_config(tiny_qwen_dir, corpus_dir, corpus_index_dir) -> EvalConfig:
    config = load_eval_config(REPO / "eval/configs/smoke.yaml")
    return config.with_overrides(
        models=(str(tiny_qwen_dir),),
        limit=QUESTIONS,
        index=replace(config.index, corpus=str(corpus_dir), index=str(corpus_index_dir), embedder="minilm"),
    )


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, smoke_config, corpus_index):
    runs = tmp_path_factory.mktemp("runs")
    result = run_sweep(smoke_config, runs, progress=False, index=corpus_index)
    return runs, result, write_report(result.run_dir)


def _records(run_dir: Path) -> list[dict]:
    return list(read_jsonl(run_dir / "records.jsonl"))


def test_smoke_sweep_records_every_sample_with_its_provenance(smoke_run, smoke_config, corpus_index):
    runs, result, _ = smoke_run
    assert result.status == "complete"
    assert (result.generated, result.cached) == (QUESTIONS * CELLS * SAMPLES, 0)
    records = _records(result.run_dir)
    assert len(records) == len({r["key"] for r in records}) == QUESTIONS * CELLS * SAMPLES
    assert len(list(read_jsonl(runs / CACHE_FILE))) == len(records)
    for r in records:
        assert r["seed"] == sample_seed(smoke_config.seed, r["question_id"], r["sample"])
        assert r["index_hash"] == corpus_index.manifest.hash
        assert r["prompt_hash"] == template_hash(r["prompt"])
        assert r["backend"] == "transformers" and re.fullmatch(r"[0-9a-f]{12}", r["revision"])
        assert re.match(r"[0-9a-f]{40}", r["git_commit"])
        assert 1 <= r["new_tokens"] <= 24
        if r["prompt"] == "closed_book":
            assert r["n_sources"] == 0 and r["retrieval_id"] is None and r["batch_rows"] == SAMPLES
        else:
            # One prompt per question: all 4 sampling cells × 2 samples decoded as one batch.
            assert 1 <= r["n_sources"] <= 3 and r["batch_rows"] == 4 * SAMPLES
    # Common random numbers: sample i of a question has one seed under every setting, and only that one.
    seeds = {(r["question_id"], r["sample"]): set() for r in records}
    for r in records:
        seeds[(r["question_id"], r["sample"])].add(r["seed"])
    assert all(len(s) == 1 for s in seeds.values()) and len(set().union(*seeds.values())) == QUESTIONS * SAMPLES
    # The random model's sampled answers differ somewhere.
    assert len({r["answer"] for r in records}) > len(records) // 2


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])


def test_report_files_are_valid(smoke_run):
    runs, result, files = smoke_run
    names = {p.name for p in files.figures}
    assert {"settings.png", "heatmap_accuracy.png", "heatmap_agreement.png", "parameters.png", "importance.png",
            "breakdown.png", "failures.png"} <= names
    for path in files.figures:
        assert path.read_bytes().startswith(PNG) and path.stat().st_size > 5000
    parser = _Images()
    parser.feed(files.html.read_text(encoding="utf-8"))
    assert len(parser.images) == len(files.figures)
    for src in parser.images:  # self-contained: every figure is embedded
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    summary = json.loads(files.summary.read_text(encoding="utf-8"))
    assert len(summary["settings"]) == CELLS
    assert sum(r["baseline"] for r in summary["settings"]) == 1
    # Each setting's accuracy is the mean over the questions of each question's share of grounded-correct samples
    # (never samples pooled as if they were questions), with the interval of exactly those per-question shares.
    scored = score_records(load_run(result.run_dir))
    for setting in summary["settings"]:
        shares: dict[str, list[bool]] = {}
        for row in scored:
            if row["setting_id"] == setting["setting_id"]:
                shares.setdefault(row["question_id"], []).append(row["grounded_correct"])
        assert len(shares) == QUESTIONS and all(len(s) == SAMPLES for s in shares.values())
        means = [sum(s) / SAMPLES for s in shares.values()]
        interval = proportion_ci(means)
        assert (setting["grounded_accuracy"], setting["ci_low"], setting["ci_high"]) == (
            round(sum(means) / QUESTIONS, 3), round(interval.lo, 3), round(interval.hi, 3)), setting["label"]
    assert len(summary["comparisons_vs_baseline"]) == CELLS - 1
    assert {e["parameter"] for e in summary["main_effects"]} == {"temperature", "top_p"}
    assert summary["retrieval"][0]["questions"] == QUESTIONS
    for verdicts in summary["answer_verdicts"]:  # every sample is correct or fails for exactly one reason
        assert verdicts["samples"] == QUESTIONS * SAMPLES
        assert sum(verdicts["shares"].values()) == pytest.approx(1.0, abs=0.01)
    assert all(0 <= r["uncited_correct"] <= r["hit_answerable"] for r in summary["settings"])
    assert "Answer verdicts" in files.html.read_text(encoding="utf-8")
    db = sqlite3.connect(runs / "runs.sqlite")
    assert db.execute("SELECT status, questions FROM runs WHERE run_id = ?", (result.run_id,)).fetchone() == ("complete", QUESTIONS)
    assert db.execute("SELECT count(*) FROM settings WHERE run_id = ?", (result.run_id,)).fetchone() == (CELLS,)


@pytest.mark.parametrize("cjk_font", [True, False])
def test_figures_are_bilingual_with_a_cjk_font_and_english_without(smoke_run, monkeypatch, cjk_font):
    """Without a CJK font the labels are English only: no boxes, no "Glyph missing" warnings."""
    import warnings

    import matplotlib
    from matplotlib.text import Text

    from eval import figures
    from eval.analysis import summarize
    from eval.report import draw_figures

    _, result, _ = smoke_run
    texts: list[str] = []
    save = figures._save
    monkeypatch.setattr(figures, "_save", lambda fig, path: (texts.extend(t.get_text() for t in fig.findobj(Text)), save(fig, path))[1])
    monkeypatch.setattr(figures, "pick_cjk_font", lambda: "Noto Sans CJK SC" if cjk_font else None)
    figures.setup_matplotlib.cache_clear()
    try:
        data = load_run(result.run_dir)
        # DejaVu Sans alone has no Chinese glyphs: any Chinese label left would warn "Glyph … missing".
        with matplotlib.rc_context({"font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"]}), warnings.catch_warnings():
            if not cjk_font:
                warnings.simplefilter("error")
            drawn = draw_figures(data, summarize(data))
    finally:
        figures.setup_matplotlib.cache_clear()
    assert len(drawn) >= 7 and texts
    chinese = [t for t in texts if re.search(r"[\u4e00-\u9fff]", t)]
    if cjk_font:
        assert any("有据正确率 grounded accuracy" in t for t in chinese)
    else:
        assert chinese == [] and any("grounded accuracy" in t for t in texts)
    # Heatmap cells: value, ± CI half-width and the question count; the legend names the best set and baseline.
    assert any(re.fullmatch(r"\d\.\d\d( ★)?\n±\d\.\d\d n=3", t) for t in texts)
    assert any("red = best set" in t and "orange dashes = baseline" in t for t in texts)


def test_rerun_is_all_cache_hits(smoke_run, smoke_config, corpus_index):
    runs, first, _ = smoke_run
    again = run_sweep(smoke_config, runs, progress=False, index=corpus_index)
    assert (again.generated, again.cached) == (0, QUESTIONS * CELLS * SAMPLES)
    before = {r["key"]: r["answer"] for r in _records(first.run_dir)}
    assert {r["key"]: r["answer"] for r in _records(again.run_dir)} == before


def test_a_new_grid_value_generates_only_the_new_cells(smoke_run, smoke_config, corpus_index):
    runs, _, _ = smoke_run
    wider = smoke_config.with_overrides(sampling={**smoke_config.sampling, "top_p": (0.8, 0.95, 0.9)})
    result = run_sweep(wider, runs, progress=False, index=corpus_index)
    new_cells = 2  # two temperatures × the new top_p
    assert result.generated == QUESTIONS * new_cells * SAMPLES
    assert result.cached == QUESTIONS * CELLS * SAMPLES


def test_interrupted_sweep_resumes_without_regenerating(tmp_path, smoke_run, smoke_config, corpus_index):
    _, uninterrupted, _ = smoke_run
    finished = []

    def ctrl_c_after_seven(record):
        finished.append(record)
        if len(finished) == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(smoke_config, tmp_path, progress=False, on_record=ctrl_c_after_seven, index=corpus_index)
    stopped = next(p for p in tmp_path.iterdir() if (p / "run.json").exists())
    assert json.loads((stopped / "run.json").read_text())["status"] == "interrupted"
    assert len(list(read_jsonl(tmp_path / CACHE_FILE))) == 7  # nothing finished was lost

    resumed = run_sweep(smoke_config, tmp_path, progress=False, index=corpus_index)
    assert (resumed.generated, resumed.cached) == (QUESTIONS * CELLS * SAMPLES - 7, 7)
    records = {r["key"]: r for r in _records(resumed.run_dir)}
    assert all(records[r["key"]]["created_at"] == r["created_at"] for r in finished)
    # Per-sample seeds and per-row random streams: resuming gives exactly the uninterrupted run's answers.
    assert {k: r["answer"] for k, r in records.items()} == {r["key"]: r["answer"] for r in _records(uninterrupted.run_dir)}


def _unanswerable_qa(tmp_path: Path, count: int) -> Path:
    lines = [line for line in (REPO / "eval/data/qa.jsonl").read_text(encoding="utf-8").splitlines()
             if line.strip() and not json.loads(line)["answerable"]][:count]
    path = tmp_path / "unanswerable.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _doctor(run_dir: Path, out: Path, answer: str) -> Path:
    shutil.copytree(run_dir, out)
    lines = [json.dumps({**r, "answer": answer}, ensure_ascii=False) for r in read_jsonl(out / "records.jsonl")]
    (out / "records.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def test_cli_extractive_run_and_regression_gate(tmp_path, corpus_index_dir, capsys):
    """`python -m eval.run` on the extractive backend, then `eval.report --fail-on-regression` against a pinned
    reference: the real run refuses most of these unanswerable questions (rag.answerability), so a doctored copy
    that answers every one of them is a regression against it; an identical copy passes."""
    runs = tmp_path / "runs"
    qa = _unanswerable_qa(tmp_path, 12)
    code = run_main(["--config", str(REPO / "eval/configs/smoke.yaml"), "--backend", "extractive", "--qa", str(qa),
                     "--limit", "12", "--index", str(corpus_index_dir), "--out", str(runs), "--quiet"])
    assert code == 0
    run_dir = next(p for p in runs.iterdir() if (p / "report.html").exists())
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert next(r for r in summary["settings"] if r["baseline"])["grounded_accuracy"] >= 0.5
    # On unanswerable questions a refusal is the correct answer, and the extractive backend answers every sample of
    # a question alike: each setting's accuracy is the share of the 12 questions it refused.
    records = _records(run_dir)
    for setting in summary["settings"]:
        refused = {}
        for r in records:
            if r["setting_id"] == setting["setting_id"]:
                refused.setdefault(r["question_id"], set()).add(is_refusal(r["answer"]))
        assert len(refused) == 12 and all(len(v) == 1 for v in refused.values())
        assert setting["grounded_accuracy"] == round(sum(v == {True} for v in refused.values()) / 12, 3), setting["label"]
    # The closed-book control refuses all 12: accuracy 1 with the exact binomial interval [0.025^(1/12), 1].
    closed = next(r for r in summary["settings"] if r["label"].startswith("closed-book"))
    assert (closed["grounded_accuracy"], closed["ci_low"], closed["ci_high"]) == (1.0, 0.735, 1.0)

    answering = _doctor(run_dir, runs / "answering", "GPT-3 有 175B 参数 [1]。")  # beside its runs.sqlite
    same = Path(shutil.copytree(run_dir, tmp_path / "same"))
    assert check_against(answering, run_dir, tolerance=0.02) is True
    assert check_against(run_dir, same, tolerance=0.02) is False
    capsys.readouterr()
    assert report_main([str(answering), "--runs", str(runs), "--fail-on-regression", "--compare", str(run_dir)]) == 1
    captured = capsys.readouterr()
    assert "REGRESSION" in captured.out and "FAILED" in captured.err
    assert report_main([str(run_dir), "--runs", str(runs), "--fail-on-regression", "--compare", str(same)]) == 0
    # A drop within the tolerance passes (the doctored copy answers nothing right: the drop is the run's accuracy).
    drop = max(r["grounded_accuracy"] for r in summary["settings"])  # closed book included: it refuses everything
    assert report_main([str(answering), "--runs", str(runs), "--fail-on-regression", "--compare", str(run_dir),
                        "--tolerance", f"{min(1.0, drop + 0.01):.4f}", "--no-redraw"]) == 0

    # The before/after Markdown (docs/results.md's tables): each common setting's numbers from both runs' own
    # summaries, the paired difference, and a stamp line per run naming the command.
    table = tmp_path / "before-after.md"
    assert report_main([str(answering), "--compare", str(run_dir), "--no-redraw", "--markdown", str(table)]) == 0
    text = table.read_text(encoding="utf-8")
    assert f"--compare {run_dir.name} --markdown FILE" in text.splitlines()[0]
    assert text.count("Before: Run ") == 1
    after = {r["setting_id"]: r for r in json.loads((answering / "summary.json").read_text(encoding="utf-8"))["settings"]}
    rows = [line.split(" | ") for line in text.split("Before and after")[1].splitlines() if line.startswith("| ") and " | extractive | " in line]
    assert len(rows) == len(summary["settings"])
    for row, before in zip(rows, summary["settings"]):
        now = after[before["setting_id"]]
        assert row[0] == f"| {before['label']}" and float(row[2]) == before["grounded_accuracy"] and float(row[3]) == now["grounded_accuracy"] == 0
        assert abs(float(row[4]) + before["grounded_accuracy"]) < 0.0015  # after − before
        assert (float(row[8]), float(row[9])) == (before["refusal_recall"], now["refusal_recall"])
    capsys.readouterr()

    # Without --compare the reference is the previous run of the same config: none yet for the first run.
    capsys.readouterr()
    assert report_main([str(run_dir), "--runs", str(runs), "--fail-on-regression", "--no-redraw"]) == 0
    assert "no earlier run" in capsys.readouterr().out
    assert report_main(["--trend", "--runs", str(runs)]) == 0
    assert (runs / "trend.png").read_bytes().startswith(PNG)
    assert report_main(["nope", "--runs", str(runs)]) == 2
    assert "not found" in capsys.readouterr().err
    # `latest` of one config: the smoke run is found by name, a config that never ran is a clear error.
    assert report_main(["latest", "--name", "smoke", "--runs", str(runs), "--no-redraw", "--fail-on-regression"]) == 0
    assert report_main(["latest", "--name", "nightly", "--runs", str(runs)]) == 2
    assert "no complete run of config 'nightly'" in capsys.readouterr().err

    # A pinned reference: the doctored run is checked against the previous run (an identical doctored copy: ok)
    # and against the pinned real run (a regression), and fails on the second.
    from eval.run_index import RunIndex

    meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    with RunIndex(runs / "runs.sqlite") as index:
        for source, name, started in ((run_dir, "good", "2000-01-01T00:00:00+00:00"), (answering, "previous", "2000-01-02T00:00:00+00:00")):
            folder = Path(shutil.copytree(source, runs / name))
            (folder / "run.json").write_text(json.dumps({**meta, "run_id": name, "started_at": started}), encoding="utf-8")
            index.start_run(run_id=name, run_dir=str(folder), name=meta["name"], config_hash=meta["config_hash"],
                            started_at=started, models=["extractive"], backend="extractive", git_commit="x")
            index.finish_run(name, status="complete", finished_at=started)
    capsys.readouterr()
    assert report_main(["good", "--runs", str(runs), "--pin", "--no-redraw"]) == 0
    assert "pinned: good is the reference of its config" in capsys.readouterr().out
    assert report_main([str(answering), "--runs", str(runs), "--fail-on-regression", "--no-redraw"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^ok: .* vs previous run previous, tolerance", out, re.M)
    assert re.search(r"^REGRESSION: .* vs pinned reference good, tolerance", out, re.M)
    assert report_main(["previous", "--runs", str(runs), "--pin", "--no-redraw"]) == 0  # re-pinned: the real run passes both
    assert report_main([str(run_dir), "--runs", str(runs), "--fail-on-regression", "--no-redraw"]) == 0


def test_report_of_a_damaged_or_foreign_folder_is_a_user_error(tmp_path, capsys):
    assert report_main([str(tmp_path), "--runs", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err
    with pytest.raises(Exception, match="run.json"):
        load_run(tmp_path)


def test_missing_model_fails_fast_unless_the_config_allows_the_extractive_fallback(tmp_path, corpus_index_dir, capsys):
    common = ["--limit", "2", "--index", str(corpus_index_dir), "--out", str(tmp_path), "--quiet", "--no-report"]
    missing = str(tmp_path / "no-such-model")
    assert run_main(["--config", str(REPO / "eval/configs/nightly.yaml"), "--model", missing, *common]) == 2
    assert "no-such-model" in capsys.readouterr().err
    assert not list(tmp_path.glob("*/retrievals.jsonl"))  # failed before retrieving anything

    assert run_main(["--config", str(REPO / "eval/configs/smoke.yaml"), "--model", missing, *common]) == 0
    assert "answering extractively" in capsys.readouterr().err
    run_dir = max(p for p in tmp_path.iterdir() if (p / "records.jsonl").exists())
    assert {r["model"] for r in _records(run_dir)} == {"extractive"}  # labelled as what really answered


def test_openai_sweep_asks_n_samples_per_cell_and_records_the_seed_it_sent(tmp_path, corpus_index_dir):
    """One request per question and cell with the config's n; each record keeps its own key seed and the
    seed that request actually carried (sample 0's)."""
    stub = OpenAIStub().start()
    try:
        runs = tmp_path / "runs"
        code = run_main(["--config", str(REPO / "eval/configs/smoke.yaml"), "--backend", "openai", "--base-url",
                         stub.base_url, "--model", "tiny-qwen", "--limit", "2", "--index", str(corpus_index_dir),
                         "--out", str(runs), "--quiet", "--no-report"])
        requests = [r for r in stub.requests if "messages" in r]
    finally:
        stub.stop()
    assert code == 0
    assert len(requests) == 2 * CELLS and {r["n"] for r in requests} == {SAMPLES}
    records = list(read_jsonl(next(runs.glob("2*/records.jsonl"))))
    assert len(records) == 2 * CELLS * SAMPLES
    for rec in records:
        first = next(r for r in records if (r["question_id"], r["setting_id"], r["sample"]) == (rec["question_id"], rec["setting_id"], 0))
        assert rec["request_seed"] == first["seed"] and rec["batch_rows"] == SAMPLES
    assert {r["seed"] for r in requests} == {r["request_seed"] for r in records}
