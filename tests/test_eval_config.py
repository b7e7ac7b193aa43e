"""Sweep configs, grid expansion, seed derivation, the record cache and the run index (no model, no index)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import UserError
from eval.config import EvalConfig, eval_config_from_dict, load_eval_config
from eval.grid import CLOSED_BOOK, expand_grid
from eval.records import RecordKey, RecordStore, read_jsonl, sample_seed
from eval.run_index import RunIndex

REPO = Path(__file__).resolve().parents[1]


def test_shipped_configs_load_and_expand():
    nightly = expand_grid(load_eval_config(REPO / "eval/configs/nightly.yaml"))
    # 3 temperatures × 2 top_p + thinking on, for k ∈ {3, 5}, + closed book
    assert len(nightly.cells) == 2 * (3 * 2 + 1) + 1
    assert nightly.baseline.sampling.temperature == 0.7 and nightly.baseline.sampling.top_p == 0.8
    assert not nightly.baseline.sampling.thinking
    assert sum(c.control == CLOSED_BOOK for c in nightly.cells) == 1
    assert {"temperature", "top_p", "thinking", "k"} <= set(nightly.varying)
    assert len(nightly.factorial) == 12  # the thinking cells are explicit, outside the factorial grid
    smoke = load_eval_config(REPO / "eval/configs/smoke.yaml")
    assert smoke.name == "smoke" and smoke.n == 2 and smoke.limit
    assert len(expand_grid(smoke).cells) == 2 * 2 + 1


def test_grid_is_the_product_of_listed_values_with_fixed_scalars():
    config = eval_config_from_dict({
        "retrieval": {"k": [3, 5], "hybrid": [True, False]},
        "sampling": {"temperature": [0, 0.7, 1.0], "top_p": [0.8, 0.95], "top_k": 40, "max_new_tokens": 64},
        "baseline": {"temperature": 0.7, "top_p": 0.8},
        "closed_book": False,
    })
    grid = expand_grid(config)
    assert len(grid.cells) == 2 * 2 * 3 * 2
    assert all(c.sampling.top_k == 40 and c.sampling.max_new_tokens == 64 for c in grid.cells)
    assert {(c.retrieval.k, c.retrieval.hybrid) for c in grid.cells} == {(3, True), (3, False), (5, True), (5, False)}
    assert grid.baseline in grid.cells and grid.baseline.retrieval.k == 3
    assert len({c.id for c in grid.cells}) == len(grid.cells)


def test_baseline_outside_the_grid_is_added_and_explicit_settings_are_crossed_with_retrieval():
    grid = expand_grid(eval_config_from_dict({
        "retrieval": {"k": [3, 5]},
        "sampling": {"temperature": [0.7, 1.0]},
        "settings": [{"temperature": 0.6, "thinking": True}],
        "baseline": {"temperature": 0.2, "k": 5},
        "closed_book": False,
    }))
    assert len(grid.cells) == 2 * (2 + 1) + 1
    assert grid.baseline.sampling.temperature == 0.2 and grid.baseline.retrieval.k == 5
    assert grid.baseline.id not in grid.factorial
    assert sum(c.sampling.thinking for c in grid.cells) == 2


def test_setting_ids_are_stable_and_independent_of_the_rest_of_the_grid():
    small = expand_grid(eval_config_from_dict({"sampling": {"temperature": [0.7]}, "closed_book": False}))
    big = expand_grid(eval_config_from_dict({"sampling": {"temperature": [0.7, 1.0]}, "closed_book": False}))
    assert small.cells[0].id == big.cells[0].id
    # A pinned value: this id is stored in every record; changing the hashing would orphan all caches.
    assert small.cells[0].id == expand_grid(eval_config_from_dict({"closed_book": False})).cells[0].id


def test_seeds_are_stable_distinct_and_shared_by_every_setting():
    """Common random numbers: sample i of a question has one seed, whatever the setting."""
    assert sample_seed(0, "q001", 0) == sample_seed(0, "q001", 0)
    seeds = {sample_seed(0, q, i) for q in ("q1", "q2") for i in range(3)}
    assert len(seeds) == 6
    assert sample_seed(1, "q1", 0) != sample_seed(0, "q1", 0)
    assert all(0 <= s < 2**31 for s in seeds)
    # Same value in a fresh interpreter (Python's own hash() is salted per process).
    code = "from eval.records import sample_seed; print(sample_seed(0, 'q001', 0))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert int(out.stdout) == sample_seed(0, "q001", 0)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"sampling": {"temprature": [0.7]}}, "temprature"),
        ({"sampling": {"seed": [1, 2]}}, "top-level `seed`"),
        ({"retrival": {"k": 3}}, "retrival"),
        ({"sampling": {"temperature": [-1.0]}}, "temperature must be >= 0"),
        ({"n": 0}, "n (samples"),
        ({"backend": "vllm"}, "unknown backend"),
        ({"backend": "openai"}, "base_url"),
        ({"sampling": {"top_p": []}}, "lists no values"),
        ({"baseline": {"tempreature": 0.7}}, "tempreature"),
    ],
)
def test_bad_configs_are_rejected_with_the_offending_name(data, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("`", "`")):
        expand_grid(eval_config_from_dict(data))


def test_toml_config_and_overrides(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text('n = 3\nmodels = ["qwen3-0.6b"]\n[sampling]\ntemperature = [0.5, 1.0]\n', encoding="utf-8")
    config = load_eval_config(path)
    assert config.name == "sweep" and config.n == 3 and config.sampling["temperature"] == (0.5, 1.0)
    changed = config.with_overrides(limit=4, backend="extractive", models=None)
    assert changed.limit == 4 and changed.backend == "extractive" and changed.models == ("qwen3-0.6b",)
    assert changed.hash != config.hash and EvalConfig(**{**config.__dict__}).hash == config.hash


def _key(sample: int) -> RecordKey:
    return RecordKey("m", "r", "transformers", "idx", "p", "in", "q1", "s1", sample, sample_seed(0, "q1", sample), "dec")


def test_record_store_appends_flushes_and_survives_a_torn_line(tmp_path, capsys):
    path = tmp_path / "cache" / "generations.jsonl"
    store = RecordStore(path)
    store.append({"key": _key(0).digest, "answer": "一"})
    # Flushed per record: another reader sees it before the store is closed.
    assert [r["answer"] for r in read_jsonl(path)] == ["一"]
    store.close()
    with path.open("a", encoding="utf-8") as f:
        f.write('{"key": "torn", "answ')  # a hard kill in the middle of a write
    reopened = RecordStore(path)
    assert "torn" not in reopened and _key(0).digest in reopened
    assert "incomplete record" in capsys.readouterr().err
    reopened.append({"key": _key(1).digest, "answer": "二"})
    reopened.close()
    assert {r["key"] for r in RecordStore(path).values()} == {_key(0).digest, _key(1).digest}


def test_record_store_reports_and_skips_damaged_lines_anywhere(tmp_path, capsys):
    path = tmp_path / "generations.jsonl"
    good = [json.dumps({"key": _key(i).digest, "answer": str(i)}) for i in range(3)]
    path.write_bytes("\n".join([good[0], "{not json", '{"answer": "no key"}', "[1, 2]", good[1]]).encode() + b"\n\xff\xfe\n" + good[2].encode() + b"\n")
    store = RecordStore(path)
    assert {r["answer"] for r in store.values()} == {"0", "1", "2"} and store.skipped_lines == 4
    err = capsys.readouterr().err
    assert f"{path}:2 is not a valid JSON record (damaged); skipping it" in err and f"{path}:6 is not a valid JSON" in err
    assert err.count("warning:") == 4
    store.append({"key": _key(9).digest, "answer": "9"})
    store.close()
    assert len(RecordStore(path)) == 4


def test_record_key_covers_every_field():
    base = _key(0)
    variants = [
        RecordKey(**{**base.__dict__, name: (value + "x" if isinstance(value, str) else value + 1)})
        for name, value in base.__dict__.items()
    ]
    assert len({v.digest for v in variants} | {base.digest}) == len(variants) + 1


def test_run_index_finds_the_previous_comparable_run(tmp_path):
    db_path = tmp_path / "runs.sqlite"
    with RunIndex(db_path) as index:
        for run_id, config_hash, status in [("r1", "A", "complete"), ("r2", "B", "complete"),
                                            ("r3", "A", "interrupted"), ("r4", "A", "complete")]:
            index.start_run(run_id=run_id, run_dir=str(tmp_path / run_id), name="nightly", config_hash=config_hash,
                            started_at=f"2026-01-0{run_id[1]}T00:00:00+00:00", models=["m"], backend="transformers",
                            git_commit="c")
            index.finish_run(run_id, status=status, finished_at="2026-01-09T00:00:00+00:00")
            index.set_settings(run_id, [{"model": "m", "setting_id": "s", "label": "T=0.7", "is_baseline": 1,
                                         "grounded_accuracy": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n_questions": 10}])
        assert index.previous_run("r4")["run_id"] == "r1"  # same config, complete, earlier
        assert index.previous_run("r1") is None
        assert [p["run_id"] for p in index.baseline_trend("nightly")] == ["r1", "r2", "r4"]
    rows = sqlite3.connect(db_path).execute("SELECT count(*) FROM settings").fetchone()
    assert rows == (4,)
    assert json.loads(json.dumps(RunIndex(db_path).runs()))[0]["status"] == "complete"


def test_runs_whose_process_died_are_marked_interrupted(tmp_path):
    import os
    import socket
    import time

    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    old = time.time() - 3600
    cases = {
        "killed-here": ({"pid": int(dead_pid), "host": socket.gethostname()}, None, "interrupted"),
        "alive-here": ({"pid": os.getpid(), "host": socket.gethostname()}, None, "running"),
        "elsewhere-silent": ({"pid": 1, "host": "another-host"}, old, "interrupted"),
        "elsewhere-beating": ({"pid": 1, "host": "another-host"}, time.time(), "running"),
    }
    db_path = tmp_path / "runs.sqlite"
    with RunIndex(db_path) as db:
        for run_id, (meta, beat, _) in cases.items():
            run_dir = tmp_path / run_id
            run_dir.mkdir()
            (run_dir / "run.json").write_text(json.dumps(meta))
            os.utime(run_dir / "run.json", (old, old))
            if beat is not None:
                (run_dir / "heartbeat").touch()
                os.utime(run_dir / "heartbeat", (beat, beat))
            db.start_run(run_id=run_id, run_dir=str(run_dir), name="n", config_hash="h", started_at="t", models=["m"],
                         backend="extractive", git_commit="c")  # fmt: skip
    with RunIndex(db_path) as db:
        assert sorted(db.interrupted) == ["elsewhere-silent", "killed-here"]
        assert {run_id: db.run(run_id)["status"] for run_id in cases} == {k: v[2] for k, v in cases.items()}
