"""The A/B bench: n samples per side through the generator's batch path, clustered by the eval's answer key,
scored for gold questions with the eval's scorer and statistics, stoppable, saved as a runnable sweep config."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from pathlib import Path

import pytest

from core.config import IndexSettings
from eval.metrics import REFUSED_KEY, score_sample
from eval.qa import Evidence, QAItem
from ingest.build import open_index
from rag.config import ModelSettings, SamplingParams, Settings
from rag.generators.extractive import ExtractiveGenerator
from rag.pipeline import Pipeline
from rag.templates import PROMPTS
from rag.types import Answer
from tests.fixtures.ui_pages import extractive, panel_values, tiny  # noqa: F401 (fixtures)
from ui import ab
from ui.app import StopSignal, accept_comparison, compare, parse_settings

PROMPT_NAMES = list(PROMPTS)
GOLD_QUESTION = "根据基础语言模型汇总表，PaLM 的训练 Tokens 规模是多少？"  # zh-table-005 of eval/data/qa.jsonl


class RecordingGenerator(ExtractiveGenerator):
    """The extractive generator with a batch method that records each call's rows (and can press Stop)."""

    def __init__(self, stop_after_calls: int | None = None, stop: threading.Event | None = None, failing_seed: int | None = None):
        self.calls: list[list[SamplingParams]] = []
        self.stop_after_calls, self.stop, self.failing_seed = stop_after_calls, stop, failing_seed

    def generate_many(self, messages, rows):
        self.calls.append(list(rows))
        if self.stop_after_calls is not None and len(self.calls) >= self.stop_after_calls:
            self.stop.set()  # the user presses Stop while this call runs
        out = super().generate_many(messages, rows)
        return [dataclasses.replace(g, answer="", error="HTTP 503 after 2 retries") if r.seed == self.failing_seed else g
                for r, g in zip(rows, out)]  # fmt: skip


def _run(pipeline, question, n, a: dict, b: dict, signal=None):
    signal = signal or StopSignal()
    accepted = accept_comparison(pipeline, PROMPT_NAMES, question, signal, n, *panel_values(pipeline, **a), *panel_values(pipeline, **b))
    steps = list(compare(pipeline, accepted[0], signal))
    return accepted, steps


def _counts(html: str) -> list[int]:
    return [int(c) for c in re.findall(r'<span class="rag-count"[^>]*>×(\d+)</span>', html)]


def test_n_samples_per_side_are_clustered_counted_and_reproducible(tiny):
    a, b = {"temperature": 1.0, "seed": 5}, {"temperature": 0.0, "seed": 5}
    accepted, steps = _run(tiny, "GPT-3 有多少参数？", 6, a, b)
    assert accepted[5] == "" and "rows done 0/12" in accepted[4]
    html_a, html_b, gold, progress = steps[-1]
    assert sum(_counts(html_a)) == 6 and sum(_counts(html_b)) == 6
    assert "rows done 12/12 · done" in progress and gold == ""  # not a gold question
    assert len(_counts(html_b)) == 1 and "agreement 1.00" in html_b  # greedy: six times the same answer
    assert "temperature=1.0" in html_a and "temperature=0.0" in html_b
    _, again = _run(tiny, "GPT-3 有多少参数？", 6, a, b)
    assert again[-1] == steps[-1]  # same seeds, same samples, same page


