"""How much faster the shared-prefill batched sweep is than one `generate` call per sample, on this machine.

`python -m bench.sweep [--quick] [--reference-rows N] [--out FILE.json]`

One RAG-length prompt (random token ids), `settings × samples` rows, every row forced to run its whole
`max_new_tokens` (the model has no stop token), on a random-weight model with the exact Qwen3-0.6B
configuration (weights do not change speed; nothing is downloaded). Every sequential row does identical work
(same prompt length, same number of new tokens), so the reference may time only `--reference-rows` of them
and scale the median row time to all rows; the JSON says how many were timed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from rag.config import SamplingParams

SWEEP_TEMPERATURES = (0.3, 0.7, 1.0)
SWEEP_TOP_PS = (0.8, 0.95, 1.0)


def qwen3_0_6b_config(**overrides: Any):
    """`Qwen3Config` with the published Qwen/Qwen3-0.6B sizes; `overrides` shrink it for quick runs."""
    from transformers import Qwen3Config

    values = dict(
        vocab_size=151936,
        hidden_size=1024,
        intermediate_size=3072,
        num_hidden_layers=28,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=128,
        max_position_embeddings=40960,
        rope_theta=1_000_000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
    )
    values.update(overrides)
    return Qwen3Config(**values)


def random_qwen3(config=None, dtype: str = "bfloat16", seed: int = 0):
    """A random-weight Qwen3 (default: the 0.6B configuration) without stop tokens, so every row runs in full."""
    import torch
    from transformers import GenerationConfig, Qwen3ForCausalLM

    torch.manual_seed(seed)
    model = Qwen3ForCausalLM._from_config(config or qwen3_0_6b_config(), dtype=getattr(torch, dtype)).eval()
    model.generation_config = GenerationConfig(eos_token_id=None, pad_token_id=0)
    return model


def sweep_rows(settings: int, samples: int, max_new_tokens: int) -> tuple[list[SamplingParams], list[int]]:
    """`settings` cells of a temperature × top_p grid (top_k 20), each repeated `samples` times with its own seed."""
    cells = [(t, p) for t in SWEEP_TEMPERATURES for p in SWEEP_TOP_PS]
    cells = [cells[i % len(cells)] for i in range(settings)]
    rows = [
        SamplingParams(temperature=t, top_p=p, top_k=20, max_new_tokens=max_new_tokens)
        for t, p in cells
        for _ in range(samples)
    ]
    return rows, list(range(len(rows)))


def _timed(fn, *args) -> tuple[float, float, Any]:
    """Wall seconds, this process's CPU seconds (less sensitive to other load on a shared machine), result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def _check_full_length(samples: list, max_new_tokens: int, what: str) -> None:
    short = [s.new_tokens for s in samples if s.new_tokens != max_new_tokens]
    if short:
        raise RuntimeError(f"{what}: {len(short)} rows stopped early ({short[:5]}); the comparison needs full rows")


