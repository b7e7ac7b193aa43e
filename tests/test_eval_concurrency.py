"""Sweeps against a server with several requests in flight, on the local OpenAI stand-in with injected latency:
throughput, retries, failures recorded apart, deterministic record order, and resuming after Ctrl-C."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bench.openai_stub import OpenAIStub
from core.errors import UserError
from eval.config import EvalConfig, load_eval_config
from eval.records import read_jsonl
from eval.run import in_order, run_sweep
from rag.generators.openai_server import RequestFailed

REPO = Path(__file__).resolve().parents[1]
CELLS = 5  # smoke.yaml: temperature × top_p, plus the closed-book control


@pytest.fixture()
def stub():
    server = OpenAIStub(latency_s=0.1, slots=8).start()
    yield server
    server.stop()


def _config(stub: OpenAIStub, corpus_dir: Path, corpus_index_dir: Path, **changes) -> EvalConfig:
    config = load_eval_config(REPO / "eval/configs/smoke.yaml")
    return config.with_overrides(
        backend="openai", base_url=stub.base_url, models=("tiny-qwen",), retries=2,
        index=replace(config.index, corpus=str(corpus_dir), index=str(corpus_index_dir), embedder="minilm"),
        **changes,
    )


def _order(run_dir: Path) -> list[tuple]:
    return [(r["question_id"], r["setting_id"], r["sample"]) for r in read_jsonl(run_dir / "records.jsonl")]


def test_eight_requests_are_in_flight_at_once_and_records_keep_their_order(stub, tmp_path, corpus_dir, corpus_index_dir, corpus_index):
    """The server sees up to `concurrency` requests at the same time (the speed-up itself is a bench row,
    `eval.bench --sections concurrency`: timings are not asserted in tests)."""
    config = _config(stub, corpus_dir, corpus_index_dir, limit=8)  # 8 questions × 5 cells = 40 requests
    peaks, orders = {}, {}
    for concurrency in (1, 8):
        stub.peak_in_flight = 0
        result = run_sweep(replace(config, concurrency=concurrency), tmp_path / f"c{concurrency}", progress=False, index=corpus_index)
        assert (result.status, result.generated, result.failed) == ("complete", 8 * CELLS * 2, 0)
        peaks[concurrency] = stub.peak_in_flight
        orders[concurrency] = _order(result.run_dir)
    assert peaks == {1: 1, 8: 8}  # 100 ms per request: eight are sent before the first answers
    assert orders[1] == orders[8]  # the same records in the same order, whatever finished first


def test_a_failed_request_is_retried(stub, tmp_path, corpus_dir, corpus_index_dir, corpus_index):
    stub.fail_next = [503, 429]  # the first request fails twice, then succeeds on its second retry
    result = run_sweep(_config(stub, corpus_dir, corpus_index_dir, limit=1, concurrency=4), tmp_path, progress=False, index=corpus_index)
    assert (result.status, result.generated, result.failed) == ("complete", CELLS * 2, 0)
    assert len([r for r in stub.requests if "messages" in r]) == CELLS + 2


def test_a_request_failing_after_its_retries_is_recorded_apart_and_retried_next_run(stub, tmp_path, corpus_dir, corpus_index_dir, corpus_index):
    stub.fail_next = [500, 500, 500]  # first request: the try and both retries fail
    config = _config(stub, corpus_dir, corpus_index_dir, limit=2, concurrency=1)  # one request takes all three failures
    first = run_sweep(config, tmp_path, progress=False, index=corpus_index)
    assert (first.status, first.failed, first.generated) == ("incomplete", 2, 2 * CELLS * 2 - 2)
    errors = list(read_jsonl(first.run_dir / "errors.jsonl"))
    assert len(errors) == 1 and errors[0]["samples"] == [0, 1] and "HTTP 500" in errors[0]["error"]
    again = run_sweep(config, tmp_path, progress=False, index=corpus_index)
    assert (again.status, again.generated, again.cached) == ("complete", 2, 2 * CELLS * 2 - 2)
    fresh = [r for r in read_jsonl(again.run_dir / "records.jsonl") if not r.get("from_cache")]
    assert {(r["question_id"], r["setting_id"]) for r in fresh} == {(errors[0]["question_id"], errors[0]["setting_id"])}


def test_ctrl_c_leaves_a_resumable_run(stub, tmp_path, corpus_dir, corpus_index_dir, corpus_index):
    config = _config(stub, corpus_dir, corpus_index_dir, limit=3, concurrency=8)
    seen: list[dict] = []

    def interrupt(record: dict) -> None:
        seen.append(record)
        if len(seen) == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(config, tmp_path, progress=False, index=corpus_index, on_record=interrupt)
    interrupted = max(p for p in tmp_path.iterdir() if (p / "run.json").exists())
    assert json.loads((interrupted / "run.json").read_text())["status"] == "interrupted"
    assert len(list(read_jsonl(interrupted / "records.jsonl"))) == 7
    resumed = run_sweep(config, tmp_path, progress=False, index=corpus_index)
    assert (resumed.status, resumed.cached, resumed.generated) == ("complete", 7, 3 * CELLS * 2 - 7)
    keys = [r["key"] for r in read_jsonl(resumed.run_dir / "records.jsonl")]
    assert len(keys) == len(set(keys)) == 3 * CELLS * 2


def test_in_order_yields_in_submission_order_and_bounds_the_calls_in_flight() -> None:
    import threading

    running, peak, lock = 0, 0, threading.Lock()

    def call(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02 * (5 - i % 5))  # later items finish first
        with lock:
            running -= 1
        if i == 3:
            raise RequestFailed("server busy")
        return i * i

    out = []
    with pytest.raises(RequestFailed, match="server busy"):
        for item, result in in_order(call, list(range(12)), 3):
            out.append((item, result))
    assert out == [(i, i * i) for i in range(3)] and peak == 3  # the failure surfaces in its turn
    assert list(in_order(lambda i: i * i, list(range(5)), 1)) == [(i, i * i) for i in range(5)]


def test_concurrency_needs_a_server_backend() -> None:
    with pytest.raises(UserError, match="concurrency 4 needs the openai backend"):
        EvalConfig(backend="transformers", concurrency=4)
    with pytest.raises(UserError, match="concurrency must be >= 1"):
        EvalConfig(backend="openai", base_url="http://127.0.0.1:1/v1", concurrency=0)


def test_n_per_request_splits_a_cell_for_servers_without_n(stub, tmp_path, corpus_dir, corpus_index_dir, corpus_index):
    """llama-server answers only n = 1: each sample is then its own request, carrying its own seed."""
    result = run_sweep(_config(stub, corpus_dir, corpus_index_dir, limit=1, n_per_request=1, concurrency=4), tmp_path, progress=False, index=corpus_index)
    requests = [r for r in stub.requests if "messages" in r]
    assert result.status == "complete" and len(requests) == CELLS * 2 and {r["n"] for r in requests} == {1}
    records = list(read_jsonl(result.run_dir / "records.jsonl"))
    assert all(r["request_seed"] == r["seed"] and r["batch_rows"] == 1 for r in records)
