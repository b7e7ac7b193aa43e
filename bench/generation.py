"""Generation speed at batch 1: our `TransformersGenerator` against a bare `model.generate` on the same token ids,
the memory-bandwidth bound, and what the default transformers path leaves on the table.

The model is a random-weight Qwen3 with the exact Qwen/Qwen3-0.6B configuration (weights do not change the
cost of dense matrix products; nothing is downloaded), saved with a small byte-level BPE tokenizer trained on
the corpus (`bench/tiny_qwen.py`). That tokenizer has far fewer ids than the model's 151,936, so the
embedding rows of ids it cannot decode, and of the stop tokens, are zeroed: with tied embeddings their logits
are exactly 0 and never reach the top-k, so every sampled token is decodable text (our streamer really decodes
it) and no run stops early. Both paths generate from identical token ids with identical sampling settings.
"""

from __future__ import annotations

import copy
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rag.config import SamplingParams
from rag.generators.transformers_lm import cache_argument

QUESTION = "GPT-3 有多少参数？"
MAX_SOURCES = 20


def qwen3_config(tokenizer_vocab: int, quick: bool, **ids: Any):
    """Qwen/Qwen3-0.6B's configuration (quick: 2 layers, hidden 64, vocab = the tokenizer's)."""
    from bench.sweep import qwen3_0_6b_config

    if not quick:
        return qwen3_0_6b_config(**ids)
    return qwen3_0_6b_config(
        vocab_size=tokenizer_vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=4096, **ids,
    )


def make_model_folder(out_dir: Path, corpus: Path, quick: bool, tokenizer_dir: Path | None = None) -> Path:
    """Save a random-weight Qwen3 (bfloat16, as Qwen ships it) with a corpus-trained tokenizer to `out_dir`.

    `tokenizer_dir`: reuse a saved tokenizer (with a chat template) instead of training one.
    """
    import torch
    from transformers import AutoTokenizer, GenerationConfig

    from bench.sweep import random_qwen3

    out_dir.mkdir(parents=True, exist_ok=True)
    if tokenizer_dir is None:
        from bench.tiny_qwen import build_tiny_qwen

        build_tiny_qwen(out_dir, corpus)  # trains and saves the tokenizer (its tiny model is overwritten below)
        tokenizer_dir = out_dir
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.save_pretrained(out_dir)
    stop = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    config = qwen3_config(len(tokenizer), quick, eos_token_id=stop[0], pad_token_id=stop[1], bos_token_id=None)
    model = random_qwen3(config, dtype="bfloat16")
    with torch.no_grad():
        embedding = model.get_input_embeddings().weight
        embedding[len(tokenizer) :] = 0
        embedding[stop] = 0
    model.generation_config = GenerationConfig(eos_token_id=stop, pad_token_id=stop[1])
    model.save_pretrained(out_dir)
    return out_dir


def rag_messages(index, generator, target_tokens: int) -> tuple[list[dict[str, str]], int]:
    """The prompt `Pipeline.ask` builds for QUESTION (system prompt + retrieved sources), with sources added one
    at a time from k = 1 until the chat-templated prompt holds `target_tokens` tokens; returns it and its k."""
    from rag.config import RetrievalSettings
    from rag.prompt import build_messages
    from rag.retrieve import HybridRetriever

    retriever = HybridRetriever(index)
    for k in range(1, MAX_SOURCES + 1):
        hits = retriever.search(QUESTION, RetrievalSettings(k=k))
        messages = build_messages(QUESTION, hits, generator=generator).messages
        if generator.count_tokens(generator.render_prompt(messages, False)) >= target_tokens or k >= len(index.chunks):
            break
    return messages, k


def weights_read_per_token(model) -> int:
    """Parameters read to decode one token: every decoder layer, the final norm and the lm_head matrix once
    (tied to the embedding; the embedding lookup itself reads one row)."""
    inner = model.model
    layers = sum(p.numel() for p in inner.layers.parameters())
    return layers + inner.norm.weight.numel() + model.lm_head.weight.numel() + model.config.hidden_size


def kv_bytes_per_token(model, context_tokens: int, bytes_per_value: int) -> int:
    """KV-cache bytes attention reads per decoded token at `context_tokens` of context."""
    c = model.config
    return 2 * c.num_hidden_layers * c.num_key_value_heads * c.head_dim * context_tokens * bytes_per_value