def test_sides_with_one_prompt_share_each_call_and_sample_i_uses_seed_plus_i(extractive):
    recorder = RecordingGenerator()
    pipeline = Pipeline(extractive.settings, index=extractive.index, generator=recorder)
    sides = {
        "A": parse_settings(pipeline.settings, panel_values(pipeline, seed=10, temperature=0.7), PROMPT_NAMES),
        "B": parse_settings(pipeline.settings, panel_values(pipeline, seed=10, temperature=1.0), PROMPT_NAMES),
    }
    *_, last = ab.sample_sides(pipeline, "GPT-3 有多少参数？", sides, 6)
    samples = last.samples
    assert [len(c) for c in recorder.calls] == [ab.ROWS_PER_CALL, 12 - ab.ROWS_PER_CALL]  # both sides per call
    rows = [r for call in recorder.calls for r in call]
    assert [(r.temperature, r.seed) for r in rows[:4]] == [(0.7, 10), (1.0, 10), (0.7, 11), (1.0, 11)]
    assert sorted((s.side, s.index) for s in samples) == [(side, i) for side in "AB" for i in range(6)]

    recorder.calls.clear()
    sides["B"] = parse_settings(pipeline.settings, panel_values(pipeline, k=2), PROMPT_NAMES)  # another prompt
    *_, last = ab.sample_sides(pipeline, "GPT-3 有多少参数？", sides, 3)
    assert [len(c) for c in recorder.calls] == [3, 3] and len(last.samples) == 6


def test_stop_ends_the_batch_between_calls_and_keeps_what_was_sampled(extractive):
    signal = StopSignal()
    recorder = RecordingGenerator(stop_after_calls=1, stop=signal.event)
    pipeline = Pipeline(extractive.settings, index=extractive.index, generator=recorder)
    _, steps = _run(pipeline, "GPT-3 有多少参数？", 6, {}, {"temperature": 1.0}, signal)
    html_a, html_b, _, progress = steps[-1]
    assert len(recorder.calls) == 1
    assert f"rows done {ab.ROWS_PER_CALL}/12 · stopped" in progress
    assert sum(_counts(html_a)) + sum(_counts(html_b)) == ab.ROWS_PER_CALL


def test_rows_whose_requests_failed_are_left_out_and_named(extractive):
    recorder = RecordingGenerator(failing_seed=2)
    pipeline = Pipeline(extractive.settings, index=extractive.index, generator=recorder)
    _, steps = _run(pipeline, "GPT-3 有多少参数？", 4, {}, {"temperature": 1.0})
    html_a, html_b, _, progress = steps[-1]
    assert "rows done 8/8 · done" in progress and "2 rows failed and are left out: sample 3 of A: HTTP 503" in progress
    assert sum(_counts(html_a)) == 3 and sum(_counts(html_b)) == 3


def test_a_gold_question_gets_accuracy_with_an_interval_and_a_paired_test(extractive):
    _, steps = _run(extractive, GOLD_QUESTION, 6, {"k": 5}, {"k": 1})
    html_a, html_b, gold, _ = steps[-1]
    assert "zh-table-005" in gold and "same question" in gold
    assert re.search(r"grounded accuracy [01]\.00 \[[01]\.00, [01]\.00\]", html_a)
    assert re.search(r'<span class="rag-pvalue">p = [\d.]+</span> \(mcnemar-exact over 6 sample pairs', gold)
    near = ab.find_gold(GOLD_QUESTION.replace("是多少", "有多少"), ab.gold_items(extractive))
    assert near.item.id == "zh-table-005" and ab.NEAR_MATCH <= near.similarity < 1


def _item(answerable=True) -> QAItem:
    return QAItem("q1", "zh", "GPT-3 有多少参数？", (("175B", "1750亿"),) if answerable else (), answerable, "number",
                  (Evidence("d.txt", "GPT-3 175B"),) if answerable else ())  # fmt: skip


def _sample(side: str, i: int, text: str, correct_source: bool = True) -> ab.Sample:
    refused = text.startswith("资料中没有")
    cited = ["GPT-3 有 175B 参数。"] if correct_source else ["无关"]
    answer = Answer("q", text, refused, None, False, [], [], {}, "m", "b", {}, {})
    return ab.Sample(side, i, answer, ab.answer_key(text, refused, _item()), score_sample(text, _item(), cited, refused=refused))


