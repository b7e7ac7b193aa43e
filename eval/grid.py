"""Expand a sweep config into settings cells, each with a stable id, and derive per-sample seeds.

A cell is one (retrieval, prompt, sampling) combination. Its id hashes the full effective values, so the same
setting keeps its id across runs and configs (a re-run with one new grid value reuses every other cell).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

from core.errors import UserError
from eval.config import EvalConfig
from rag.config import RetrievalSettings, SamplingParams

CLOSED_BOOK = "closed_book"

# Short names used in labels and figure axes.
_SHORT = {
    "temperature": "T",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "repetition_penalty": "rep",
    "max_new_tokens": "max_new",
    "thinking": "think",
    "k": "k",
    "hybrid": "hybrid",
    "rerank": "rerank",
    "prompt": "prompt",
}


@dataclass(frozen=True)
class Cell:
    """One setting of the sweep. `retrieval` is None for the closed-book control (no sources)."""

    retrieval: RetrievalSettings | None
    prompt: str
    sampling: SamplingParams
    control: str | None = None

    def params(self) -> dict[str, Any]:
        """Flat view of every value that defines the cell (sampling seed excluded: it is derived per sample)."""
        flat: dict[str, Any] = {k: v for k, v in dataclasses.asdict(self.sampling).items() if k != "seed"}
        if self.retrieval is not None:
            flat.update(dataclasses.asdict(self.retrieval))
        flat["prompt"] = self.prompt
        if self.control:
            flat["control"] = self.control
        return flat

    @property
    def id(self) -> str:
        """Stable 12-hex-digit id of the setting."""
        return hashlib.sha256(json.dumps(self.params(), sort_keys=True).encode()).hexdigest()[:12]

    def label(self, varying: list[str] | None = None) -> str:
        """Human label naming the given parameters (all sweepable ones when None), e.g. `k=5 T=0.7 top_p=0.8`."""
        if self.control == CLOSED_BOOK:
            prefix = "closed-book "
        else:
            prefix = ""
        flat = self.params()
        names = varying if varying is not None else [n for n in _SHORT if n in flat]
        parts = []
        for name in names:
            if name not in flat or (self.control == CLOSED_BOOK and name in ("k", "hybrid", "rerank")):
                continue
            value = flat[name]
            if isinstance(value, bool):
                value = "on" if value else "off"
            parts.append(f"{_SHORT.get(name, name)}={value}")
        return (prefix + " ".join(parts)).strip() or "baseline"


@dataclass(frozen=True)
class Grid:
    """The expanded sweep: the cells in order, which one is the baseline, and which parameters vary."""

    cells: tuple[Cell, ...]
    baseline: Cell
    varying: tuple[str, ...]  # parameters with more than one value among the open-book cells
    factorial: frozenset[str]  # ids of the full-product cells, over which main effects are balanced

    def label(self, cell: Cell) -> str:
        return cell.label(list(self.varying))


def _product(grid: dict[str, tuple[Any, ...]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def _replace(base: Any, changes: dict[str, Any], where: str) -> Any:
    try:
        return dataclasses.replace(base, **changes)
    except TypeError as exc:
        raise UserError(f"bad value in {where}: {exc}") from exc


def expand_grid(config: EvalConfig) -> Grid:
    """All cells of a config: retrieval grid × prompts × (sampling grid + explicit settings), then the baseline
    (added when not already a cell) and the closed-book control."""
    fixed_sampling = {k: v[0] for k, v in config.sampling.items() if len(v) == 1}
    base_sampling = _replace(SamplingParams(), {**fixed_sampling, "seed": 0}, "[sampling]")
    product = [_replace(base_sampling, combo, "[sampling]") for combo in _product(config.sampling)]
    explicit = [_replace(base_sampling, s, "settings") for s in config.settings]
    retrievals = [_replace(RetrievalSettings(), combo, "[retrieval]") for combo in _product(config.retrieval)]

    cells: list[Cell] = []
    factorial: set[str] = set()
    for retrieval, prompt, sampling in itertools.product(retrievals, config.prompts, product + explicit):
        cell = Cell(retrieval, prompt, sampling)
        if sampling in product:
            factorial.add(cell.id)
        if cell not in cells:
            cells.append(cell)

    spec = dict(config.baseline)
    retrieval_changes = {k: spec.pop(k) for k in ("k", "hybrid", "rerank") if k in spec}
    prompt = spec.pop("prompt", config.prompts[0])
    baseline = Cell(
        _replace(retrievals[0], retrieval_changes, "[baseline]"), prompt, _replace(base_sampling, spec, "[baseline]")
    )
    if baseline not in cells:
        cells.append(baseline)
    if config.closed_book:
        cells.append(Cell(None, CLOSED_BOOK, baseline.sampling, control=CLOSED_BOOK))

    open_cells = [c.params() for c in cells if c.control is None]
    varying = tuple(
        name for name in _SHORT if len({json.dumps(p.get(name)) for p in open_cells}) > 1
    )
    return Grid(tuple(cells), baseline, varying, frozenset(factorial))


def retrieval_id(retrieval: RetrievalSettings) -> str:
    """Stable id of a retrieval setting (questions are retrieved once per id)."""
    data = json.dumps(dataclasses.asdict(retrieval), sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:12]
