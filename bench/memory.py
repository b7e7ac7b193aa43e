"""Memory bandwidth, measured the way STREAM does and the way batch-1 decoding reads weights, and the bytes a
decode step reads.

Two kernels over buffers far beyond the last-level cache, on torch's thread count (the threads the model runs
on), timed in alternating passes so that other load on the machine hits both alike: a read-only `sum` (what
decoding does with weights) and STREAM's triad `a = b + q·c` (bytes counted as STREAM counts them: two arrays
read, one written; the write-allocate read the CPU adds is not counted). Like STREAM, the bound uses the best
pass: a bound is what the memory system can deliver, and slower passes are passes where something else ran.
The median and the spread are reported with it, because on a shared machine they say how far to trust it.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

# STREAM's rule: each array at least 4× the size of the last-level cache, so no pass finds its data in cache.
CACHE_MULTIPLE = 4


def last_level_cache_bytes(cache_dir: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int | None:
    """Size of the largest cache level of CPU 0 (Linux sysfs: `index*/size` such as "32768K"); None elsewhere."""
    sizes = []
    for entry in sorted(cache_dir.glob("index*/size")):
        text = entry.read_text().strip()
        units = {"K": 2**10, "M": 2**20, "G": 2**30}
        sizes.append(int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text))
    return max(sizes) if sizes else None


def rates(nbytes: int, seconds: list[float]) -> dict[str, Any]:
    """GB/s of each pass that moved `nbytes`, with the best (STREAM's reported rate), median, worst and the
    spread (best − worst) ÷ median."""
    runs = [nbytes / s / 1e9 for s in seconds]
    median = statistics.median(runs)
    return {
        "runs_gb_per_s": runs,
        "best_gb_per_s": max(runs),
        "median_gb_per_s": median,
        "worst_gb_per_s": min(runs),
        "spread": (max(runs) - min(runs)) / median,
    }


def read_bandwidth(megabytes: int = 1024, repeat: int = 7, triad: bool = True) -> dict[str, Any]:
    """The read-only sum and (with `triad`) STREAM's triad over float32 arrays of `megabytes` each, `repeat`
    timed passes each after one warm-up pass (which also faults the pages in), alternating. `gb_per_s` is the
    best read pass: the figure bounds divide by."""
    import torch

    llc = last_level_cache_bytes()
    n = megabytes * 2**20 // 4
    b = torch.ones(n, dtype=torch.float32)
    kernels = {"read": (b.sum, 4 * n)}
    if triad:
        a, c = torch.empty_like(b), torch.ones_like(b)
        kernels["triad"] = (lambda: torch.add(b, c, alpha=3.0, out=a), 12 * n)
    seconds: dict[str, list[float]] = {name: [] for name in kernels}
    for name, (fn, _) in kernels.items():
        fn()
    for _ in range(repeat):
        for name, (fn, _) in kernels.items():
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
    out: dict[str, Any] = {
        "bytes": 4 * n,
        "threads": torch.get_num_threads(),
        "last_level_cache_bytes": llc,
        "beyond_cache": llc is None or 4 * n >= CACHE_MULTIPLE * llc,
    }
    for name, (_, nbytes) in kernels.items():
        out[name] = rates(nbytes, seconds[name])
    out["gb_per_s"] = out["read"]["best_gb_per_s"]
    return out


def decode_bytes_per_token(path: str | Path, context_tokens: int, kv_bytes_per_value: int = 2) -> dict[str, int]:
    """Bytes one decode step reads from a GGUF model with `context_tokens` in its KV cache: every weight
    tensor once (the LM head included; with tied embeddings the token embedding is that head and counted once,
    with a separate `output.weight` the embedding lookup reads one row), plus the K and V vectors of every layer
    at every cached position (`kv_bytes_per_value` 2: llama.cpp's default F16 cache)."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    tensors = {t.name: int(t.n_bytes) for t in reader.tensors}

    def field(key: str) -> int | None:
        f = reader.fields.get(key)
        return None if f is None else int(f.contents())

    arch = reader.fields["general.architecture"].contents()
    weights = sum(tensors.values())
    if "output.weight" in tensors:
        vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
        weights += tensors["token_embd.weight"] // vocab - tensors["token_embd.weight"]
    heads = field(f"{arch}.attention.head_count")
    head_dim = field(f"{arch}.embedding_length") // heads
    kv_heads = field(f"{arch}.attention.head_count_kv") or heads
    per_position = field(f"{arch}.block_count") * kv_heads * (
        (field(f"{arch}.attention.key_length") or head_dim) + (field(f"{arch}.attention.value_length") or head_dim)
    ) * kv_bytes_per_value
    return {"weight_bytes": weights, "kv_bytes": per_position * context_tokens, "kv_bytes_per_position": per_position}