def test_clusters_agreement_refusal_share_and_the_paired_test_follow_the_eval_definitions():
    a = [_sample("A", i, t) for i, t in enumerate(["175B [1]", "175B [2]", "1750亿", "资料中没有找到相关信息。"])]
    summary = ab.summarize_side(a)
    # One distinct answer whatever the wording: markers ignored, 175B = 1750亿 (the eval's canonical key).
    assert [(c.count, c.key) for c in summary.clusters] == [(3, ab.answer_key("175B", False, _item())), (1, REFUSED_KEY)]
    assert ab.answer_key("175B", False) == ab.answer_key("1750亿", False) != ab.answer_key("GPT-3 很大", False)
    assert summary.agreement == 0.75 and summary.refusal_share == 0.25
    assert ab.answer_key("资料中没有找到相关信息。", True) == REFUSED_KEY
    assert summary.accuracy.mean == 0.75 and 0 <= summary.accuracy.lo <= 0.75 <= summary.accuracy.hi <= 1
    # 7 pairs where only A is right: exact McNemar p = 2 · 0.5^7
    a = [_sample("A", i, "175B") for i in range(8)]
    b = [_sample("B", i, "资料中没有找到相关信息。") for i in range(7)] + [_sample("B", 7, "175B")]
    comparison = ab.paired_comparison(a, b)
    assert comparison.test == "mcnemar-exact" and comparison.p_value == pytest.approx(2 * 0.5**7)
    assert comparison.difference == pytest.approx(-7 / 8) and comparison.n_questions == 8
    assert ab.paired_comparison(a, b[:3]).n_questions == 3  # a stopped side: only the pairs both have


def test_bad_sample_counts_are_refused_with_the_range(extractive):
    for bad in (0, 21, 2.5, None):
        accepted = accept_comparison(extractive, PROMPT_NAMES, "GPT-3 有多少参数？", StopSignal(), bad, *panel_values(extractive), *panel_values(extractive))
        assert accepted[0] is None and "samples per side" in accepted[5]
    values = panel_values(extractive) + panel_values(extractive, top_p=0)
    accepted = accept_comparison(extractive, PROMPT_NAMES, "GPT-3 有多少参数？", StopSignal(), 6, *values)
    assert accepted[0] is None and "settings B: top_p must be in (0, 1]" in accepted[5]


def test_the_saved_sweep_config_runs_both_settings_in_eval_run(extractive, tmp_path):
    from eval.run import main

    accepted = accept_comparison(extractive, PROMPT_NAMES, "GPT-3 有多少参数？", StopSignal(), 3,
                                 *panel_values(extractive, temperature=0.2), *panel_values(extractive, temperature=0.9))  # fmt: skip
    config = Path(accepted[6])
    assert config.name == "ab-sweep.yaml" and "python -m eval.run --config" in config.read_text(encoding="utf-8")
    assert main(["--config", str(config), "--limit", "2", "--out", str(tmp_path), "--quiet"]) == 0
    run = json.loads(next(tmp_path.glob("*/run.json")).read_text())
    assert run["status"] == "complete" and run["config"]["n"] == 3
    assert sorted(c["params"]["temperature"] for c in run["cells"]) == [0.2, 0.9]
    assert run["generated"] + run["cached"] == 2 * 2 * 3  # 2 questions × 2 settings × 3 samples


def test_a_corpus_the_gold_set_does_not_fit_still_compares_and_says_why(extractive, tmp_path):
    (tmp_path / "notes.md").write_text("# Notes\nGPT-3 有 175B 参数。\n", encoding="utf-8")
    own = Settings(index=IndexSettings(corpus=str(tmp_path), index=str(tmp_path / "idx"), embedder="minilm"),
                   model=ModelSettings(backend="extractive"), sampling=SamplingParams(max_new_tokens=8))  # fmt: skip
    pipeline = Pipeline(own, index=open_index(own.index, progress=False))
    accepted, steps = _run(pipeline, GOLD_QUESTION, 2, {}, {})
    assert "No gold comparison" in accepted[3] and "is not a file in" in accepted[3]
    html_a, _, gold, progress = steps[-1]
    assert "No gold comparison" in gold and "rows done 4/4 · done" in progress and sum(_counts(html_a)) == 2
