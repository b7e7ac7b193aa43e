"""Common random numbers on a real decoder: sample i of a question gets one seed under every setting, so two
settings' samples share their random draws and differ only where the settings make them differ."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from rag.generators.batched import sample_batched  # noqa: E402
from eval.records import sample_seed  # noqa: E402
from rag.config import SamplingParams  # noqa: E402
from tests.fixtures.tiny_qwen import load_lively_qwen  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SAMPLES = 64


@pytest.fixture(scope="module")
def model_and_prompt(tiny_qwen_dir):
    """The tiny Qwen3 with its matrices redrawn at std 0.3 (`load_lively_qwen`, as in tests/test_batched.py)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen_dir)
    model = load_lively_qwen(tiny_qwen_dir)
    text = tokenizer.apply_chat_template([{"role": "user", "content": "GPT-3 有多少参数？"}], add_generation_prompt=True,
                                         enable_thinking=False, tokenize=False)
    return model, tokenizer(text, add_special_tokens=False)["input_ids"]


def _shared_answers(model, prompt_ids, common: bool) -> float:
    """Share of samples whose first token is the same under T = 0.7 and T = 1.0 (top_p 0.95)."""
    settings = [SamplingParams(temperature=t, top_p=0.95, top_k=0, max_new_tokens=1) for t in (0.7, 1.0)]
    seeds = {
        t: [sample_seed(0, "q1", i) if common else sample_seed(0, f"q1-T{t}", i) for i in range(SAMPLES)]
        for t in (0.7, 1.0)
    }
    rows = [s for s in settings for _ in range(SAMPLES)]
    out = sample_batched(model, None, prompt_ids, rows, seeds[0.7] + seeds[1.0])
    first, second = out[:SAMPLES], out[SAMPLES:]
    return sum(a.token_ids == b.token_ids for a, b in zip(first, second)) / SAMPLES


def test_common_seeds_make_two_settings_share_their_draws(model_and_prompt):
    """With one seed per sample, T = 0.7 and T = 1.0 draw the same token far more often than with a seed per
    setting (the random model's distributions are flat over a large vocabulary, so the share stays small): the
    paired difference between two settings carries less sampling noise."""
    model, prompt_ids = model_and_prompt
    common, independent = _shared_answers(model, prompt_ids, True), _shared_answers(model, prompt_ids, False)
    assert common >= 0.1 and common >= 3 * independent, (common, independent)
