"""Report figures (matplotlib, Agg backend), drawn with a CJK-capable font picked from what is installed.

Labels are bilingual (中文 English) when a CJK font is installed, English only otherwise (no boxes, no
"Glyph missing" warnings).

Each `plot_*` function takes the summary (see `eval.analysis.summarize`) plus the run's cells, writes one PNG
and returns its path, or None when the run has nothing to show for it (e.g. no temperature × top_p grid).
"""

from __future__ import annotations

import functools
import itertools
from pathlib import Path
from typing import Any

# Installed CJK fonts, best first: Noto Sans CJK (Debian/Ubuntu `fonts-noto-cjk`), Source Han Sans (the same
# design under Adobe's name), WenQuanYi (`fonts-wqy-zenhei`/`-microhei`), then macOS and Windows system fonts.
CJK_FONTS = (
    "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "SimHei",
    "Noto Serif CJK SC", "AR PL UMing CN",
)  # fmt: skip

# (Chinese, English) label pairs; `label` shows the Chinese part only when a CJK font is installed.
TYPE_LABELS = {
    "table": ("表格", "table"),
    "fact": ("事实", "fact"),
    "number": ("数字/日期", "number"),
    "definition": ("定义", "definition"),
    "multi_hop": ("多段", "multi-hop"),
    "cross_lingual": ("跨语言", "cross-lingual"),
    "conflict": ("说法冲突", "conflict"),
    "unanswerable": ("无答案", "unanswerable"),
}
LANG_LABELS = {"zh": ("中文问题", "Chinese (zh)"), "en": ("英文问题", "English (en)")}
PARAM_LABELS = {
    "temperature": ("温度", "temperature"),
    "top_p": ("", "top_p"),
    "top_k": ("", "top_k"),
    "min_p": ("", "min_p"),
    "repetition_penalty": ("", "repetition penalty"),
    "max_new_tokens": ("", "max new tokens"),
    "thinking": ("思考模式", "thinking"),
    "k": ("检索片段数", "k (sources)"),
    "hybrid": ("", "hybrid retrieval"),
    "rerank": ("", "rerank"),
    "prompt": ("", "prompt template"),
}
ACC = ("有据正确率", "grounded accuracy")


def label(pair: tuple[str, str]) -> str:
    """ "中文 English" when a CJK font is installed, else the English part alone."""
    chinese, english = pair
    return f"{chinese} {english}" if chinese and setup_matplotlib() else english


def _param(name: str) -> str:
    return label(PARAM_LABELS.get(name, ("", name)))


@functools.lru_cache(maxsize=1)
def pick_cjk_font() -> str | None:
    """The first installed font of CJK_FONTS, or None."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


@functools.lru_cache(maxsize=1)
def setup_matplotlib() -> str | None:
    """Agg backend and a CJK-capable sans-serif font (None when none is installed: labels are then English)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import rcParams

    font = pick_cjk_font()
    if font:
        rcParams["font.family"] = "sans-serif"
        rcParams["font.sans-serif"] = [font, "DejaVu Sans"]
    rcParams["axes.unicode_minus"] = False
    rcParams["figure.dpi"] = 110
    rcParams["savefig.bbox"] = "tight"
    return font


