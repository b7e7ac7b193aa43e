"""`python -m bench --quick` runs end to end and produces every figure (timings are never asserted), also from an
installed copy outside the source checkout, and its Markdown table starts with the stamp of where it came from."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from bench.cli import main
from eval.records import git_commit
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
    stamp, table = md.read_text(encoding="utf-8").split("\n\n", 1)
    assert re.fullmatch(STAMP, stamp), stamp
    assert stamp.split(" · ")[1] == f"commit {git_commit()[:7]}{'+dirty' if git_commit().endswith('+dirty') else ''}"
    assert f"`python -m bench --quick --out {out} --markdown {md} --tokenizer {tiny_qwen_dir}`" in stamp
    assert table.count("\n| ") == len(figures) + 1  # separator row + one per figure


STAMP = (
    r"Measured \d{4}-\d\d-\d\d \d\d:\d\d UTC · commit ([0-9a-f]{7}(\+dirty)?|unknown) · .+, \d+ cores, "
    r"AVX2 (yes|no), AVX-512 (yes|no), AMX (yes|no) · `python -m bench .+`"
)
REPO = Path(__file__).resolve().parents[1]


def test_bench_runs_from_an_installed_wheel_outside_the_checkout(tmp_path):
    """The wheel built from the sources (without tests/) holds everything `python -m bench` imports: run from a
    folder that is not the repository, with only the wheel's contents importable, it measures (the OpenAI stand-in and the shipped sweep config come from the wheel too) and stamps."""
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", "tests", "index", "runs", "build", "*.egg-info", "__pycache__", "docs"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "wheel"), str(source)],
                   check=True, capture_output=True)  # fmt: skip
    site = tmp_path / "site"
    zipfile.ZipFile(next((tmp_path / "wheel").glob("*.whl"))).extractall(site)
    assert not (site / "tests").exists()
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-m", "bench", "--quick", "--sections", "memory,concurrency", "--corpus", str(REPO / "corpus"), "--markdown", "bench.md"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    stamp, table = (work / "bench.md").read_text(encoding="utf-8").split("\n\n", 1)
    assert re.fullmatch(STAMP, stamp) and "· commit unknown ·" in stamp, stamp  # no git repository around the installed copy
    assert "read bandwidth (torch sum)" in table and "openai sweep" in table


def test_the_former_name_still_runs_the_benchmark():
    """`python -m eval.bench` (kept for one release) is `python -m bench`: same flags, same checks."""
    run = subprocess.run([sys.executable, "-m", "eval.bench", "--quick", "--sections", "gpu"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "unknown sections ['gpu']" in run.stderr


def test_bad_arguments_exit_2(capsys):
    assert main(["--quick", "--scales", "ten"]) == 2
    assert "--scales" in capsys.readouterr().err
    assert main(["--quick", "--sections", "memory,gpu"]) == 2


def test_llamacpp_only_rows_judge_the_targets_without_a_transformers_reference():
    """`--llamacpp-only` leaves the transformers measurements out; the llama.cpp rows still carry their targets,
    the prefill's compute rate and the decode breakdown."""
    from bench.cli import figures_from

    lc = {"prompt_tokens": 1000, "ttft_s": 50.0, "prefill_tokens_per_s": 20.0, "decode_tokens_per_s": 3.0, "bound_tokens_per_s": 10.0}
    breakdown = {"n_params": 600_000_000, "decode_only_tokens_per_s_after_prompt": 4.0,
                 "decode_only_tokens_per_s_after_one_token": 5.0, "sampler_ms_per_token": 1.0}
    breakdown["bound_after_one_token_tokens_per_s"] = 12.5
    band = {"before": {"runs_gb_per_s": [6.0] * 5, "median_gb_per_s": 6.0}, "after": {"runs_gb_per_s": [6.0] * 5, "median_gb_per_s": 6.0}, "gb_per_s": 6.0}
    read = {"weight_bytes": 600_000_000, "kv_bytes": 0}
    lc["weights_only_bound_tokens_per_s"] = 10.0
    raw = {"llamacpp": {"threads": 1, "files": [
        {"file": "random Qwen3-0.6B shape Q8_0", "weight_bytes": 600_000_000, "llamacpp": lc, "breakdown": breakdown, "decode_bytes": read, "bandwidth": band}]}}
    figures = {f.name.split(": ", 1)[1]: f for f in figures_from(raw, quick=False)}
    assert not any("transformers" in name for name in figures)
    assert figures["TTFT, llama.cpp"].met is False and figures["decode, llama.cpp"].met is False
    assert figures["decode, llama.cpp"].ratio == 0.3
    assert "prefill at 24.0 GFLOP/s, TTFT 4 s needs 300.0" in figures["prefill, llama.cpp"].note  # 2 × 6e8 × 1000 FLOPs
    alone = figures["llama_decode alone after the prompt (no sampling)"]
    assert alone.ratio == 0.4 and "0.40 of its bound, 12.5 tok/s" in alone.note
