"""The default llama.cpp thread count is the physical cores this process may use, as llama.cpp counts them."""

from __future__ import annotations

from rag.generators import llamacpp_lm
from rag.generators.llamacpp_lm import default_threads


def _topology(root, siblings: dict[int, str]):
    for cpu, text in siblings.items():
        (root / f"cpu{cpu}" / "topology").mkdir(parents=True)
        (root / f"cpu{cpu}" / "topology" / "thread_siblings_list").write_text(text + "\n")
    return root


def test_hyper_thread_siblings_count_as_one_core(tmp_path, monkeypatch):
    root = _topology(tmp_path, {0: "0,2", 1: "1,3", 2: "0,2", 3: "1,3"})
    monkeypatch.setattr(llamacpp_lm.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert default_threads(root) == 2


def test_only_the_cpus_the_process_may_use_count(tmp_path, monkeypatch):
    root = _topology(tmp_path, {0: "0", 1: "1", 2: "2", 3: "3"})
    monkeypatch.setattr(llamacpp_lm.os, "sched_getaffinity", lambda pid: {1, 3})
    assert default_threads(root) == 2


def test_without_a_readable_topology_every_available_cpu(tmp_path, monkeypatch):
    monkeypatch.setattr(llamacpp_lm.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert default_threads(tmp_path / "none") == 3
