"""Grounded accuracy over time: the baseline setting of every complete run in the run index, as a figure."""

from __future__ import annotations

from pathlib import Path

from core.errors import UserError
from eval.figures import plot_trend
from eval.run_index import RunIndex

INDEX_NAME = "runs.sqlite"


def write_trend(runs_dir: str | Path, out: str | Path | None = None, name: str | None = None) -> Path:
    """Draw `trend.png` (or `out`) from `runs_dir/runs.sqlite`; `name` keeps one sweep config (e.g. nightly)."""
    runs_dir = Path(runs_dir)
    db = runs_dir / INDEX_NAME
    if not db.is_file():
        raise UserError(f"no run index at {db}; run a sweep first (python -m eval.run --config eval/configs/smoke.yaml)")
    with RunIndex(db) as index:
        points = index.baseline_trend(name)
    if not points:
        which = f" named {name!r}" if name else ""
        raise UserError(f"{db} has no complete run{which} with results yet; run a sweep and its report first")
    return plot_trend(points, Path(out) if out else runs_dir / "trend.png")
