"""Peak resident memory of a `python -m rag.ask` process: the kernel's high-water mark `VmHWM` of that
process (Linux `/proc/PID/status`), polled until it exits.

Not `wait4`'s `ru_maxrss`: a child forked from this (large) process keeps the pre-exec image's peak there.
VmHWM belongs to the process's own address space after exec and only grows, so polling every 20 ms misses at
most growth in the last 20 ms before exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
QUESTION = "GPT-3 有多少参数？"


def start_ask(args: list[str], log_dir: Path, name: str, threads: int | None = None) -> tuple[subprocess.Popen, Path]:
    """Start `python -m rag.ask QUESTION *args` offline from the repository root; output goes to a log file.
    `threads` sets OMP_NUM_THREADS (None: torch's default)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    log = log_dir / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag.ask", QUESTION, "--no-stream", *args],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    return proc, log


def _hwm_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def wait_peak_rss(procs: dict[str, tuple[subprocess.Popen, Path]], interval: float = 0.02) -> dict[str, Any]:
    """Poll every process's VmHWM until all have exited; per name, peak RSS in bytes and the output's tail."""
    peak = dict.fromkeys(procs, 0)
    running = dict(procs)
    while running:
        for name, (proc, _) in list(running.items()):
            hwm = _hwm_bytes(proc.pid)  # read before poll(): a reaped process has no /proc entry
            peak[name] = max(peak[name], hwm or 0)
            if proc.poll() is not None:
                del running[name]
        time.sleep(interval)
    result = {}
    for name, (proc, log) in procs.items():
        if not peak[name]:
            raise RuntimeError(f"no VmHWM was read for rag.ask ({name}): peak RSS is measured from /proc, on Linux only")
        if proc.returncode != 0:
            raise RuntimeError(f"rag.ask ({name}) exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        result[name] = {"peak_rss_bytes": peak[name], "output_tail": log.read_text(errors="replace")[-600:]}
    return result


def bench_rss(model_folder: Path, index: Path, corpus: Path, max_new_tokens: int = 8, threads: int | None = None) -> dict[str, Any]:
    """Peak RSS of rag.ask with the random Qwen3 folder as --model (default dtype) and with the default model,
    which cannot be downloaded here, so that process answers extractively. Both run at once (memory only)."""
    common = ["--index", str(index), "--corpus", str(corpus), "--embedder", "minilm"]
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        runs = {
            "model": start_ask(["--model", str(model_folder), "--max-new-tokens", str(max_new_tokens), *common], Path(tmp), "model", threads),
            "extractive": start_ask(common, Path(tmp), "extractive", threads),
        }
        result = wait_peak_rss(runs)
    if "extractive" not in result["extractive"]["output_tail"]:
        raise RuntimeError(f"the default-model process did not fall back to extractive answers: {result['extractive']['output_tail']}")
    result["method"] = "VmHWM of the rag.ask process (/proc/PID/status), polled every 20 ms"
    return result