def _pyplot():
    setup_matplotlib()
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def plot_settings(summary: dict[str, Any], path: Path) -> Path | None:
    """Forest plot: grounded accuracy with 95% CI per setting; baseline in orange, significant differences marked."""
    rows = summary["settings"]
    if not rows:
        return None
    plt = _pyplot()
    multi = len({r["model"] for r in rows}) > 1
    labels = [(f"{r['model']}: " if multi else "") + r["setting"] for r in rows]
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * len(rows) + 1.6))
    ys = list(range(len(rows)))[::-1]
    for y, r in zip(ys, rows):
        color = "tab:orange" if r["baseline"] else ("tab:gray" if r["setting"].startswith("closed-book") else "tab:blue")
        ax.errorbar(r["grounded acc"], y, xerr=[[r["grounded acc"] - r["CI low"]], [r["CI high"] - r["grounded acc"]]],
                    fmt="o", color=color, capsize=3)
        p = r.get("p (Holm)")
        mark = " *" if p is not None and p < 0.05 else ""
        ax.text(1.02, y, f"{r['grounded acc']:.2f}{mark}", va="center", fontsize=8, transform=ax.get_yaxis_transform())
    ax.set_yticks(ys, labels, fontsize=8)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel(f"{label(ACC)} (95% CI, bootstrap over questions)")
    ax.set_title(label(("每个设置的有据正确率", "Grounded accuracy per setting")) + "\n(orange = baseline, * = differs from baseline, Holm p < 0.05)",
                 fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def _factorial_cells(cells: list[dict[str, Any]], model_rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in cells if c.get("in_grid") and c["id"] in model_rows]


def plot_heatmap(summary: dict[str, Any], cells: list[dict[str, Any]], varying: list[str], metric: str, path: Path,
                 model: str | None = None) -> Path | None:
    """temperature × top_p heatmap of `metric` ("grounded acc" or "agreement"), one panel per combination of the
    other swept parameters; cells not significantly worse than the best are outlined and starred."""
    if "temperature" not in varying or "top_p" not in varying:
        return None
    rows = [r for r in summary["settings"] if model is None or r["model"] == model]
    model = model or rows[0]["model"]
    by_id = {r["id"]: r for r in rows if r["model"] == model}
    marks = summary["heatmap marks"][model]["accuracy_not_worse" if metric == "grounded acc" else "agreement_not_worse"]
    chosen = _factorial_cells(cells, by_id)
    others = [
        p for p in varying
        if p not in ("temperature", "top_p") and len({_fmt(c["params"].get(p)) for c in chosen}) > 1
    ]
    panels = sorted({tuple(_fmt(c["params"].get(p)) for p in others) for c in chosen})
    temps = sorted({c["params"]["temperature"] for c in chosen})
    top_ps = sorted({c["params"]["top_p"] for c in chosen})
    plt = _pyplot()
    import numpy as np

    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels) + 1.4, 3.4), squeeze=False)
    image = None
    for ax, panel in zip(axes[0], panels):
        grid = np.full((len(temps), len(top_ps)), np.nan)
        starred = np.zeros_like(grid, dtype=bool)
        for c in chosen:
            if tuple(_fmt(c["params"].get(p)) for p in others) != panel:
                continue
            i, j = temps.index(c["params"]["temperature"]), top_ps.index(c["params"]["top_p"])
            grid[i, j] = by_id[c["id"]][metric]
            starred[i, j] = marks.get(c["id"], False)
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", origin="lower", aspect="auto")
        for i, j in itertools.product(range(len(temps)), range(len(top_ps))):
            if np.isnan(grid[i, j]):
                continue
            text = f"{grid[i, j]:.2f}" + (" ★" if starred[i, j] else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=9, color="white" if grid[i, j] < 0.6 else "black")
            if starred[i, j]:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
        ax.set_xticks(range(len(top_ps)), [_fmt(v) for v in top_ps])
        ax.set_yticks(range(len(temps)), [_fmt(v) for v in temps])
        ax.set_xlabel("top_p")
        ax.set_ylabel(_param("temperature"))
        ax.set_title(" ".join(f"{p}={v}" for p, v in zip(others, panel)) or model, fontsize=9)
    name = label(ACC) if metric == "grounded acc" else label(("一致率", "agreement (share of samples = modal answer)"))
    fig.colorbar(image, ax=axes[0].tolist(), label=name, shrink=0.9)
    fig.suptitle(f"{name} — temperature × top_p ({model})\n★ / red = not significantly worse than the best cell "
                 "(paired test, Holm, α = 0.05)", fontsize=9, y=1.06)
    return _save(fig, path)


def plot_parameters(summary: dict[str, Any], path: Path) -> Path | None:
    """Accuracy against each swept parameter (others averaged), with 95% CI bands."""
    effects = summary["parameter importance"]
    if not effects:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(effects), figsize=(3.3 * len(effects), 3.2), squeeze=False, sharey=True)
    for ax, e in zip(axes[0], effects):
        values = e["values"]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        xs = values if numeric else list(range(len(values)))
        ax.plot(xs, e["means"], "o-", color="tab:blue")
        ax.fill_between(xs, e["means CI low"], e["means CI high"], color="tab:blue", alpha=0.2, label="95% CI")
        if not numeric:
            ax.set_xticks(xs, [_fmt(v) for v in values])
        ax.set_xlabel(_param(e["parameter"]))
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.set_title(f"{e['parameter']}: effect {e['effect']:.2f}", fontsize=9)
    axes[0][0].set_ylabel(label(ACC))
    axes[0][0].legend(fontsize=8)
    fig.suptitle(label(("各参数的主效应", "Accuracy vs each swept parameter (other parameters averaged)")), fontsize=10, y=1.03)
    return _save(fig, path)


