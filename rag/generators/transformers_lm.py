"""A chat model run in this process with transformers: Hub id, local folder or `.gguf` file.

Models are loaded once per process (a cache keyed by path, GGUF file, dtype and device) and shared; a lock
per model serialises generation, so concurrent callers (the UI) can hold the same generator safely. The stop
ids, the `generate` arguments for a `SamplingParams` and the attention switch defined here are the only ones:
the shared-prefill batched decoder (`rag.generators.batched`) and the benchmarks use them too.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from core.errors import UserError
from rag.config import SamplingParams
from rag.generators.protocol import check_one_thinking_mode, to_generation
from rag.thinking import THINK_OPEN, AnswerStream, split_thinking
from rag.types import Generation

# Token names that end a turn in the chat templates we support (Qwen's ChatML and its end-of-text).
END_OF_TURN_TOKENS = ("<|im_end|>", "<|endoftext|>")


@dataclass
class _LoadedModel:
    model: object
    tokenizer: object
    device: str
    dtype: str
    lock: threading.Lock


_MODELS: dict[tuple[str, str | None, str, str], _LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def pick_device(device: str = "auto") -> str:
    """cuda, then mps, then cpu when `device` is "auto"."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(dtype: str, device: str) -> str:
    """The dtype for "auto": bfloat16 on CPUs with native bfloat16 (AVX-512 BF16 or AMX), float32 on other CPUs,
    bfloat16 on CUDA when supported else float16, float16 on MPS; an explicit dtype is kept.

    Measured with a Qwen3-0.6B-shaped model (docs/performance.md): on a Xeon with AMX, bfloat16 prefill was 4.2x
    faster than float32 and decode 1.1x; on an AVX2-only EPYC, bfloat16 was emulated and slower (prefill 8.4x,
    decode 0.45x)."""
    if dtype != "auto":
        return dtype
    if device == "mps":
        return "float16"
    import torch

    if device == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "bfloat16" if cpu_has_native_bf16() else "float32"


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX tiles), as PyTorch's CPU kernels see it."""
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def split_gguf(path: str) -> tuple[str, str | None]:
    """(folder, file name) for a `.gguf` path, (path, None) otherwise."""
    p = Path(path)
    if p.suffix.lower() == ".gguf":
        return str(p.parent), p.name
    return path, None


def require_gguf_support() -> None:
    """Raise UserError naming the install command when `gguf` or `accelerate` is missing."""
    missing = [name for name in ("gguf", "accelerate") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(
            f"loading a .gguf model needs the package(s) {', '.join(missing)}; "
            f'install them with `pip install -e ".[gguf]"`'
        )


def load_model(path: str, dtype: str = "auto", device: str = "auto") -> _LoadedModel:
    """Load (or reuse) the model and tokenizer at `path` (a folder, Hub id, or `.gguf` file)."""
    folder, gguf_file = split_gguf(path)
    device = pick_device(device)
    dtype = pick_dtype(dtype, device)
    key = (folder, gguf_file, dtype, device)
    with _MODELS_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        if gguf_file:
            require_gguf_support()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        extra = {"gguf_file": gguf_file} if gguf_file else {}
        tokenizer = AutoTokenizer.from_pretrained(folder, **extra)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype), **extra)
        model.to(device)
        model.eval()
        _MODELS[key] = _LoadedModel(model, tokenizer, device, dtype, threading.Lock())
        return _MODELS[key]


def stop_token_ids(model: Any, tokenizer: Any) -> set[int]:
    """Ids that end an answer: the model's generation_config eos ids, the tokenizer's eos, and the end-of-turn
    tokens of the chat templates we support when the vocabulary has them (`tokenizer` None: the first only)."""
    ids = set(_as_list(getattr(getattr(model, "generation_config", None), "eos_token_id", None)))
    if tokenizer is not None:
        ids |= set(_as_list(tokenizer.eos_token_id))
        vocab = tokenizer.get_vocab()
        ids |= {vocab[t] for t in END_OF_TURN_TOKENS if t in vocab}
    return ids


def pad_token_id(model: Any, tokenizer: Any, stop_ids: set[int]) -> int:
    """The padding id `generate` needs: the model's, else the tokenizer's, else the smallest stop id (else 0)."""
    pad = getattr(getattr(model, "generation_config", None), "pad_token_id", None)
    if pad is None and tokenizer is not None:
        pad = tokenizer.pad_token_id
    return pad if pad is not None else min(stop_ids, default=0)


