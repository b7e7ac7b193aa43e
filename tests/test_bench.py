"""`python -m eval.bench --quick` runs end to end and produces every figure (timings are never asserted)."""

from __future__ import annotations

import json
import math

from eval.bench import main
from rag.generators.transformers_lm import pick_dtype

EXPECTED = {
    "memory": ["read bandwidth", "rag.ask peak RSS, random Qwen3 folder", "rag.ask peak RSS, default model"],
    "ingest": ["full build (", "full build vs LangChain", "no-op rebuild", "build ×2", "build ×3", "linear fit"],
    "retrieval": ["hybrid retriever p50", "hybrid retriever p95", "query embedding alone"],
    "generation": [
        "TTFT, rag TransformersGenerator",
        "CPU time per call",
        "decode rate, rag TransformersGenerator",
        "bandwidth bound",
        "decode rate, bare generate",
        "decode rate: eager_attention",
        "decode rate: threads_",
        "TTFT: system_prompt_cache",
        "decode rate: dtype_",  # completed below with the dtype auto did not pick on this CPU
    ],
    "sweep": ["batched sampling"],
    "llamacpp": [
        "tiny random Qwen3 Q8_0: prefill, llama.cpp",
        "tiny random Qwen3 Q8_0: TTFT, llama.cpp",
        "tiny random Qwen3 Q8_0: decode, llama.cpp",
        "tiny random Qwen3 Q8_0: decode, transformers",
        "tiny random Qwen3 Q8_0: llama_decode alone after the prompt",
        "tiny random Qwen3 F16: decode, llama.cpp",
        "tiny random Qwen3 Q4_K_M: decode, llama.cpp",  # quantised from the F16 file by llama.cpp
        "tiny random Qwen3 Q4_0: decode, llama.cpp",
        "tiny random Qwen3 Q8_0: sweep",
    ],
    "concurrency": ["openai sweep"],
}


def test_quick_bench_writes_every_figure_finite(tmp_path, tiny_qwen_dir, capsys):
    out, md = tmp_path / "bench.json", tmp_path / "bench.md"
    assert main(["--quick", "--out", str(out), "--markdown", str(md), "--tokenizer", str(tiny_qwen_dir)]) == 0

    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["quick"] is True and data["machine"]["cores"] >= 1
    figures = data["figures"]
    # auto picks bfloat16 only on CPUs with native bf16 (AVX-512 BF16/AMX): the variant is the other dtype.
    other_dtype = "float32" if pick_dtype("auto", "cpu") == "bfloat16" else "bfloat16"
    expected = {**EXPECTED, "generation": [n + other_dtype if n == "decode rate: dtype_" else n for n in EXPECTED["generation"]]}
    for section, names in expected.items():
        present = [f["name"] for f in figures if f["section"] == section]
        for name in names:
            assert any(p.startswith(name) for p in present), f"{section}: no figure {name!r} in {present}"
    for f in figures:
        assert math.isfinite(f["value"]) and f["value"] >= 0, f
        for key in ("reference_value", "ratio"):
            assert f[key] is None or math.isfinite(f[key]), (key, f)
        if f["target"]:
            assert f["met"] in (True, False), f
    rss = data["raw"]["rss"]
    assert rss["model"]["peak_rss_bytes"] > 100 * 2**20 and rss["extractive"]["peak_rss_bytes"] > 100 * 2**20
    assert data["raw"]["generation"]["prompt_tokens"] > 0

    printed = capsys.readouterr().out
    assert "TTFT, rag TransformersGenerator" in printed and "--quick" in printed
    markdown = md.read_text(encoding="utf-8")
    assert sum(line.startswith("| ") for line in markdown.splitlines()) == len(figures) + 2  # header, separator, figures
    assert markdown.startswith(f"Measured {data['measured_at'][:10]} ") and f"commit {data['machine']['commit']}, " in markdown
    assert "Command: `python -m eval.bench --quick " in markdown.splitlines()[0]


def test_bad_arguments_exit_2(capsys):
    assert main(["--quick", "--scales", "ten"]) == 2
    assert "--scales" in capsys.readouterr().err
    assert main(["--quick", "--sections", "memory,gpu"]) == 2


def test_llamacpp_only_rows_judge_the_targets_without_a_transformers_reference():
    """`--llamacpp-only` leaves the transformers measurements out; the llama.cpp rows still carry their targets,
    the prefill's compute rate and the decode breakdown."""
    from eval.bench import figures_from

    lc = {"prompt_tokens": 1000, "ttft_s": 50.0, "prefill_tokens_per_s": 20.0, "decode_tokens_per_s": 3.0, "bound_tokens_per_s": 10.0}
    breakdown = {"n_params": 600_000_000, "decode_only_tokens_per_s_after_prompt": 4.0,
                 "decode_only_tokens_per_s_after_one_token": 5.0, "sampler_ms_per_token": 1.0}
    raw = {"llamacpp": {"threads": 1, "bandwidth_gb_per_s": 6.0, "files": [
        {"file": "random Qwen3-0.6B shape Q8_0", "weight_bytes": 600_000_000, "llamacpp": lc, "breakdown": breakdown}]}}
    figures = {f.name.split(": ", 1)[1]: f for f in figures_from(raw, quick=False)}
    assert not any("transformers" in name for name in figures)
    assert figures["TTFT, llama.cpp"].met is False and figures["decode, llama.cpp"].met is False
    assert figures["decode, llama.cpp"].ratio == 0.3
    assert "prefill at 24.0 GFLOP/s, TTFT 4 s needs 300.0" in figures["prefill, llama.cpp"].note  # 2 × 6e8 × 1000 FLOPs
    alone = figures["llama_decode alone after the prompt (no sampling)"]
    assert alone.ratio == 0.4 and "0.50 of bound" in alone.note
