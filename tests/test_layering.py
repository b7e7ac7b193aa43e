"""The layering README's "How it fits together" draws, checked on the code: core imports nothing of ours,
ingest and rag only core, the applications only what lies below them (their entry points may open or build the
index), and no module outside rag/generators/ and the benchmark compares anything with a backend's name.
(tests/test_docs_examples.py checks that README shows the drawing of the code as it is.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rag.generators import BACKENDS
from tests import import_graph

BACKEND_NAMES = frozenset(BACKENDS) - {"auto"}  # "auto" is also a dtype and a device


def backend_comparisons(path: Path) -> list[str]:
    """`file:line: 'name'` for every comparison (==, !=, in, match case) of something with a backend's name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
        elif isinstance(node, ast.MatchValue):
            operands = [node.value]
        else:
            continue
        for operand in operands:
            for const in ast.walk(operand):
                if isinstance(const, ast.Constant) and const.value in BACKEND_NAMES:
                    found.append(f"{path.relative_to(path.parents[1])}:{node.lineno}: {const.value!r}")
    return found


def test_imports_follow_the_layers():
    assert import_graph.violations(import_graph.graph()) == []


def test_every_listed_exception_is_still_needed():
    edges = import_graph.graph()
    stale = {m: extra - edges[m] for m, (extra, _) in import_graph.EXCEPTIONS.items() if extra - edges[m]}
    assert not stale, f"these modules no longer import what EXCEPTIONS allows them: {stale}; drop it from tests/import_graph.py"


def test_an_upward_or_sideways_import_is_caught(tmp_path, monkeypatch):
    for package in import_graph.PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "rag" / "pipeline.py").write_text("def f():\n    from ingest.build import open_index\n")  # lazy
    (tmp_path / "core" / "index.py").write_text("from rag.types import Hit\n")
    (tmp_path / "ingest" / "build.py").write_text("from . import store\nfrom core.errors import UserError\n")
    monkeypatch.setattr(import_graph, "REPO", tmp_path)
    edges = import_graph.graph()
    assert import_graph.violations(edges) == ["core.index → rag", "rag.pipeline → ingest"]
    assert "rag.pipeline → ingest (not allowed)" in import_graph.drawing(edges)


def test_no_module_outside_the_generators_and_the_benchmark_compares_with_a_backend_name():
    outside = [p for m, p in import_graph.modules().items() if not m.startswith(("rag.generators", "bench"))]
    assert [hit for path in outside for hit in backend_comparisons(path)] == []


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ('if generator.backend == "openai":\n    pass\n', ["openai"]),
        ('ok = backend not in ("extractive", "llamacpp")\n', ["extractive", "llamacpp"]),
        ('match backend:\n    case "transformers":\n        pass\n', ["transformers"]),
        ('CHOICES = ("openai", "extractive")\nlabel = {"openai": "server"}[backend]\n', []),  # naming is not comparing
    ],
)
def test_a_comparison_with_a_backend_name_is_caught(tmp_path, source, names):
    (tmp_path / "pkg").mkdir()
    path = tmp_path / "pkg" / "mod.py"
    path.write_text(source)
    assert [hit.rsplit(": ", 1)[1].strip("'") for hit in backend_comparisons(path)] == names