def measure_sweep_speedup(
    model: Any = None,
    prompt_tokens: int = 1500,
    settings: int = 9,
    samples: int = 6,
    max_new_tokens: int = 64,
    reference_rows: int | None = 3,
    repeats: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Time `sample_batched` against `sample_sequential` for one prompt; return seconds and the speed-up ratio.

    `model` defaults to `random_qwen3()` (Qwen3-0.6B sizes, bfloat16). `reference_rows` sequential rows are timed
    (None: all) and scaled to the full row count; each figure is the median over `repeats` runs.
    """
    import torch

    from rag.generators.batched import sample_batched, sample_sequential

    model = model if model is not None else random_qwen3(seed=seed)
    vocab = model.config.vocab_size
    prompt = torch.randint(0, vocab, (prompt_tokens,), generator=torch.Generator().manual_seed(seed)).tolist()
    rows, seeds = sweep_rows(settings, samples, max_new_tokens)
    timed_rows = len(rows) if reference_rows is None else max(1, min(reference_rows, len(rows)))
    # Spread the timed reference rows over the grid (first sample of evenly spaced settings).
    picks = [round(i * (len(rows) - 1) / max(1, timed_rows - 1)) for i in range(timed_rows)]

    load_before = os.getloadavg()
    with torch.inference_mode():
        prefill_s = statistics.median(_timed(model, torch.tensor([prompt]))[0] for _ in range(repeats))
    batched_runs, batched_cpu, row_times, row_cpu = [], [], [], []
    for _ in range(repeats):
        seconds, cpu, out = _timed(sample_batched, model, None, prompt, rows, seeds)
        _check_full_length(out, max_new_tokens, "sample_batched")
        batched_runs.append(seconds)
        batched_cpu.append(cpu)
        for i in picks:
            seconds, cpu, out = _timed(sample_sequential, model, None, prompt, [rows[i]], [seeds[i]])
            _check_full_length(out, max_new_tokens, "sample_sequential")
            row_times.append(seconds)
            row_cpu.append(cpu)
    batched_s = statistics.median(batched_runs)
    per_row_s = statistics.median(row_times)
    sequential_s = per_row_s * len(rows)
    cpu_speedup = statistics.median(row_cpu) * len(rows) / statistics.median(batched_cpu)
    return {
        "model": f"random-weight Qwen3 ({model.config.num_hidden_layers} layers, hidden {model.config.hidden_size}, "
        f"vocab {vocab}, {str(model.dtype).removeprefix('torch.')})",
        "threads": torch.get_num_threads(),
        "prompt_tokens": prompt_tokens,
        "rows": len(rows),
        "settings": settings,
        "samples": samples,
        "max_new_tokens": max_new_tokens,
        "repeats": repeats,
        "prefill_s": prefill_s,
        "batched_s": batched_s,
        "batched_runs_s": batched_runs,
        "sequential_row_s": per_row_s,
        "sequential_rows_timed": len(row_times),
        "sequential_row_times_s": row_times,
        "sequential_s": sequential_s,
        "speedup": sequential_s / batched_s,
        "cpu_time_speedup": cpu_speedup,
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "batched_tokens_per_s": len(rows) * max_new_tokens / batched_s,
        "sequential_tokens_per_s": max_new_tokens / per_row_s,
    }


def format_report(result: dict[str, Any]) -> str:
    """A short human-readable summary of `measure_sweep_speedup`'s result."""
    return "\n".join(
        [
            f"{result['model']}, {result['threads']} threads, prompt {result['prompt_tokens']} tokens, "
            f"{result['settings']} settings x {result['samples']} samples, {result['max_new_tokens']} new tokens each",
            f"  one prefill:                {result['prefill_s']:8.1f} s",
            f"  sample_batched (all rows):  {result['batched_s']:8.1f} s  "
            f"({result['batched_tokens_per_s']:.1f} tokens/s)",
            f"  sample_sequential per row:  {result['sequential_row_s']:8.1f} s  "
            f"(median of {result['sequential_rows_timed']} timed rows)",
            f"  sample_sequential, {result['rows']} rows: {result['sequential_s']:8.1f} s  "
            f"({result['sequential_tokens_per_s']:.1f} tokens/s)",
            f"  speed-up:                   {result['speedup']:8.1f}x wall time, "
            f"{result['cpu_time_speedup']:.1f}x CPU time (load average {result['load_average_before_after']})",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny model and sizes: checks the benchmark runs")
    parser.add_argument("--reference-rows", type=int, default=3, help="sequential rows to time (0 = all rows)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per figure; the median is reported")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--out", type=Path, help="also write the result as JSON to this file")
    args = parser.parse_args(argv)
    if args.reference_rows < 0 or args.repeats < 1:
        print("error: --reference-rows must be >= 0 and --repeats >= 1", file=sys.stderr)
        return 2
    if args.quick:
        config = qwen3_0_6b_config(
            vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16,
        )
        sizes = dict(prompt_tokens=64, settings=3, samples=2, max_new_tokens=8)
    else:
        config, sizes = None, {}
    model = random_qwen3(config, dtype=args.dtype)
    result = measure_sweep_speedup(model, reference_rows=args.reference_rows or None, repeats=args.repeats, **sizes)
    print(format_report(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
