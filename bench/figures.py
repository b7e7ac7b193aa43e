"""The benchmark's record type and timing helpers: every figure is a median against a reference from the same run."""

from __future__ import annotations

import math
import statistics
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Figure:
    """One measured number, the reference it is compared with (measured in the same run) and its target."""

    section: str
    name: str
    value: float
    unit: str
    reference: str = ""  # what the value is compared with
    reference_value: float | None = None
    ratio: float | None = None  # value / reference_value (or the ratio the target is stated in)
    target: str = ""
    met: bool | None = None  # None: no target, or the target cannot be judged here
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def median_seconds(fn: Callable[[], Any], repeat: int, warmup: int = 0) -> tuple[float, list[float]]:
    """Median wall time of `fn()` over `repeat` runs after `warmup` untimed runs, and every run's time."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one `fn()` call; CPU time is robust to other load."""
    cpu, start = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation, as numpy's default."""
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


def ratio(value: float, reference: float) -> float:
    """value / reference; inf when the reference is zero."""
    return value / reference if reference else math.inf


def _number(x: float | None, unit: str = "") -> str:
    if x is None:
        return ""
    if math.isinf(x) or math.isnan(x):
        return str(x)
    text = f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"
    return f"{text} {unit}".strip()


def format_table(figures: list[Figure]) -> str:
    """A plain-text table: section, figure, value, reference (value), ratio, target, met."""
    header = ("section", "figure", "value", "reference", "ratio", "target", "met")
    rows = [header]
    for f in figures:
        ref = f"{f.reference} ({_number(f.reference_value, f.unit)})" if f.reference_value is not None else f.reference
        met = "" if f.met is None else ("yes" if f.met else "NO")
        rows.append((f.section, f.name, _number(f.value, f.unit), ref, _number(f.ratio), f.target, met))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(figures: list[Figure]) -> str:
    """The same table as Markdown, with the notes, for the README."""
    lines = [
        "| section | figure | value | reference | ratio | target | met | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        ref = f"{f.reference} ({_number(f.reference_value, f.unit)})" if f.reference_value is not None else f.reference
        met = "" if f.met is None else ("yes" if f.met else "**no**")
        cells = (f.section, f.name, _number(f.value, f.unit), ref, _number(f.ratio), f.target, met, f.note)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


@contextmanager
def quiet_langchain():
    """Silence LangChain's sunset/deprecation warnings: the reference pipeline is measured, not maintained here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        yield
