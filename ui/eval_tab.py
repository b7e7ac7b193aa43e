"""The eval tab: any finished run under `eval/runs/<UTC timestamp>/` (the latest by default) — its summary.json
tables and PNG figures, and its settings, any two of which open in the A/B tab.

The folder is fixed when the app starts; the page only picks a run by name among the finished ones (never a
path). Runs are ordered by their timestamp names, and a folder without summary.json (a run still in progress)
is skipped.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from ui.render import esc, render_table

SUMMARY = "summary.json"
FIRST_SECTION = "settings"  # the settings table leads; other sections follow in file order


def finished_runs(runs_dir: str | Path) -> list[Path]:
    """The run folders that have a summary.json, newest first."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir() and (p / SUMMARY).is_file()), key=lambda p: p.name, reverse=True)


def latest_run(runs_dir: str | Path) -> Path | None:
    """The newest run folder that has a summary.json, or None."""
    runs = finished_runs(runs_dir)
    return runs[0] if runs else None


def chosen_run(runs_dir: str | Path, name: str | None) -> Path | None:
    """The finished run called `name`, else the latest one (a name the folder does not hold is never a path)."""
    runs = finished_runs(runs_dir)
    return next((p for p in runs if p.name == name), runs[0] if runs else None)


def run_cells(run: Path) -> list[dict[str, Any]]:
    """The open-book settings of a run (run.json `cells`: label and parameters), in the run's order; closed-book
    controls are left out (the A/B tab always retrieves)."""
    try:
        meta = json.loads((run / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    cells = meta.get("cells") if isinstance(meta, dict) else None
    return [c for c in cells or [] if isinstance(c, dict) and isinstance(c.get("params"), dict) and not c.get("control")]


def render_empty(runs_dir: str | Path) -> str:
    return (
        '<div class="rag-empty"><b>No eval run yet.</b> '
        f"Runs appear here after <code>python -m eval.run --config eval/configs/smoke.yaml</code> "
        f"(or the nightly config) writes <code>{esc(Path(runs_dir) / '<UTC timestamp>' / SUMMARY)}</code>.</div>"
    )


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """A row whose value is a dict of shares (answer verdicts) as one column per share."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update(value)
        else:
            out[key] = value
    return out


def render_section(name: str, value: Any) -> str:
    """One summary.json entry: a list of dicts is a table, a dict a two-column table, anything else a line."""
    title = f"<h3>{esc(name)}</h3>"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return title + render_table([_flat(v) for v in value])
    if isinstance(value, dict):
        rows = [{"name": k, "value": v if not isinstance(v, (dict, list)) else json.dumps(v, ensure_ascii=False)} for k, v in value.items()]
        return title + render_table(rows)
    if isinstance(value, list):
        return title + f"<p>{esc(json.dumps(value, ensure_ascii=False))}</p>"
    return f'<p><b>{esc(name)}</b>: {esc(value)}</p>'


def render_summary(summary: dict[str, Any]) -> str:
    """Every section of a summary.json, `settings` first, after the run's notices (`run.notices`: e.g. the
    extractive fallback answered instead of the model asked for)."""
    run = summary.get("run")
    notices = run.get("notices", []) if isinstance(run, dict) else []
    order = sorted(summary, key=lambda k: k != FIRST_SECTION)  # stable: file order otherwise
    return "".join(f'<div class="rag-note">{esc(n)}</div>' for n in notices) + "".join(
        render_section(k, summary[k]) for k in order
    )


def render_figures(run: Path) -> str:
    """Every *.png of the run, inline (data URIs), captioned with its file name."""
    figures = sorted(run.glob("*.png"))
    if not figures:
        return '<div class="rag-note">This run has no figures.</div>'
    return "".join(
        f'<figure class="rag-figure"><img alt="{esc(p.name)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode("ascii")}"><figcaption>{esc(p.name)}</figcaption></figure>'
        for p in figures
    )


def render_eval(runs_dir: str | Path, name: str | None = None) -> str:
    """The whole eval tab for the run called `name` (default: the latest), or the empty state."""
    run = chosen_run(runs_dir, name)
    if run is None:
        return render_empty(runs_dir)
    try:
        summary = json.loads((run / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f'<div class="rag-error"><span class="rag-label">Problem</span> cannot read {esc(run / SUMMARY)}: {esc(exc)}</div>'
    if not isinstance(summary, dict):
        return f'<div class="rag-error"><span class="rag-label">Problem</span> {esc(run / SUMMARY)} is not a JSON object</div>'
    report = run / "report.html"
    link = f" Full report: <code>{esc(report)}</code>." if report.is_file() else ""
    return (
        f'<div class="rag-run">Run <b>{esc(run.name)}</b> (in <code>{esc(run.parent)}</code>).{link}</div>'
        + render_summary(summary)
        + "<h3>Figures</h3>"
        + render_figures(run)
    )