def cache_argument(model: Any) -> str:
    """The name of the KV-cache argument of the model's `forward`/`generate`: `cache` in recent transformers 5.x,
    `past_key_values` before (still accepted there, with a deprecation warning)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def output_cache(output: Any) -> Any:
    """The KV cache of a forward pass's output, under either name."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def generate_kwargs(params: SamplingParams, stop_ids: set[int], pad_id: int) -> dict[str, Any]:
    """`model.generate` arguments for `params`. Greedy leaves the sampling settings out (transformers would
    ignore them); min_p is passed only when on, since transformers adds its warper whenever it is set."""
    kwargs: dict[str, Any] = {
        "max_new_tokens": params.max_new_tokens,
        "repetition_penalty": params.repetition_penalty,
        "eos_token_id": sorted(stop_ids) or None,
        "pad_token_id": pad_id,
        "do_sample": not params.greedy,
    }
    if not params.greedy:
        kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k)
        if params.min_p > 0:
            kwargs["min_p"] = params.min_p
    return kwargs


@contextmanager
def attention_implementation(model: Any, name: str) -> Iterator[None]:
    """Switch the model's attention implementation for the duration of the block, then restore it."""
    previous = model.config._attn_implementation
    model.set_attn_implementation(name)
    try:
        yield
    finally:
        model.set_attn_implementation(previous)


def weights_revision(path: str | None) -> str:
    """What identifies the weights at `path`: the Hub snapshot commit (12 hex digits) when it lies in the Hub
    cache, else a hash of the files' names and sizes and of the small (config, tokenizer) files' contents;
    `unknown` when there is no such path."""
    if not path or not Path(path).exists():
        return "unknown"
    resolved = Path(path).resolve()
    snapshot = re.search(r"snapshots/([0-9a-f]{40})", str(resolved))
    if snapshot:
        return snapshot.group(1)[:12]
    digest = hashlib.sha256()
    files = [resolved] if resolved.is_file() else sorted(f for f in resolved.rglob("*") if f.is_file())
    for f in files:
        size = f.stat().st_size
        digest.update(f"{f.name}:{size}".encode())
        if size < 1_000_000:
            digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


