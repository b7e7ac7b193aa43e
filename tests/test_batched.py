"""Shared-prefill batched sampling: same distributions as transformers' warpers, same greedy tokens as generate."""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")

from rag.config import SamplingParams  # noqa: E402
from rag.generators.batched import (  # noqa: E402
    RowLogitsProcessor,
    pick_tokens,
    sample_batched,
    sample_sequential,
    stop_token_ids,
    warp_logits,
)
from tests.fixtures.tiny_qwen import load_lively_qwen  # noqa: E402

PROMPT = "大型语言模型的历史：GPT-3 在 2020 年发布，参数量为 1750 亿。What came after it?"


@pytest.fixture(scope="module")
def tokenizer(tiny_qwen_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_qwen_dir)


@pytest.fixture(scope="module")
def lively_model(tiny_qwen_dir):
    """The tiny Qwen3 with varied, peaked outputs (`load_lively_qwen`)."""
    return load_lively_qwen(tiny_qwen_dir)


@pytest.fixture(scope="module")
def prompt_ids(tokenizer):
    messages = [{"role": "user", "content": PROMPT}]
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, enable_thinking=False, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _transformers_processors(model, params: SamplingParams, prompt_len: int):
    """The processor list `generate` itself builds for these settings (sampling mode)."""
    from transformers import GenerationConfig, LogitsProcessorList

    config = GenerationConfig(
        do_sample=True,
        temperature=params.temperature,
        top_k=params.top_k,
        top_p=params.top_p,
        min_p=params.min_p,
        repetition_penalty=params.repetition_penalty,
    )
    return model._get_logits_processor(
        generation_config=config,
        input_ids_seq_length=prompt_len,
        logits_processor=LogitsProcessorList(),
        device="cpu",
        model_kwargs={"attention_mask": torch.ones(1, prompt_len, dtype=torch.long)},
    )


def test_transformers_applies_penalty_then_temperature_top_k_top_p_min_p(lively_model):
    params = SamplingParams(temperature=0.7, top_k=20, top_p=0.8, min_p=0.05, repetition_penalty=1.2)
    names = [type(p).__name__ for p in _transformers_processors(lively_model, params, 5)]
    assert names == [
        "RepetitionPenaltyLogitsProcessor",
        "TemperatureLogitsWarper",
        "TopKLogitsWarper",
        "TopPLogitsWarper",
        "MinPLogitsWarper",
    ]


@pytest.mark.parametrize("vocab", [64, 3000])
def test_row_processing_matches_transformers_warpers(lively_model, vocab):
    """Many random settings and logits (coarse values: ties at the top-k edge; -inf entries): equal softmax."""
    rng = random.Random(vocab)
    gen = torch.Generator().manual_seed(vocab)
    rows = [
        SamplingParams(
            temperature=rng.choice([0.05, 0.3, 0.7, 1.0, 1.0, 1.5]),
            top_k=rng.choice([0, 1, 2, 5, 20, vocab, vocab + 7]),
            top_p=rng.choice([1.0, 1.0, 0.99, 0.9, 0.8, 0.5, 0.05]),
            min_p=rng.choice([0.0, 0.0, 0.02, 0.1, 0.5]),
            repetition_penalty=rng.choice([1.0, 1.0, 1.3, 0.8]),
        )
        for _ in range(120)
    ]
    logits = torch.round(torch.randn(len(rows), vocab, generator=gen) * 3) / 2  # many exact ties
    logits[torch.rand(len(rows), vocab, generator=gen) < 0.05] = float("-inf")
    context = torch.randint(0, vocab, (len(rows), 12), generator=gen)
    seen = torch.zeros(len(rows), vocab, dtype=torch.bool)
    seen[torch.arange(len(rows))[:, None], context] = True

    ours = RowLogitsProcessor(rows)(logits, seen)
    for i, params in enumerate(rows):
        reference = _transformers_processors(lively_model, params, context.shape[1])(context[i : i + 1], logits[i : i + 1])[0]
        assert torch.equal(torch.isinf(ours[i]), torch.isinf(reference)), f"row {i} {params}: different tokens kept"
        torch.testing.assert_close(ours[i].softmax(-1), reference.softmax(-1), atol=1e-6, rtol=0, msg=f"row {i} {params}")


def test_warp_logits_keeps_every_token_tied_at_the_top_k_edge():
    logits = torch.tensor([[3.0, 2.0, 2.0, 2.0, 1.0, 0.0]])
    warped = warp_logits(logits, torch.tensor([1.0]), torch.tensor([2]), torch.tensor([1.0]), torch.tensor([0.0]))
    assert torch.isinf(warped[0]).tolist() == [False, False, False, False, True, True]


def test_greedy_rows_equal_generate_tokens(lively_model, tokenizer, prompt_ids):
    rows = [
        SamplingParams(temperature=0, max_new_tokens=24),
        SamplingParams(temperature=0, repetition_penalty=1.3, max_new_tokens=24),
        SamplingParams(temperature=0.8, top_k=10, max_new_tokens=24),  # shares the batch, must not disturb them
    ]
    batched = sample_batched(lively_model, tokenizer, prompt_ids, rows, [1, 2, 3])
    reference = sample_sequential(lively_model, tokenizer, prompt_ids, rows[:2], [1, 2])
    for ours, theirs in zip(batched, reference):
        assert ours.token_ids == theirs.token_ids
        assert ours.text == theirs.text and ours.finished_by_eos == theirs.finished_by_eos
    assert len(set(batched[0].token_ids)) > 5, "the model should not repeat one token"
    assert batched[0].token_ids != batched[1].token_ids, "the repetition penalty should change greedy output"
    assert lively_model.config._attn_implementation == "sdpa", "the attention implementation must be restored"


