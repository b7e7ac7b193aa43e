"""A GGUF chat model run in this process by llama.cpp (through llama-cpp-python).

`--model` is a `.gguf` file, a folder holding one, or a Hub repository with a file pattern
(`Qwen/Qwen3-0.6B-GGUF:Q8_0`, fetched with `Llama.from_pretrained` when the Hub answers). The prompt is the
model's own chat template from the GGUF metadata, rendered the way transformers renders it (Qwen3's
`enable_thinking` switch included). Sampling is a llama.cpp sampler chain built in transformers' order —
repetition penalty over the whole context (prompt included), temperature, top-k, top-p, min-p, then a draw
seeded with the request's seed — or the penalty then argmax at temperature 0, so a setting means the same on
both in-process backends.

The context holds the last prompt's KV cache and its next-token logits; a `generate` call with the same
prompt token for token starts from them without a second prefill. `generate_many` (sweeps) uses a second
context on the same weights with one unified KV cache for many sequences: the prompt is evaluated once as
sequence 0, `llama_memory_seq_cp` makes every row a sequence sharing those KV cells (no copy), and all
unfinished rows are decoded together, one `llama_decode` of one token per row each step, each row sampled by
its own sampler chain with its own seed. A batched step computes the same function as a single-row one but
may round differently, so a row's tokens follow the same distribution as its own `generate` call's without
being guaranteed equal to them token for token.
"""

from __future__ import annotations

import atexit
import codecs
import ctypes
import dataclasses
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from core.errors import UserError
from rag.config import SamplingParams
from rag.generators.protocol import check_one_thinking_mode, to_generation
from rag.gguf_file import GGUFSource, NotGGUF, file_sha256, find_gguf, read_header
from rag.thinking import THINK_OPEN, AnswerStream, split_thinking
from rag.types import Generation

INSTALL_HINT = 'pip install -e ".[llamacpp]"'
# The KV cache is allocated (and zeroed) for the whole context up front, so it is capped: 8192 tokens hold
# the default RAG prompt (~1,600 tokens) with room for 1,024 tokens of thinking several times over.
MAX_CONTEXT = 8192
# Cells of the sweep context's unified KV cache: the prompt once plus every row's token budget. Rows beyond it
# are decoded in further waves from the same prefill (16,384 cells of Qwen3-0.6B at F16 are 1.8 GB).
MAX_SWEEP_CELLS = 16384
_UINT32_SEEDS = 0xFFFFFFFF  # llama.cpp treats seed 0xFFFFFFFF as "random": seeds are taken modulo it


def require_llama_cpp():
    """The `llama_cpp` module, or UserError naming the install command."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise UserError(
            f"the llamacpp backend needs llama-cpp-python, which is not installed ({exc}); install it with "
            f"`{INSTALL_HINT}` (it compiles llama.cpp: a few minutes once, then pip's wheel cache reuses it)"
        ) from exc
    return llama_cpp


def llama_cpp_available() -> bool:
    """Whether llama-cpp-python can be imported here."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


