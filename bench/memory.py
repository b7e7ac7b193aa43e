"""Memory read bandwidth, measured the way batch-1 decoding reads weights: torch streaming a large tensor."""

from __future__ import annotations

from typing import Any

from bench.figures import median_seconds


def read_bandwidth(megabytes: int = 1024, repeat: int = 7) -> dict[str, Any]:
    """GB/s of `tensor.sum()` over a float32 tensor far larger than the caches, with torch's own thread count
    (the threads the model runs on). Median of `repeat` passes after one warm-up pass (which also faults the
    pages in)."""
    import torch

    tensor = torch.ones(megabytes * 1024 * 1024 // 4, dtype=torch.float32)
    seconds, times = median_seconds(tensor.sum, repeat, warmup=1)
    nbytes = tensor.numel() * tensor.element_size()
    return {
        "bytes": nbytes,
        "threads": torch.get_num_threads(),
        "seconds": seconds,
        "gb_per_s": nbytes / seconds / 1e9,
        "runs_gb_per_s": [nbytes / t / 1e9 for t in times],
    }