def test_row_output_does_not_depend_on_its_batch(lively_model, tokenizer, prompt_ids):
    rows = [
        SamplingParams(temperature=0.7, top_p=0.8, top_k=20, max_new_tokens=10),
        SamplingParams(temperature=1.0, top_p=1.0, top_k=0, min_p=0.05, max_new_tokens=4),
        SamplingParams(temperature=0, max_new_tokens=6),
        SamplingParams(temperature=1.3, top_p=0.95, top_k=50, repetition_penalty=1.2, max_new_tokens=12),
    ]
    seeds = [11, 12, 13, 14]
    together = sample_batched(lively_model, tokenizer, prompt_ids, rows, seeds)
    for row, seed, in_batch in zip(rows, seeds, together):
        alone = sample_batched(lively_model, tokenizer, prompt_ids, [row], [seed])[0]
        assert alone == in_batch
    again = sample_batched(lively_model, tokenizer, prompt_ids, rows, seeds)
    assert again == together
    other_seed = sample_batched(lively_model, tokenizer, prompt_ids, rows[:1], [99])[0]
    assert other_seed.token_ids != together[0].token_ids


def test_rows_stop_independently_at_their_budget_or_a_stop_token(lively_model, tokenizer, prompt_ids):
    budgets = [1, 3, 7, 12]
    rows = [SamplingParams(temperature=0.9, max_new_tokens=n) for n in budgets]
    samples = sample_batched(lively_model, tokenizer, prompt_ids, rows, [5, 6, 7, 8])
    assert [s.new_tokens for s in samples] == budgets
    assert all(len(s.token_ids) == s.new_tokens and not s.finished_by_eos for s in samples)

    greedy = sample_batched(lively_model, tokenizer, prompt_ids, [SamplingParams(temperature=0, max_new_tokens=12)], [0])
    stop_at = greedy[0].token_ids[3]
    first = greedy[0].token_ids.index(stop_at)
    saved = lively_model.generation_config.eos_token_id
    lively_model.generation_config.eos_token_id = [*saved, stop_at]  # pretend that token ends the answer
    try:
        rows = [SamplingParams(temperature=0, max_new_tokens=12), SamplingParams(temperature=0, max_new_tokens=2)]
        stopped, short = sample_batched(lively_model, tokenizer, prompt_ids, rows, [0, 0])
        reference = sample_sequential(lively_model, tokenizer, prompt_ids, rows[:1], [0])[0]
    finally:
        lively_model.generation_config.eos_token_id = saved
    assert stopped.token_ids == greedy[0].token_ids[: first + 1] == reference.token_ids
    assert stopped.finished_by_eos and reference.finished_by_eos
    assert stopped.text == tokenizer.decode(greedy[0].token_ids[:first], skip_special_tokens=False)
    assert short.token_ids == greedy[0].token_ids[:2] and not short.finished_by_eos


def test_stop_tokens_come_from_generation_config_and_tokenizer(lively_model, tokenizer):
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert stop_token_ids(lively_model, tokenizer) == {im_end, pad}


def test_first_token_frequencies_match_the_warped_distribution(lively_model, tokenizer, prompt_ids):
    """Chi-square: 2,000 seeds of one setting against the distribution transformers' warpers give."""
    from scipy.stats import chisquare

    params = SamplingParams(temperature=1.5, top_k=30, top_p=0.95, min_p=0.02, repetition_penalty=1.1, max_new_tokens=1)
    n = 2000
    samples = sample_batched(lively_model, tokenizer, prompt_ids, [params] * n, list(range(n)))
    counts = torch.bincount(torch.tensor([s.token_ids[0] for s in samples]), minlength=len(tokenizer)).double()

    with torch.no_grad():
        logits = lively_model(torch.tensor([prompt_ids])).logits[:, -1].float()
    processors = _transformers_processors(lively_model, params, len(prompt_ids))
    probs = processors(torch.tensor([prompt_ids]), logits)[0].softmax(-1).double()
    assert counts[probs == 0].sum() == 0, "sampled a token the warpers remove"
    support = probs > 0
    assert int(support.sum()) >= 5, "the test needs a spread-out distribution"
    expected = probs[support] / probs[support].sum() * n
    result = chisquare(counts[support].numpy(), expected.numpy())
    assert result.pvalue > 1e-3


def test_draws_use_only_the_rows_own_generator():
    scores = torch.log_softmax(torch.randn(3, 50, generator=torch.Generator().manual_seed(0)), -1)
    greedy = torch.tensor([False, True, False])
    generators = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    tokens = pick_tokens(scores, greedy, generators)
    assert tokens[1] == scores[1].argmax()
    solo = pick_tokens(scores[2:], greedy[2:], [torch.Generator().manual_seed(3)])
    assert tokens[2] == solo[0]


def test_mismatched_seeds_are_rejected(lively_model, tokenizer, prompt_ids):
    with pytest.raises(ValueError, match="one seed per row"):
        sample_batched(lively_model, tokenizer, prompt_ids, [SamplingParams()], [1, 2])


def test_sweep_benchmark_quick_mode_produces_every_figure(tmp_path):
    """`python -m bench.sweep --quick` runs end to end; timings are reported, never asserted."""
    import json

    from bench.sweep import main

    out = tmp_path / "sweep.json"
    assert main(["--quick", "--reference-rows", "2", "--out", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["rows"] == 6 and result["sequential_rows_timed"] == 2
    for key in ("prefill_s", "batched_s", "sequential_s", "speedup", "cpu_time_speedup"):
        assert result[key] > 0