def default_threads(cpu_dir: Path = Path("/sys/devices/system/cpu")) -> int:
    """The physical cores among the CPUs this process may run on, as llama.cpp's own default counts them (one
    per set of hyper-thread siblings: a second thread on a core's sibling adds no arithmetic units). Where the
    topology cannot be read, every available CPU. Pass fewer threads when other work shares the CPUs:
    llama.cpp's threads wait on each other by spinning, and a thread the OS has descheduled stalls every step
    (docs/performance.md, Threads)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
    cores = set()
    for cpu in cpus:
        siblings = cpu_dir / f"cpu{cpu}" / "topology" / "thread_siblings_list"
        if not siblings.is_file():
            return len(cpus)
        cores.add(siblings.read_text().strip())
    return len(cores)


@dataclass
class _SweepContext:
    """A llama.cpp context for `generate_many`: `n_ctx` KV cells shared by up to `n_seq` sequences."""

    ctx: Any  # llama_context_p
    n_ctx: int
    n_seq: int
    n_batch: int


@dataclass
class _Loaded:
    """A loaded model with its context, and the prompt whose KV cache that context currently holds."""

    llm: Any  # llama_cpp.Llama
    path: Path
    lock: threading.Lock
    prompt_ids: list[int] | None = None
    prompt_logits: Any = None  # numpy float32 [n_vocab]: the next-token logits after the prompt
    sha256: str | None = None
    sweep: _SweepContext | None = None


_MODELS: dict[tuple[str, int], _Loaded] = {}
_MODELS_LOCK = threading.Lock()


def _download(source: GGUFSource) -> Path:
    """Fetch the one file of `source.repo` matching `source.glob` into the Hugging Face cache."""
    from llama_cpp import Llama

    try:
        vocab = Llama.from_pretrained(source.repo, source.glob, vocab_only=True, verbose=False)
    except Exception as exc:  # noqa: BLE001 - hub errors (no such repo, several matches) come as many types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"cannot fetch {source.glob} from {source.repo}: {first}") from exc
    path = Path(vocab.model_path)
    vocab.close()
    return path


def load_model(path: Path) -> _Loaded:
    """Load (or reuse) the GGUF at `path` with a context of min(its trained length, MAX_CONTEXT) tokens."""
    from llama_cpp import Llama

    header = read_header(path)  # NotGGUF (one line) for a file that is not GGUF at all
    n_ctx = min(header.context_length or MAX_CONTEXT, MAX_CONTEXT)
    key = (str(path.resolve()), n_ctx)
    with _MODELS_LOCK:
        if key not in _MODELS:
            threads = default_threads()  # each generator sets its own count before it decodes
            try:
                llm = Llama(
                    model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False
                )
            except ValueError as exc:
                raise NotGGUF(
                    f"llama.cpp could not load {path} ({header.architecture} model): the file is truncated or "
                    f"corrupt, or llama.cpp {_engine_version()} does not support this architecture; download it "
                    "again or upgrade llama-cpp-python"
                ) from exc
            if not _MODELS:
                atexit.register(_close_models)
            _MODELS[key] = _Loaded(llm=llm, path=path, lock=threading.Lock())
        return _MODELS[key]


def _close_models() -> None:
    """Free every loaded model at exit, while llama.cpp's bindings still exist (in `Llama.__del__` at
    interpreter shutdown they may be gone already, and it prints an ignored TypeError per model)."""
    with _MODELS_LOCK:
        for loaded in _MODELS.values():
            if loaded.sweep is not None:
                import llama_cpp

                llama_cpp.llama_free(loaded.sweep.ctx)
            loaded.llm.close()
        _MODELS.clear()


def _engine_version() -> str:
    import llama_cpp

    return llama_cpp.__version__


class TextStream:
    """Generated token ids -> text as it forms. The UTF-8 bytes of a character split across tokens (common for
    Chinese in byte-level vocabularies) are held back until the character is complete, never shown as U+FFFD."""

    def __init__(self, piece: Callable[[int], bytes]):
        self._piece = piece
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, token: int) -> str:
        return self._decoder.decode(self._piece(token))

    def flush(self) -> str:
        """What is left at the end (an unfinished byte sequence becomes U+FFFD, as a whole decode would)."""
        return self._decoder.decode(b"", final=True)


class LlamaCppGenerator:
    """A GGUF model in llama.cpp with the Generator interface, plus `generate_many` and `revision` for sweeps."""

    backend = "llamacpp"
    ignores_sampling = False
    device = "cpu"
    dtype = "gguf"

    def __init__(self, model: str | Path, *, name: str | None = None, n_threads: int | None = None):
        llama_cpp = require_llama_cpp()
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        source = find_gguf(str(model))
        path = source.path if source.path is not None else _download(source)
        self._loaded = load_model(path)
        self.path = str(path)
        self.name = name or str(model)
        self._lib = llama_cpp
        llm = self._loaded.llm
        self.context_window = llm.n_ctx()
        self.n_threads = n_threads or default_threads()
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self.n_vocab = llm.n_vocab()
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise UserError(
                f"{path} has no chat template in its metadata (tokenizer.chat_template); use an instruct/chat "
                "GGUF such as Qwen/Qwen3-0.6B-GGUF:Q8_0"
            )
        self.supports_thinking = "enable_thinking" in template
        self._formatter = Jinja2ChatFormatter(
            template=template, eos_token=self._token_text(llm.token_eos()), bos_token=self._token_text(llm.token_bos())
        )
        # One candidates buffer (id, logit, p per vocabulary entry) reused for every sampled token.
        import numpy as np

        self._candidates = (llama_cpp.llama_token_data * self.n_vocab)()
        self._candidates_view = np.ctypeslib.as_array(self._candidates)
        self._token_ids = np.arange(self.n_vocab, dtype=np.int32)

    # ---- text and tokens ----------------------------------------------------------------------------------

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._lib.llama_vocab_get_text(self._vocab, token).decode("utf-8", errors="replace")

    def _piece(self, token: int) -> bytes:
        """The bytes a generated token stands for (special tokens such as <think> rendered as their text)."""
        buf = ctypes.create_string_buffer(64)
        n = self._lib.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, True)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._lib.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, True)
        return buf.raw[:n]

    def text_stream(self) -> "TextStream":
        """A decoder turning generated token ids into text as it forms."""
        return TextStream(self._piece)

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text`, special tokens parsed, no BOS added (chat templates write their own)."""
        return self._loaded.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def render_prompt(self, messages: list[dict[str, str]], thinking: bool) -> str:
        """The prompt the GGUF's chat template makes; `enable_thinking` is passed only to templates using it."""
        extra = {"enable_thinking": thinking} if self.supports_thinking else {}
        return self._formatter(messages=messages, **extra).prompt

    def _prompt(self, messages: list[dict[str, str]], thinking: bool, max_new_tokens: int) -> tuple[list[int], bool]:
        """(prompt ids, whether the template opened a thinking block); UserError when it does not fit."""
        text = self.render_prompt(messages, thinking)
        ids = self.tokenize(text)
        if len(ids) + max_new_tokens > self.context_window:
            raise UserError(
                f"the prompt is {len(ids)} tokens and max_new_tokens is {max_new_tokens}: together more than the "
                f"{self.context_window}-token context of {Path(self.path).name}; lower --k or --max-new-tokens"
            )
        return ids, text.rstrip().endswith(THINK_OPEN)

    # ---- identity -----------------------------------------------------------------------------------------

    @property
    def engine(self) -> str:
        return f"llama-cpp-python {_engine_version()}"

    @property
    def revision(self) -> str:
        """What identifies the weights and the engine: the GGUF file's SHA-256 (first 12 hex digits) and the
        llama-cpp-python version (each release vendors one llama.cpp commit)."""
        if self._loaded.sha256 is None:
            self._loaded.sha256 = file_sha256(self.path)
        return f"gguf-{self._loaded.sha256[:12]}+llama-cpp-python-{_engine_version()}"

    @property
    def info(self) -> dict[str, str]:
        return {"engine": self.engine, "dtype": self.dtype, "device": self.device, "threads": str(self.n_threads)}

    # ---- decoding -----------------------------------------------------------------------------------------

    def _logits(self):
        import numpy as np

        ptr = self._lib.llama_get_logits_ith(self._loaded.llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def _use_threads(self) -> None:
        """Decode with this generator's thread count (generators of one model may differ; call under the lock)."""
        self._lib.llama_set_n_threads(self._loaded.llm.ctx, self.n_threads, self.n_threads)

    def forget_prompt(self) -> None:
        """Drop the kept prompt state, so the next call prefills from scratch (benchmarks time TTFT with it)."""
        with self._loaded.lock:
            self._loaded.prompt_ids = None

    def _prefill(self, ids: list[int]) -> None:
        """Make the context hold `ids` (reusing it when it already does) and keep the next-token logits."""
        loaded = self._loaded
        if loaded.prompt_ids == ids:
            return
        loaded.prompt_ids = None
        loaded.llm.reset()
        loaded.llm.eval(ids)
        loaded.prompt_logits = self._logits().copy()
        loaded.prompt_ids = list(ids)

    def _sampler(self, params: SamplingParams):
        """A llama.cpp sampler chain for `params`, in transformers' order."""
        lib = self._lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if params.repetition_penalty != 1.0:
            # Every token of the context counts, as in transformers (llama.cpp's default is the last 64).
            penalty = lib.llama_sampler_init_penalties(self.n_vocab, self.context_window, params.repetition_penalty, 0.0, 0.0)
            lib.llama_sampler_chain_add(chain, penalty)
        if params.greedy:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
            return chain
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(params.temperature))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_k(params.top_k))  # 0 = off
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(params.top_p, 1))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_min_p(params.min_p, 1))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(params.seed % _UINT32_SEEDS))
        return chain

    def _sample(self, chain, logits) -> int:
        """Apply the chain to `logits` and accept the token it selects (what llama_sampler_sample does)."""
        lib = self._lib
        view = self._candidates_view
        view["id"] = self._token_ids
        view["logit"] = logits
        view["p"] = 0.0
        cur = lib.llama_token_data_array(data=self._candidates, size=self.n_vocab, selected=-1, sorted=False)
        lib.llama_sampler_apply(chain, ctypes.byref(cur))
        token = int(cur.data[cur.selected].id)
        lib.llama_sampler_accept(chain, token)
        return token

    def _decode_row(
        self, ids: list[int], params: SamplingParams, on_text: Callable[[str], None], stop: threading.Event | None
    ) -> tuple[list[int], bool, float | None]:
        """Sample one answer after the prefilled prompt `ids`, passing its text on as it forms.

        Returns (the generated ids without the stop token, whether a stop token ended it, when the first token
        came). UTF-8 bytes of a character split across tokens are held back until the character is complete."""
        lib, llm = self._lib, self._loaded.llm
        chain = self._sampler(params)
        text_stream = self.text_stream()
        kept: list[int] = []
        ended, first_at = False, None
        try:
            if params.repetition_penalty != 1.0:
                for token in ids:
                    lib.llama_sampler_accept(chain, token)
            llm.n_tokens = len(ids)  # drop what an earlier row generated after the prompt
            logits = self._loaded.prompt_logits
            for step in range(params.max_new_tokens):
                token = self._sample(chain, logits)
                first_at = first_at or time.perf_counter()
                if lib.llama_vocab_is_eog(self._vocab, token):
                    ended = True
                    break
                kept.append(token)
                text = text_stream.feed(token)
                if text:
                    on_text(text)
                if (stop is not None and stop.is_set()) or step == params.max_new_tokens - 1:
                    break
                llm.eval([token])
                logits = self._logits()
        finally:
            lib.llama_sampler_free(chain)
        tail = text_stream.flush()
        if tail:
            on_text(tail)
        return kept, ended, first_at

    def generate(
        self,
        messages: list[dict[str, str]],
        params: SamplingParams,
        on_token: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Generation:
        """One answer. `on_token` receives answer text as it forms (never reasoning); setting `stop` ends
        generation after the current token (reported as truncated)."""
        t0 = time.perf_counter()
        ids, started_in_thinking = self._prompt(messages, params.thinking, params.max_new_tokens)
        stream = AnswerStream(started_in_thinking=started_in_thinking)

        def on_text(text: str) -> None:
            delta = stream.feed(text)
            if delta and on_token:
                on_token(delta)

        with self._loaded.lock:
            self._use_threads()
            self._prefill(ids)
            kept, ended, first_at = self._decode_row(ids, params, on_text, stop)
        t_end = time.perf_counter()
        split = stream.finish()
        tail = stream.pending()
        if tail and on_token:
            on_token(tail)
        return to_generation(
            split, ended=ended, new_tokens=len(kept), ttft_ms=((first_at or t_end) - t0) * 1000,
            generate_ms=(t_end - t0) * 1000,
        )

    def generate_many(self, messages: list[dict[str, str]], rows: Sequence[SamplingParams]) -> list[Generation]:
        """One answer per row of settings (seed included) for the same messages: one prefill, then every row
        decoded together in llama.cpp's multi-sequence batch (see the module docstring).

        All rows must share the thinking mode (it changes the prompt). Rows that must give the same tokens —
        greedy rows with equal settings, or equal settings with equal seeds — are decoded once. `ttft_ms` is
        when a row's first token was sampled; `generate_ms` is the whole call's, shared by its `batch_rows`
        decoded rows."""
        if not rows:
            return []
        check_one_thinking_mode(rows)
        ids, started_in_thinking = self._prompt(messages, rows[0].thinking, max(r.max_new_tokens for r in rows))
        keys = [dataclasses.replace(p, seed=0) if p.greedy else p for p in rows]
        decoded = list({key: p for key, p in zip(keys, rows)}.values())
        with self._loaded.lock:
            t0 = time.perf_counter()
            outputs = self._decode_together(ids, decoded)
        t_end = time.perf_counter()
        generations = {
            key: to_generation(
                split_thinking(text, started_in_thinking=started_in_thinking), ended=ended, new_tokens=new_tokens,
                ttft_ms=(first_at - t0) * 1000, generate_ms=(t_end - t0) * 1000, batch_rows=len(decoded),
            )
            for key, (text, ended, new_tokens, first_at) in zip(dict.fromkeys(keys), outputs)
        }
        return [generations[key] for key in keys]

    def _sweep_context(self, n_ctx: int, n_seq: int) -> _SweepContext:
        """The model's sweep context, (re)made when the one it has is smaller than asked. Its settings are the
        main context's (KV cache types, attention kernel), with a unified KV cache for `n_seq` sequences."""
        lib, loaded = self._lib, self._loaded
        old = loaded.sweep
        if old is not None and old.n_ctx >= n_ctx and old.n_seq >= n_seq:
            return old
        if old is not None:
            n_ctx, n_seq = max(n_ctx, old.n_ctx), max(n_seq, old.n_seq)
            loaded.sweep = None
            lib.llama_free(old.ctx)
        params = lib.llama_context_params.from_buffer_copy(loaded.llm.context_params)
        n_batch = max(int(params.n_batch), n_seq)  # a prompt chunk, or one token of every sequence
        params.n_ctx, params.n_seq_max, params.kv_unified = n_ctx, n_seq, True
        params.n_batch = params.n_ubatch = n_batch
        ctx = lib.llama_init_from_model(loaded.llm.model, params)
        if not ctx:
            raise UserError(
                f"llama.cpp could not make a {n_ctx}-token context for {n_seq} sequences of {Path(self.path).name} "
                "(out of memory?); lower max_batch or max_new_tokens in the sweep config"
            )
        loaded.sweep = _SweepContext(ctx=ctx, n_ctx=int(lib.llama_n_ctx(ctx)), n_seq=n_seq, n_batch=n_batch)
        return loaded.sweep

    def _decode_together(self, ids: list[int], rows: list[SamplingParams]) -> list[tuple[str, bool, int, float]]:
        """(text, ended by a stop token, tokens kept, when its first token came) for every row: the prompt
        evaluated once as sequence 0, then the rows in waves that fit MAX_SWEEP_CELLS, each wave's rows copied
        from sequence 0 (shared KV cells) and decoded one token per row per `llama_decode`."""
        import numpy as np

        lib = self._lib
        waves = _waves(len(ids), [r.max_new_tokens for r in rows], MAX_SWEEP_CELLS, lib.llama_max_parallel_sequences() - 1)
        cells = len(ids) + max(sum(rows[i].max_new_tokens for i in wave) for wave in waves)
        sweep = self._sweep_context(cells, 1 + max(len(wave) for wave in waves))
        ctx, mem = sweep.ctx, lib.llama_get_memory(sweep.ctx)
        lib.llama_memory_clear(mem, True)
        lib.llama_set_n_threads(ctx, self.n_threads, self.n_threads)
        batch = lib.llama_batch_init(sweep.n_batch, 0, 1)
        out: list[tuple[str, bool, int, float]] = [("", False, 0, 0.0)] * len(rows)
        try:
            for start in range(0, len(ids), sweep.n_batch):
                piece = ids[start : start + sweep.n_batch]
                _fill(batch, [(t, start + j, 0, start + j == len(ids) - 1) for j, t in enumerate(piece)])
                _decode(lib, ctx, batch)
            prompt_logits = np.ctypeslib.as_array(lib.llama_get_logits_ith(ctx, -1), shape=(self.n_vocab,)).copy()
            for wave in waves:
                seqs = {row: s for s, row in enumerate(wave, start=1)}
                for s in seqs.values():
                    lib.llama_memory_seq_cp(mem, 0, s, -1, -1)
                chains = {row: self._sampler(rows[row]) for row in wave}
                kept: dict[int, list[int]] = {row: [] for row in wave}
                ended: set[int] = set()
                first_at: dict[int, float] = {}
                try:
                    for row in wave:
                        if rows[row].repetition_penalty != 1.0:
                            for token in ids:
                                lib.llama_sampler_accept(chains[row], token)
                    active, step = list(wave), 0
                    while active:
                        going = []
                        for slot, row in enumerate(active):
                            logits = prompt_logits if step == 0 else np.ctypeslib.as_array(
                                lib.llama_get_logits_ith(ctx, slot), shape=(self.n_vocab,))
                            token = self._sample(chains[row], logits)
                            first_at.setdefault(row, time.perf_counter())
                            if lib.llama_vocab_is_eog(self._vocab, token):
                                ended.add(row)
                            else:
                                kept[row].append(token)
                                if len(kept[row]) < rows[row].max_new_tokens:
                                    going.append((row, token))
                        if not going:
                            break
                        _fill(batch, [(token, len(ids) + step, seqs[row], True) for row, token in going])
                        _decode(lib, ctx, batch)
                        active, step = [row for row, _ in going], step + 1
                finally:
                    for chain in chains.values():
                        lib.llama_sampler_free(chain)
                    for s in seqs.values():
                        lib.llama_memory_seq_rm(mem, s, -1, -1)
                for row in wave:
                    stream = self.text_stream()
                    text = "".join(stream.feed(t) for t in kept[row]) + stream.flush()
                    out[row] = (text, row in ended, len(kept[row]), first_at[row])
        finally:
            lib.llama_batch_free(batch)
        return out


def _waves(prompt_tokens: int, budgets: list[int], max_cells: int, max_rows: int) -> list[list[int]]:
    """Rows (by index, in order) grouped so that the prompt plus a group's token budgets fit `max_cells` KV
    cells and a group has at most `max_rows` rows; a row never waits for a later group."""
    waves: list[list[int]] = []
    cells = max_cells + 1
    for i, budget in enumerate(budgets):
        if waves and len(waves[-1]) < max_rows and cells + budget <= max_cells:
            waves[-1].append(i)
            cells += budget
        else:
            waves.append([i])
            cells = prompt_tokens + budget
    return waves


def _fill(batch: Any, tokens: list[tuple[int, int, int, bool]]) -> None:
    """Put (token, position, sequence, wants logits) entries into a llama_batch made by llama_batch_init."""
    batch.n_tokens = len(tokens)
    for j, (token, pos, seq, logits) in enumerate(tokens):
        batch.token[j] = token
        batch.pos[j] = pos
        batch.n_seq_id[j] = 1
        batch.seq_id[j][0] = seq
        batch.logits[j] = logits


def _decode(lib: Any, ctx: Any, batch: Any) -> None:
    status = lib.llama_decode(ctx, batch)
    if status != 0:
        raise RuntimeError(f"llama_decode failed with status {status} on a batch of {batch.n_tokens} tokens")