class _Streamer:
    """A transformers streamer: drops stop tokens, decodes incrementally, and passes text on as it forms.

    Unfinished UTF-8 byte sequences (shown as U+FFFD while a character's bytes are split across tokens) are
    held back until complete, so Chinese text streams character by character without garbage.
    """

    def __init__(self, tokenizer, stop_ids: set[int], on_text: Callable[[str], None]):
        self.tokenizer = tokenizer
        self.stop_ids = stop_ids
        self.on_text = on_text
        self.prompt_seen = False
        self.generated: list[int] = []
        self.kept: list[int] = []
        self.sent = 0
        self.first_token_at: float | None = None

    def _decode(self) -> str:
        return self.tokenizer.decode(self.kept, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def put(self, value) -> None:
        if not self.prompt_seen:  # generate() first passes the prompt
            self.prompt_seen = True
            return
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        ids = value.reshape(-1).tolist()
        self.generated.extend(ids)
        self.kept.extend(i for i in ids if i not in self.stop_ids)
        self._emit(self._decode().rstrip("\ufffd"))

    def end(self) -> None:
        self._emit(self._decode())

    def _emit(self, text: str) -> None:
        if len(text) > self.sent:
            self.on_text(text[self.sent :])
            self.sent = len(text)


class TransformersGenerator:
    """A causal LM with a chat template, generating with `model.generate` under SamplingParams."""

    backend = "transformers"
    ignores_sampling = False

    def __init__(self, path: str, *, name: str | None = None, dtype: str = "auto", device: str = "auto"):
        self.path = path
        self.name = name or path
        self._loaded = load_model(path, dtype, device)
        self.device = self._loaded.device
        self.dtype = self._loaded.dtype
        tok = self._loaded.tokenizer
        self.tokenizer = tok
        config = self._loaded.model.config
        self.context_window = int(getattr(config, "max_position_embeddings", None) or 32768)
        self.stop_ids = stop_token_ids(self._loaded.model, tok)
        self.pad_id = pad_token_id(self._loaded.model, tok, self.stop_ids)
        template = tok.chat_template if isinstance(tok.chat_template, str) else str(tok.chat_template or "")
        if not template:
            raise UserError(f"chat model {path} has no chat template; use an instruct/chat model such as Qwen/Qwen3-0.6B")
        self.supports_thinking = "enable_thinking" in template
        self._revision: str | None = None

    @property
    def revision(self) -> str:
        """The Hub snapshot commit of the weights, or a hash of the local files (see `weights_revision`)."""
        if self._revision is None:
            self._revision = weights_revision(self.path)
        return self._revision

    @property
    def info(self) -> dict[str, str]:
        import transformers

        return {"engine": f"transformers {transformers.__version__}", "dtype": self.dtype, "device": self.device}

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def render_prompt(self, messages: list[dict[str, str]], thinking: bool) -> str:
        """The prompt text the chat template makes; `enable_thinking` is passed only to templates using it."""
        extra = {"enable_thinking": thinking} if self.supports_thinking else {}
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **extra)

    def generate(
        self,
        messages: list[dict[str, str]],
        params: SamplingParams,
        on_token: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Generation:
        """Generate one answer. `on_token` receives answer text as it forms (never reasoning); setting `stop`
        ends generation early (reported as truncated). The seed is applied with `torch.manual_seed` right
        before `generate`, under the model lock, so equal inputs give equal outputs."""
        import torch
        from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

        t0 = time.perf_counter()
        prompt = self.render_prompt(messages, params.thinking)
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
        answer_stream = AnswerStream(started_in_thinking=prompt.rstrip().endswith(THINK_OPEN))

        def on_text(text: str) -> None:
            delta = answer_stream.feed(text)
            if delta and on_token:
                on_token(delta)

        streamer = _Streamer(self.tokenizer, self.stop_ids, on_text)

        class _StopEvent(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), bool(stop and stop.is_set()), dtype=torch.bool)

        config = GenerationConfig(**generate_kwargs(params, self.stop_ids, self.pad_id))
        with self._loaded.lock:
            torch.manual_seed(params.seed)
            self._loaded.model.generate(
                **inputs,
                generation_config=config,
                streamer=streamer,
                stopping_criteria=StoppingCriteriaList([_StopEvent()]) if stop else None,
            )
        t_end = time.perf_counter()
        split = answer_stream.finish()
        tail = answer_stream.pending()
        if tail and on_token:
            on_token(tail)
        first = streamer.first_token_at or t_end
        return to_generation(
            split,
            ended=bool(streamer.generated) and streamer.generated[-1] in self.stop_ids,
            new_tokens=len(streamer.kept),
            ttft_ms=(first - t0) * 1000,
            generate_ms=(t_end - t0) * 1000,
        )

    def generate_many(self, messages: list[dict[str, str]], rows: Sequence[SamplingParams]) -> list[Generation]:
        """Every row from one prefill of the prompt, decoded as one batch with its own settings and seed
        (`rag.generators.batched.sample_batched`). Greedy rows with equal budget and repetition penalty are
        deterministic, so one decode serves them all. Each Generation carries the batch's wall time (the first
        tokens are not timed apart) and its number of decoded rows."""
        from rag.generators.batched import sample_batched

        if not rows:
            return []
        check_one_thinking_mode(rows)
        prompt = self.render_prompt(messages, rows[0].thinking)
        started_in_thinking = prompt.rstrip().endswith(THINK_OPEN)
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        units: dict[tuple, list[int]] = {}
        for i, r in enumerate(rows):
            units.setdefault(("greedy", r.max_new_tokens, r.repetition_penalty) if r.greedy else ("sample", i), []).append(i)
        decoded = [rows[indices[0]] for indices in units.values()]
        t0 = time.perf_counter()
        with self._loaded.lock:
            outputs = sample_batched(self._loaded.model, self.tokenizer, prompt_ids, decoded, [r.seed for r in decoded])
        ms = (time.perf_counter() - t0) * 1000
        out: list[Generation] = [None] * len(rows)  # type: ignore[list-item]
        for indices, sample in zip(units.values(), outputs):
            generation = to_generation(
                split_thinking(sample.text, started_in_thinking=started_in_thinking),
                ended=sample.finished_by_eos, new_tokens=sample.new_tokens, ttft_ms=ms, generate_ms=ms,
                batch_rows=len(decoded),
            )
            for i in indices:
                out[i] = generation
        return out


def _as_list(value) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
