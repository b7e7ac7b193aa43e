"""The eval tab reads the newest finished run under eval/runs/: summary tables and every figure, or an empty state."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from ui.eval_tab import latest_run, render_eval


def _png(path: Path, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.imshow([[0.1, 0.5], [0.7, 0.9]])
    ax.set_title(title)
    fig.savefig(path)
    plt.close(fig)
    return path.read_bytes()


def _run(root: Path, name: str, summary: dict | str | None, figures: tuple[str, ...] = ()) -> Path:
    run = root / name
    run.mkdir(parents=True)
    if summary is not None:
        (run / "summary.json").write_text(summary if isinstance(summary, str) else json.dumps(summary, ensure_ascii=False))
    for fig in figures:
        _png(run / fig, fig)
    return run


SUMMARY = {
    "run": "2025-06-01T02-00-00Z",
    "settings": [
        {"temperature": 0.0, "top_p": 0.8, "grounded_accuracy": 0.7123, "ci": [0.61, 0.8], "n": 6},
        {"temperature": 0.7, "top_p": 0.95, "grounded_accuracy": 0.65, "ci": [0.55, 0.74], "n": 6, "hallucination": 0.1},
    ],
    "model": {"name": "tiny", "backend": "transformers"},
}


@pytest.mark.parametrize("layout", ["missing", "empty", "unfinished"])
def test_clear_empty_state_without_a_finished_run(tmp_path, layout):
    runs = tmp_path / "runs"
    if layout != "missing":
        runs.mkdir()
    if layout == "unfinished":
        _run(runs, "2025-06-01T02-00-00Z", None, ("heatmap.png",))
    html = render_eval(runs)
    assert "No eval run yet" in html and "python -m eval.run" in html
    assert "<img" not in html


def test_latest_run_with_its_settings_table_and_every_figure(tmp_path):
    runs = tmp_path / "runs"
    _run(runs, "2025-05-31T02-00-00Z", {"settings": [{"temperature": 9.9}]}, ("old.png",))
    newest = _run(runs, "2025-06-01T02-00-00Z", SUMMARY, ("heatmap_accuracy.png", "importance.png"))
    _run(runs, "2025-06-02T02-00-00Z", None)  # still running: no summary yet
    assert latest_run(runs) == newest

    html = render_eval(runs)
    assert "2025-06-01T02-00-00Z" in html and "9.9" not in html and "old.png" not in html
    settings_table = re.search(r"<h3>settings</h3><div class=\"rag-table-wrap\"><table.*?</table>", html).group(0)
    header = re.findall(r"<th>(.*?)</th>", settings_table)
    assert header == ["temperature", "top_p", "grounded_accuracy", "ci", "n", "hallucination"]
    assert "<td>0.7123</td>" in settings_table and "<td>[0.61, 0.8]</td>" in settings_table
    assert html.index("<h3>settings</h3>") < html.index("<h3>model</h3>")  # settings lead
    assert "<td>backend</td><td>transformers</td>" in html

    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)">', html)
    assert [name for name, _ in images] == ["heatmap_accuracy.png", "importance.png"]
    for name, data in images:
        assert base64.b64decode(data) == (newest / name).read_bytes()


def test_unreadable_summary_is_a_visible_problem(tmp_path):
    _run(tmp_path, "2025-06-01T02-00-00Z", "{not json")
    html = render_eval(tmp_path)
    assert "rag-error" in html and "summary.json" in html


def test_summary_values_are_escaped(tmp_path):
    _run(tmp_path, "r1", {"settings": [{"<b>k</b>": "<script>x</script>"}]})
    html = render_eval(tmp_path)
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;k&lt;/b&gt;" in html
