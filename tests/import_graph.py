"""The package-level import graph of the repository, read from the code with `ast` (`python -m tests.import_graph`
prints the drawing that README's "How it fits together" shows).

Every import counts, also one inside a function: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "ingest", "rag", "eval", "ui", "bench")  # bottom to top
# What each package's modules may import of ours. The A/B page (ui) scores answers with the eval's metrics, and
# the benchmark runs the eval's sweep; nothing imports upwards.
ALLOWED = {
    "core": set(),
    "ingest": {"core"},
    "rag": {"core"},
    "eval": {"core", "rag"},
    "ui": {"core", "rag", "eval"},
    "bench": {"core", "rag", "eval"},
}
# Modules that may import more than their package, with what for: the entry points open (or build) the index.
EXCEPTIONS = {
    "rag.ask": ({"ingest"}, "opens or builds the index"),
    "ui.cli": ({"ingest"}, "opens or builds the index"),
    "eval.run": ({"ingest"}, "opens or builds the index"),
    "eval.bench": ({"bench"}, "the former name of python -m bench"),
    "bench.cli": ({"ingest"}, "builds the index it measures"),
    "bench.ingestion": ({"ingest"}, "measures the build"),
    "bench.retrieval": ({"ingest"}, "the chunks' embedding text for the LangChain reference"),
}


def modules() -> dict[str, Path]:
    """Dotted module name → file, for every module of our packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(module: str, path: Path) -> set[str]:
    """The dotted names `module` imports (relative imports resolved)."""
    names = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
    return names


def graph() -> dict[str, set[str]]:
    """Module → the packages of ours (other than its own) that it imports."""
    out = {}
    for module, path in modules().items():
        own = module.split(".")[0]
        out[module] = {name.split(".")[0] for name in imported(module, path)} & set(PACKAGES) - {own}
    return out


def violations(edges: dict[str, set[str]]) -> list[str]:
    """`module → package` for every import the rules above do not allow."""
    out = []
    for module, deps in sorted(edges.items()):
        allowed = ALLOWED[module.split(".")[0]] | EXCEPTIONS.get(module, (set(), ""))[0]
        out += [f"{module} → {dep}" for dep in sorted(deps - allowed)]
    return out


def _listed(packages: set[str]) -> str:
    return ", ".join(sorted(packages, key=PACKAGES.index))


def drawing(edges: dict[str, set[str]]) -> str:
    """One line per package, bottom to top: what its modules import of ours, then each module that imports more
    (and what for)."""
    lines = []
    for package in PACKAGES:
        mine = {m: deps for m, deps in edges.items() if m.split(".")[0] == package}
        usual = set().union(*mine.values()) & ALLOWED[package]
        lines.append(f"{package:<7}→ {_listed(usual) or 'nothing of ours'}")
        for module in sorted(m for m in mine if mine[m] - usual):
            why = EXCEPTIONS[module][1] if module in EXCEPTIONS else "not allowed"
            lines.append(f"{'':<9}{module} → {_listed(mine[module] - usual)} ({why})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    print(drawing(graph()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
