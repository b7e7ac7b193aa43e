"""The bandwidth bound's arithmetic: which bytes a decode step reads from a GGUF file, how passes become rates,
where the last-level cache size comes from, and that the decode figure divides by all of it (no machine figure
is asserted)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.cli import figures_from
from bench.memory import decode_bytes_per_token, last_level_cache_bytes, rates, read_bandwidth

VOCAB, EMBD, LAYERS = 10, 8, 3


def _gguf(path: Path, *, untied: bool, key_length: int | None = None) -> Path:
    """A 3-layer llama-architecture GGUF with float32 tensors of known sizes (2 heads of 4, 1 KV head)."""
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(LAYERS)
    w.add_embedding_length(EMBD)
    w.add_head_count(2)
    w.add_head_count_kv(1)
    if key_length:
        w.add_key_length(key_length)
    w.add_token_list([f"t{i}" for i in range(VOCAB)])
    w.add_tensor("token_embd.weight", np.zeros((VOCAB, EMBD), np.float32))  # 320 bytes
    for i in range(LAYERS):
        w.add_tensor(f"blk.{i}.attn_q.weight", np.zeros((EMBD, EMBD), np.float32))  # 256 bytes each
    w.add_tensor("output_norm.weight", np.zeros(EMBD, np.float32))  # 32 bytes
    if untied:
        w.add_tensor("output.weight", np.zeros((VOCAB, EMBD), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_tied_embeddings_are_read_once_as_the_lm_head(tmp_path):
    read = decode_bytes_per_token(_gguf(tmp_path / "tied.gguf", untied=False), context_tokens=10)
    assert read["weight_bytes"] == 320 + 3 * 256 + 32


def test_a_separate_lm_head_is_read_whole_and_the_embedding_one_row(tmp_path):
    read = decode_bytes_per_token(_gguf(tmp_path / "untied.gguf", untied=True), context_tokens=10)
    assert read["weight_bytes"] == 320 + 3 * 256 + 32 + EMBD * 4  # the head, the layers, the norm, one embedding row


def test_the_kv_cache_read_grows_with_the_context(tmp_path):
    path = _gguf(tmp_path / "m.gguf", untied=False)
    # 3 layers × 1 KV head × (K 4 + V 4 values, head_dim = 8 / 2 heads) × 2 bytes (F16 cache) = 48 per position
    assert decode_bytes_per_token(path, 10)["kv_bytes"] == 480
    assert decode_bytes_per_token(path, 20, kv_bytes_per_value=4)["kv_bytes"] == 1920
    wide = _gguf(tmp_path / "k6.gguf", untied=False, key_length=6)  # an explicit key length wins over embd/heads
    assert decode_bytes_per_token(wide, 1)["kv_bytes_per_position"] == 3 * (6 + 4) * 2


def test_rates_report_the_best_pass_with_median_and_spread():
    r = rates(10 * 10**9, [1.0, 2.0, 0.5, 1.0])  # 10, 5, 20, 10 GB/s
    assert r["runs_gb_per_s"] == [10, 5, 20, 10]
    assert (r["best_gb_per_s"], r["median_gb_per_s"], r["worst_gb_per_s"]) == (20, 10, 5)
    assert r["spread"] == pytest.approx(1.5)


def test_last_level_cache_is_the_largest_level(tmp_path):
    for i, size in enumerate(["32K", "32K", "512K", "32768K"]):
        (tmp_path / f"index{i}").mkdir()
        (tmp_path / f"index{i}" / "size").write_text(size + "\n")
    assert last_level_cache_bytes(tmp_path) == 32 * 2**20
    assert last_level_cache_bytes(tmp_path / "missing") is None


def test_read_bandwidth_alternates_both_kernels_and_bounds_by_the_best_read():
    m = read_bandwidth(megabytes=8, repeat=3)
    assert len(m["read"]["runs_gb_per_s"]) == len(m["triad"]["runs_gb_per_s"]) == 3
    assert m["gb_per_s"] == m["read"]["best_gb_per_s"] == max(m["read"]["runs_gb_per_s"])
    assert m["bytes"] == 8 * 2**20
    assert "triad" not in read_bandwidth(megabytes=8, repeat=1, triad=False)


def test_decode_share_divides_by_weights_and_kv_cache():
    """The figure's bound is bandwidth ÷ (weights + KV cache) per token; the weights-only share is in the note."""
    gbs = 10.0
    read = {"weight_bytes": 800_000_000, "kv_bytes": 200_000_000, "kv_bytes_per_position": 150_000}
    lc = {"prompt_tokens": 1000, "ttft_s": 10.0, "prefill_tokens_per_s": 100.0, "decode_tokens_per_s": 6.0,
          "bound_tokens_per_s": gbs * 1e9 / 1e9, "weights_only_bound_tokens_per_s": gbs * 1e9 / 8e8}
    band = {"before": rates(10**10, [1.0] * 5), "after": rates(10**10, [1.25] * 5), "gb_per_s": gbs, "threads": 2}
    raw = {"llamacpp": {"threads": 2, "files": [{"file": "random Qwen3-0.6B shape Q8_0", "weight_bytes": 800_000_000, "llamacpp": lc,
                                                  "decode_bytes": read, "bandwidth": band}]}}
    decode = next(f for f in figures_from(raw, quick=False) if f.name.endswith("decode, llama.cpp"))
    assert decode.reference_value == 10.0 and decode.ratio == 0.6 and decode.met is True
    assert "0.80 GB weights + 0.20 GB KV cache" in decode.reference
    assert "best of 10 passes" in decode.note and "medians 10.0 before, 8.0 after" in decode.note and "0.48 of 12.5 tok/s" in decode.note