def plot_importance(summary: dict[str, Any], path: Path) -> Path | None:
    """Parameter importance: the main effect (max − min accuracy across a parameter's values) with its 95% CI."""
    effects = summary["parameter importance"]
    if not effects:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(effects) + 1.5))
    ys = list(range(len(effects)))[::-1]
    for y, e in zip(ys, effects):
        ax.barh(y, e["effect"], color="tab:blue", alpha=0.8)
        ax.errorbar(e["effect"], y, xerr=[[e["effect"] - e["CI low"]], [e["CI high"] - e["effect"]]], fmt="none",
                    color="black", capsize=4)
    ax.set_yticks(ys, [_param(e["parameter"]) for e in effects])
    ax.set_xlabel("main effect on grounded accuracy (max − min over values, 95% CI)")
    ax.set_title(label(("哪个参数最重要", "Which knob matters most")), fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_breakdowns(summary: dict[str, Any], path: Path) -> Path | None:
    """Grouped bars per question type and per language: baseline, best setting and closed book."""
    parts = [("type", summary["breakdown by type"], TYPE_LABELS), ("lang", summary["breakdown by language"], LANG_LABELS)]
    if not parts[0][1]:
        return None
    model = parts[0][1][0]["model"]
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [3, 1]})
    series = [("baseline", "tab:orange"), ("best", "tab:blue"), ("closed book", "tab:gray")]
    for ax, (field, rows, names) in zip(axes, parts):
        rows = [r for r in rows if r["model"] == model]
        width = 0.8 / len(series)
        for s, (name, color) in enumerate(series):
            xs = [i + (s - 1) * width for i, r in enumerate(rows) if name in r]
            ys = [r[name] for r in rows if name in r]
            if not ys:
                continue
            lows = [r[f"{name} CI low"] for r in rows if name in r]
            highs = [r[f"{name} CI high"] for r in rows if name in r]
            ax.bar(xs, ys, width, color=color, label=name,
                   yerr=[[y - lo for y, lo in zip(ys, lows)], [hi - y for y, hi in zip(ys, highs)]], capsize=2)
        ax.set_xticks(range(len(rows)), [f"{label(names.get(r[field], ('', r[field])))}\n(n={r['questions']})" for r in rows],
                      fontsize=8, rotation=30 if field == "type" else 0, ha="right" if field == "type" else "center")
        ax.set_ylim(0, 1.05)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(label(ACC))
    axes[0].set_title(label(("按题型", "By question type")), fontsize=10)
    axes[1].set_title(label(("按语言", "By language")), fontsize=10)
    axes[1].legend(fontsize=8)
    best = parts[0][1][0].get("best setting", "")
    fig.suptitle(f"Breakdown ({model}; best = {best}; 95% CI)", fontsize=10, y=1.02)
    return _save(fig, path)


def plot_failures(summary: dict[str, Any], path: Path) -> Path | None:
    """Stacked bars per setting: grounded-correct answerable samples and each failure cause."""
    from eval.analysis import FAILURES

    rows = summary["failure attribution"]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.8))
    ys = list(range(len(rows)))[::-1]
    names = (("证据未检索到", "evidence not retrieved"), ("检索到但未使用", "retrieved, not used"), ("使用了但答错", "used, answered wrongly"))
    parts = [("grounded correct", label(("正确", "correct")), "tab:green")] + [
        (key, label(pair), color) for key, pair, color in zip(FAILURES, names, ("tab:red", "tab:orange", "tab:purple"))
    ]
    left = [0.0] * len(rows)
    for key, name, color in parts:
        widths = [r[key] or 0.0 for r in rows]
        ax.barh(ys, widths, left=left, color=color, label=name)
        left = [a + b for a, b in zip(left, widths)]
    ax.set_yticks(ys, [r["setting"] for r in rows], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of answerable samples")
    ax.set_title(label(("失败归因", "Failure attribution (answerable questions)")), fontsize=10)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, path)


def plot_trend(points: list[dict[str, Any]], path: Path) -> Path:
    """Baseline grounded accuracy over time (one line per config name and model), with CI bands."""
    from datetime import datetime

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for p in points:
        series.setdefault((p["name"], p["model"]), []).append(p)
    for (name, model), pts in series.items():
        xs = [datetime.fromisoformat(p["started_at"]) for p in pts]
        ys = [p["grounded_accuracy"] for p in pts]
        ax.plot(xs, ys, "o-", label=f"{name} · {model}")
        ax.fill_between(xs, [p["ci_low"] for p in pts], [p["ci_high"] for p in pts], alpha=0.2)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"baseline {label(ACC)}")
    ax.set_xlabel("run start (UTC)")
    ax.set_title(label(("有据正确率随时间变化", "Grounded accuracy over time (baseline setting, 95% CI)")), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return _save(fig, path)
