"""The transformers backend on the tiny random Qwen3: loading, chat template, sampling, streaming, stopping.

The tiny model's text is noise, so these tests assert behaviour: determinism, budgets, stop tokens, and that
reasoning never reaches the answer.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rag.config import SamplingParams
from rag.generators.transformers_lm import TransformersGenerator, load_model, pick_dtype

MESSAGES = [
    {"role": "system", "content": "只根据资料回答。"},
    {"role": "user", "content": '资料：\n<source id="1" title="t" section="s">\nGPT-3 有 175B 参数。\n</source>\n\n问题：GPT-3 有多少参数？'},
]


@pytest.fixture(scope="module")
def gen(tiny_qwen_dir: Path) -> TransformersGenerator:
    return TransformersGenerator(str(tiny_qwen_dir), dtype="float32")


def _sample(**kw) -> SamplingParams:
    return SamplingParams(**{"max_new_tokens": 12, **kw})


def test_loads_once_per_process(gen: TransformersGenerator, tiny_qwen_dir: Path) -> None:
    again = TransformersGenerator(str(tiny_qwen_dir), dtype="float32")
    assert again._loaded is gen._loaded
    assert (gen.backend, gen.device, gen.dtype, gen.context_window) == ("transformers", "cpu", "float32", 4096)
    assert gen.count_tokens("GPT-3 有多少参数？") > 0 and gen.count_tokens("") == 0


def test_auto_dtype_follows_the_cpu(tiny_qwen_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from rag.generators import transformers_lm

    assert pick_dtype("float32", "cpu") == "float32"
    monkeypatch.setattr(transformers_lm, "cpu_has_native_bf16", lambda: False)
    assert pick_dtype("auto", "cpu") == "float32"
    monkeypatch.setattr(transformers_lm, "cpu_has_native_bf16", lambda: True)
    assert pick_dtype("auto", "cpu") == "bfloat16"
    assert load_model(str(tiny_qwen_dir)).model.dtype == torch.bfloat16


def test_chat_template_has_the_empty_think_block_only_when_thinking_is_off(gen: TransformersGenerator) -> None:
    off, on = gen.render_prompt(MESSAGES, thinking=False), gen.render_prompt(MESSAGES, thinking=True)
    assert gen.supports_thinking
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert on.endswith("<|im_start|>assistant\n") and "<think>" not in on
    assert "GPT-3 有多少参数？" in off


def test_streamed_tokens_add_up_to_the_answer(gen: TransformersGenerator) -> None:
    pieces: list[str] = []
    out = gen.generate(MESSAGES, _sample(), on_token=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == out.answer
    assert out.ttft_ms > 0 and out.generate_ms >= out.ttft_ms


def test_same_seed_same_text_other_seed_other_text(gen: TransformersGenerator) -> None:
    first = gen.generate(MESSAGES, _sample(seed=7)).answer
    assert gen.generate(MESSAGES, _sample(seed=7)).answer == first
    others = {gen.generate(MESSAGES, _sample(seed=s)).answer for s in (8, 9)}
    assert others != {first}


def test_greedy_ignores_the_seed(gen: TransformersGenerator) -> None:
    a = gen.generate(MESSAGES, _sample(temperature=0, seed=1))
    b = gen.generate(MESSAGES, _sample(temperature=0, seed=2))
    assert a.answer == b.answer


def test_max_new_tokens_is_respected_and_reported(gen: TransformersGenerator) -> None:
    out = gen.generate(MESSAGES, _sample(max_new_tokens=5, temperature=1.0, top_k=0, top_p=1.0))
    assert out.new_tokens <= 5
    assert out.truncated == (out.new_tokens == 5)  # no end-of-turn token within the budget


def test_concurrent_callers_share_the_model_safely(gen: TransformersGenerator) -> None:
    expected = gen.generate(MESSAGES, _sample(seed=3)).answer
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(gen.generate(MESSAGES, _sample(seed=3)).answer)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected, expected]


def test_a_set_stop_event_ends_generation_early(gen: TransformersGenerator) -> None:
    stop = threading.Event()
    stop.set()
    out = gen.generate(MESSAGES, _sample(max_new_tokens=50), stop=stop)
    assert out.truncated and out.new_tokens <= 1


def _greedy_ids(gen: TransformersGenerator, n: int, thinking: bool = False) -> list[int]:
    inputs = gen.tokenizer(gen.render_prompt(MESSAGES, thinking), return_tensors="pt", add_special_tokens=False)
    out = gen._loaded.model.generate(**inputs, do_sample=False, max_new_tokens=n, eos_token_id=None, min_new_tokens=n)
    return out[0, inputs["input_ids"].shape[1] :].tolist()


@pytest.fixture(scope="module")
def steered_dir(gen: TransformersGenerator, tiny_qwen_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Make a copy of the tiny model whose output head scores `token` twice as high as `like`'s logit.

    With an untied head the hidden states are unchanged, so the copy emits `token` wherever the original
    would have emitted `like` (or earlier): a deterministic way to make a random model stop or think.
    """
    import shutil

    import torch

    def make(token: str, like: int) -> Path:
        out = tmp_path_factory.mktemp(f"steered-{token.strip('<>|')}")
        for f in tiny_qwen_dir.iterdir():
            if "token" in f.name or f.name in ("chat_template.jinja", "generation_config.json"):
                shutil.copy(f, out / f.name)
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(tiny_qwen_dir, dtype=torch.float32)
        head = model.model.embed_tokens.weight.detach().clone()
        head[gen.tokenizer.convert_tokens_to_ids(token)] = 2 * head[like]
        model.config.tie_word_embeddings = False
        model.lm_head.weight = torch.nn.Parameter(head)
        model.save_pretrained(out)
        return out

    return make


def test_generation_stops_at_the_end_of_turn_token(gen: TransformersGenerator, steered_dir) -> None:
    ids = _greedy_ids(gen, 4)
    assert not set(ids[:4]) & gen.stop_ids
    stopper = TransformersGenerator(str(steered_dir("<|im_end|>", ids[3])), dtype="float32")
    out = stopper.generate(MESSAGES, _sample(temperature=0, max_new_tokens=20))
    assert not out.truncated and out.new_tokens <= 3
    assert "<|im_end|>" not in out.answer
    assert gen.generate(MESSAGES, _sample(temperature=0, max_new_tokens=20)).answer.startswith(out.answer)


def test_an_answer_cut_off_inside_thinking_is_truncated_and_empty(gen: TransformersGenerator, steered_dir) -> None:
    thinker = TransformersGenerator(str(steered_dir("<think>", _greedy_ids(gen, 1, thinking=True)[0])), dtype="float32")
    pieces: list[str] = []
    out = thinker.generate(MESSAGES, _sample(temperature=0, max_new_tokens=8, thinking=True), on_token=pieces.append)
    assert out.truncated and out.answer == "" and pieces == []
    assert out.thinking  # the unfinished reasoning is kept apart