class _Clock:
    """A streamer that only notes when `generate` hands over each new token (no decoding)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def put(self, value) -> None:
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass


@dataclass(frozen=True)
class Speed:
    ttft_s: float  # median time to first token
    decode_tps: float  # median decode rate after the first token
    cpu_s: float  # median CPU seconds of the whole call (all threads): robust to other load on the machine
    runs: list[tuple[float, float, float]]


def _speed(runs: list[tuple[float, float, float]]) -> Speed:
    return Speed(*(statistics.median(r[i] for r in runs) for i in range(3)), runs)


def bare_run(model, input_ids, kwargs: dict[str, Any], seed: int, prefix_cache=None) -> tuple[float, float, float]:
    """One `model.generate` call: (seconds to the first new token, decode tokens/s after it, CPU seconds)."""
    import torch

    clock = _Clock()
    extra = {cache_argument(model): copy.deepcopy(prefix_cache)} if prefix_cache is not None else {}
    torch.manual_seed(seed)
    cpu, start = time.process_time(), time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), streamer=clock, **kwargs, **extra)
    end, cpu = time.perf_counter(), time.process_time() - cpu
    new = out.shape[1] - input_ids.shape[1]
    _check_length(new, kwargs["max_new_tokens"], "bare generate")
    first = clock.times[1]  # times[0]: generate hands the prompt to the streamer first
    return first - start, (new - 1) / (end - first), cpu


def ours_run(generator, messages, params: SamplingParams) -> tuple[float, float, float]:
    """One `TransformersGenerator.generate` call, timed by the Generation it returns (same points as bare_run)."""
    cpu = time.process_time()
    g = generator.generate(messages, params)
    cpu = time.process_time() - cpu
    _check_length(g.new_tokens, params.max_new_tokens, "TransformersGenerator")
    return g.ttft_ms / 1000, (g.new_tokens - 1) / ((g.generate_ms - g.ttft_ms) / 1000), cpu


def _check_length(new: int, wanted: int, what: str) -> None:
    if new != wanted:
        raise RuntimeError(f"{what} produced {new} tokens instead of {wanted}; the timing needs full-length runs")


def measure(run: Callable[[], tuple[float, float, float]], repeat: int, warm: Callable[[], Any] | None = None) -> Speed:
    """Median TTFT and decode rate over `repeat` runs, after the untimed `warm()`."""
    if warm:
        warm()
    return _speed([run() for _ in range(repeat)])


def measure_pair(
    bare: Callable[[], tuple[float, float, float]],
    ours: Callable[[], tuple[float, float, float]],
    repeat: int,
    warm: Callable[[], Any] | None = None,
) -> tuple[Speed, Speed]:
    """Bare and ours alternated run by run (so drifting machine load hits both alike), after the untimed `warm()`."""
    if warm:
        warm()
    a, b = [], []
    for _ in range(repeat):
        a.append(bare())
        b.append(ours())
    return _speed(a), _speed(b)


def warm_up(model, input_ids, kwargs: dict[str, Any], seed: int) -> None:
    """A short untimed generate (32 prompt tokens, 2 new) that pays one-time costs (kernels, allocations)."""
    bare_run(model, input_ids[:, :32], {**kwargs, "max_new_tokens": 2}, seed)


def system_prefix_cache(model, tokenizer, messages, input_ids):
    """The KV cache of the chat-templated system prompt (the part every question shares) and its length."""
    import torch
    from transformers import DynamicCache

    system_text = tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=False)
    prefix = tokenizer(system_text, add_special_tokens=False, return_tensors="pt").input_ids
    n = prefix.shape[1]
    if not torch.equal(input_ids[0, :n], prefix[0]):
        raise RuntimeError("the system prompt's tokens are not a prefix of the full prompt's tokens")
    cache = DynamicCache(config=model.config)
    with torch.inference_mode():
        model(input_ids=prefix, use_cache=True, **{cache_argument(model): cache})
    return cache, n


@contextmanager
def threads(n: int):
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def bench_generation(
    folder: Path,
    index,
    bandwidth_gbs: float,
    decode_tokens: int,
    repeat: int,
    variant_repeat: int,
    target_prompt_tokens: int,
    dtype: str = "auto",
    compile_variant: bool = False,
    only: set[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """All generation measurements; returns a JSON-able dict (seconds, tokens/s, bytes, ratios).

    `dtype` is what the product path runs (`rag.ask --dtype`; "auto" = its default); the variants each change
    one thing on the bare path and are timed `variant_repeat` times.
    """
    import torch

    from rag.generators.transformers_lm import TransformersGenerator, attention_implementation, generate_kwargs

    params = SamplingParams(max_new_tokens=1 + decode_tokens)  # the product's default sampling settings
    ours = TransformersGenerator(str(folder), dtype=dtype)
    model, tokenizer = ours._loaded.model, ours.tokenizer
    messages, k_sources = rag_messages(index, ours, target_prompt_tokens)
    input_ids = tokenizer(ours.render_prompt(messages, params.thinking), return_tensors="pt", add_special_tokens=False).input_ids
    kwargs = generate_kwargs(params, ours.stop_ids, ours.pad_id)
    prompt_tokens = int(input_ids.shape[1])
    n_threads = torch.get_num_threads()
    log(f"generation: {model.config.num_hidden_layers} layers, {ours.dtype}, {n_threads} threads, prompt {prompt_tokens} "
        f"tokens ({k_sources} sources), {decode_tokens} decode tokens, {repeat} runs")

    def run_bare(m=model, cache=None) -> Callable[[], tuple[float, float, float]]:
        return lambda: bare_run(m, input_ids, kwargs, params.seed, cache)

    def warm(m=model) -> Callable[[], None]:
        return lambda: warm_up(m, input_ids, kwargs, params.seed)

    def warm_both() -> None:
        warm()()
        ours.generate([{"role": "user", "content": QUESTION}], SamplingParams(max_new_tokens=2))

    bare_speed, ours_speed = measure_pair(run_bare(), lambda: ours_run(ours, messages, params), repeat, warm_both)
    params_read = weights_read_per_token(model)
    result: dict[str, Any] = {
        "model": f"random-weight Qwen3, {model.config.num_hidden_layers} layers, hidden {model.config.hidden_size}, "
        f"vocab {model.config.vocab_size}",
        "parameters": sum(p.numel() for p in model.parameters()),
        "parameters_read_per_token": params_read,
        "dtype": ours.dtype,
        "dtype_requested": dtype,
        "threads": n_threads,
        "prompt_tokens": prompt_tokens,
        "prompt_sources": k_sources,
        "decode_tokens": decode_tokens,
        "repeat": repeat,
        "variant_repeat": variant_repeat,
        "bare": _as_json(bare_speed),
        "ours": _as_json(ours_speed),
        "bandwidth_gb_per_s": bandwidth_gbs,
        "bound_bf16_tokens_per_s": bandwidth_gbs * 1e9 / (params_read * 2),
        "bound_fp32_tokens_per_s": bandwidth_gbs * 1e9 / (params_read * 4),
        "kv_cache_bytes_per_token_bf16": kv_bytes_per_token(model, prompt_tokens, 2),
    }

    variants: dict[str, Any] = {}

    def variant(name: str, what: str, run: Callable[[], tuple[float, float, float]], warm_run: Callable[[], Any], v_dtype: str) -> None:
        if only is not None and name not in only:
            return
        log(f"generation variant: {what}")
        variants[name] = {"what": what, "dtype": v_dtype, **_as_json(measure(run, variant_repeat, warm_run))}

    eager = lambda: attention_implementation(model, "eager")  # noqa: E731
    variant("eager_attention", "bare generate, eager attention instead of sdpa", _inside(eager, run_bare()), _inside(eager, warm()), ours.dtype)
    other_threads = 1 if n_threads > 1 else 2
    few = lambda: threads(other_threads)  # noqa: E731
    variant(f"threads_{other_threads}", f"bare generate, torch.set_num_threads({other_threads})", _inside(few, run_bare()), _inside(few, warm()), ours.dtype)
    cache, prefix_tokens = system_prefix_cache(model, tokenizer, messages, input_ids)
    result["system_prompt_tokens"] = prefix_tokens
    variant("system_prompt_cache", f"bare generate reusing a copy of the system prompt's KV cache ({prefix_tokens} tokens)", run_bare(cache=cache), None, ours.dtype)
    del cache

    other = "float32" if ours.dtype != "float32" else "bfloat16"
    if only is None or f"dtype_{other}" in only:
        alt_model = TransformersGenerator(str(folder), dtype=other)._loaded.model
        variant(f"dtype_{other}", f"bare generate, {other} weights", run_bare(alt_model), warm(alt_model), other)
    if compile_variant and (only is None or f"static_compile_{ours.dtype}" in only):
        from transformers import CompileConfig

        compile_config = CompileConfig()
        compile_config._compile_all_devices = True  # generate compiles only on accelerators unless told (transformers 5)
        static = {**kwargs, "cache_implementation": "static", "compile_config": compile_config}
        start = time.perf_counter()
        bare_run(model, input_ids, static, params.seed)  # compiles
        compile_s = time.perf_counter() - start
        name = f"static_compile_{ours.dtype}"
        variant(name, "bare generate, static KV cache + torch.compile", lambda: bare_run(model, input_ids, static, params.seed), None, ours.dtype)
        variants[name]["first_call_s"] = compile_s
        torch._dynamo.reset()
    result["variants"] = variants
    return result


def _inside(make_context: Callable[[], Any], run: Callable[[], tuple[float, float, float]]) -> Callable[[], tuple[float, float, float]]:
    """`run` wrapped in a fresh context manager from `make_context` each call."""

    def timed() -> tuple[float, float, float]:
        with make_context():
            return run()

    return timed


def _as_json(speed: Speed) -> dict[str, Any]:
    return {"ttft_s": speed.ttft_s, "decode_tokens_per_s": speed.decode_tps, "cpu_s": speed.cpu_s, "runs": [list(r) for r in speed.runs]}
