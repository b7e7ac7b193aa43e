"""The eval tab reads the newest finished run under eval/runs/ (a real one, written by `python -m eval.run`): its
summary tables and every figure, or an empty state."""

from __future__ import annotations

import base64
import json
import re
import shutil
from html import escape
from html.parser import HTMLParser
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


class _Tables(HTMLParser):
    """The tables of a page as {section title: rows of cell texts, header first}."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._title, self._in, self._cell = "", None, None

    def handle_starttag(self, tag, attrs):
        if tag == "h3":
            self._in = "h3"
            self._title = ""
        elif tag == "tr":
            self.tables.setdefault(self._title, []).append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "h3":
            self._in = None
        elif tag in ("td", "th"):
            self.tables[self._title][-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._in == "h3":
            self._title += data
        elif self._cell is not None:
            self._cell += data


def test_the_latest_real_run_shows_its_settings_table_and_every_figure(offline_smoke, tmp_path):
    """The tab on what `python -m eval.run` writes: the newest finished run (not an older one, not one still
    running), the fallback notice first, then the settings table with the run's own columns and numbers, then
    every other summary section and every figure, byte for byte."""
    runs = tmp_path / "runs"
    older = shutil.copytree(offline_smoke, runs / "20000101T000000Z")
    newest = shutil.copytree(offline_smoke, runs / offline_smoke.name)
    running = runs / "29991231T000000Z"  # started, no summary.json yet
    running.mkdir()
    shutil.copy(offline_smoke / "run.json", running)
    assert latest_run(runs) == newest
    summary = json.loads((newest / "summary.json").read_text(encoding="utf-8"))

    html = render_eval(runs)
    assert f"Run <b>{newest.name}</b>" in html and older.name not in html
    notice = summary["run"]["notices"][0]
    assert "Qwen/Qwen3-0.6B" in notice and html.index(escape(notice, quote=False)) < html.index("<h3>settings</h3>")

    parser = _Tables()
    parser.feed(html)
    header, *rows = parser.tables["settings"]
    assert header == list(summary["settings"][0]) and len(rows) == len(summary["settings"]) > 1
    for cells, setting in zip(rows, summary["settings"]):
        shown = dict(zip(header, cells))
        assert shown["label"] == setting["label"]
        for column in ("grounded_accuracy", "ci_low", "ci_high"):
            assert float(shown[column]) == pytest.approx(setting[column], abs=5e-4), (setting["label"], column)
    titles = re.findall(r"<h3>(.*?)</h3>", html)
    sections = [k for k, v in summary.items() if isinstance(v, (list, dict))]
    assert titles[0] == "settings" and titles[1:] == [k for k in sections if k != "settings"] + ["Figures"]

    figures = sorted(newest.glob("*.png"))
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)">', html)
    assert figures and [name for name, _ in images] == [p.name for p in figures]
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
