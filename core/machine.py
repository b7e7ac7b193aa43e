"""What machine a measurement ran on: CPU model, cores and the vector extensions speed depends on."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """CPU model, logical cores and AVX2 / AVX-512 / AMX support; the flags are None where /proc/cpuinfo is missing."""
    model, flags = platform.processor() or platform.machine(), None
    try:
        lines = cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    found_model = False
    for line in lines:
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "model name" and value and not found_model:
            model, found_model = value, True
        elif key == "flags" and flags is None:
            flags = set(value.split())
        if found_model and flags is not None:
            break
    has = (lambda flag: flag in flags) if flags is not None else (lambda flag: None)
    return {"cpu": model, "cores": os.cpu_count(), "avx2": has("avx2"), "avx512": has("avx512f"), "amx": has("amx_bf16")}


def describe(info: dict[str, Any]) -> str:
    """`AMD EPYC, 2 cores, AVX2 yes, AVX-512 no, AMX no`, for a stamp line."""
    def yes(value: bool | None) -> str:
        return "unknown" if value is None else "yes" if value else "no"

    return f"{info['cpu']}, {info['cores']} cores, AVX2 {yes(info['avx2'])}, AVX-512 {yes(info['avx512'])}, AMX {yes(info['amx'])}"
