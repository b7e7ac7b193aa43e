"""Report figures (matplotlib, Agg backend), drawn with a CJK-capable font picked from what is installed.

Labels are bilingual (中文 English) when a CJK font is installed, English only otherwise (no boxes, no
"Glyph missing" warnings).

Each `plot_*` function takes the typed summary (`eval.analysis.Summary`) plus the run's cells, writes one PNG
and returns its path, or None when the run has nothing to show for it (e.g. no temperature × top_p grid).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval.analysis import Summary

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


def plot_settings(summary: Summary, path: Path) -> Path | None:
    """Forest plot: grounded accuracy with 95% CI per setting; baseline in orange, significant differences marked."""
    rows = summary.settings
    if not rows:
        return None
    plt = _pyplot()
    multi = len({r.model for r in rows}) > 1
    labels = [(f"{r.model}: " if multi else "") + r.label for r in rows]
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * len(rows) + 1.6))
    ys = list(range(len(rows)))[::-1]
    for y, r in zip(ys, rows):
        color = "tab:orange" if r.baseline else ("tab:gray" if r.label.startswith("closed-book") else "tab:blue")
        ax.errorbar(r.grounded_accuracy, y, xerr=[[r.grounded_accuracy - r.ci_low], [r.ci_high - r.grounded_accuracy]],
                    fmt="o", color=color, capsize=3)
        mark = " *" if r.p_holm is not None and r.p_holm < 0.05 else ""
        ax.text(1.02, y, f"{r.grounded_accuracy:.2f}{mark}", va="center", fontsize=8, transform=ax.get_yaxis_transform())
    ax.set_yticks(ys, labels, fontsize=8)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel(f"{label(ACC)} (95% CI over questions)")
    ax.set_title(label(("每个设置的有据正确率", "Grounded accuracy per setting")) + "\n(orange = baseline, * = differs from baseline, Holm p < 0.05)",
                 fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def _factorial_cells(cells: list[dict[str, Any]], model_rows: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in cells if c.get("in_grid") and c["id"] in model_rows]


def plot_heatmap(summary: Summary, cells: list[dict[str, Any]], varying: list[str], metric: str, path: Path,
                 model: str | None = None) -> Path | None:
    """temperature × top_p heatmap of `metric` ("grounded_accuracy" or "agreement"), one panel per combination of
    the other swept parameters. Each cell shows its value, the half-width of its 95% interval and its number of
    questions; the baseline has an orange frame, the best set (`eval.stats.best_set`) a red frame and ★."""
    if "temperature" not in varying or "top_p" not in varying:
        return None
    rows = [r for r in summary.settings if model is None or r.model == model]
    model = model or rows[0].model
    by_id = {r.setting_id: r for r in rows if r.model == model}
    ci = ("ci_low", "ci_high") if metric == "grounded_accuracy" else ("agreement_ci_low", "agreement_ci_high")
    best = "best_set" if metric == "grounded_accuracy" else "agreement_best_set"
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

    width = 1.25 * len(top_ps) + 1.2
    fig, axes = plt.subplots(1, len(panels), figsize=(width * len(panels) + 1.6, 0.75 * len(temps) + 1.9), squeeze=False)
    image = None
    for ax, panel in zip(axes[0], panels):
        grid = np.full((len(temps), len(top_ps)), np.nan)
        for c in chosen:
            if tuple(_fmt(c["params"].get(p)) for p in others) != panel:
                continue
            i, j = temps.index(c["params"]["temperature"]), top_ps.index(c["params"]["top_p"])
            row = by_id[c["id"]]
            grid[i, j] = getattr(row, metric)
            half = (getattr(row, ci[1]) - getattr(row, ci[0])) / 2
            starred = bool(getattr(row, best))
            text = f"{grid[i, j]:.2f}{' ★' if starred else ''}\n±{half:.2f} n={row.questions}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7.5, linespacing=1.3,
                    color="white" if grid[i, j] < 0.6 else "black")
            if starred:
                ax.add_patch(plt.Rectangle((j - 0.46, i - 0.46), 0.92, 0.92, fill=False, edgecolor="red", linewidth=2))
            if row.baseline:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="tab:orange", linewidth=3,
                                           linestyle="--"))
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", origin="lower", aspect="auto")
        ax.set_xticks(range(len(top_ps)), [_fmt(v) for v in top_ps])
        ax.set_yticks(range(len(temps)), [_fmt(v) for v in temps])
        ax.set_xlabel("top_p")
        ax.set_ylabel(_param("temperature"))
        ax.set_title(" ".join(f"{p}={v}" for p, v in zip(others, panel)) or model, fontsize=9)
    name = label(ACC) if metric == "grounded_accuracy" else label(("一致率", "agreement"))
    fig.colorbar(image, ax=axes[0].tolist(), label=name, shrink=0.9)
    fig.suptitle(f"{name} — temperature × top_p ({model})\nvalue ★, ±95% CI half-width, n questions; red = best set "
                 "(not worse than the best, α = 0.05), orange dashes = baseline", fontsize=8.5, y=1.08)
    return _save(fig, path)


def plot_parameters(summary: Summary, path: Path) -> Path | None:
    """Accuracy against each swept parameter (others averaged), with 95% CI bands."""
    effects = summary.main_effects
    if not effects:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(effects), figsize=(3.3 * len(effects), 3.2), squeeze=False, sharey=True)
    for ax, e in zip(axes[0], effects):
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in e.values)
        xs = e.values if numeric else list(range(len(e.values)))
        ax.plot(xs, e.means, "o-", color="tab:blue")
        ax.fill_between(xs, e.means_ci_low, e.means_ci_high, color="tab:blue", alpha=0.2, label="95% CI")
        if not numeric:
            ax.set_xticks(xs, [_fmt(v) for v in e.values])
        ax.set_xlabel(_param(e.parameter))
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.set_title(f"{e.parameter}: p (Holm) = {e.p_holm:.3g}", fontsize=9)
    axes[0][0].set_ylabel(label(ACC))
    axes[0][0].legend(fontsize=8)
    fig.suptitle(label(("各参数的主效应", "Accuracy vs each swept parameter (other parameters averaged)")), fontsize=10, y=1.03)
    return _save(fig, path)


def plot_importance(summary: Summary, path: Path) -> Path | None:
    """Main effects: best − worst value of each parameter with its simultaneous 95% interval and Holm p."""
    effects = summary.main_effects
    if not effects:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(effects) + 1.5))
    ys = list(range(len(effects)))[::-1]
    for y, e in zip(ys, effects):
        ax.barh(y, e.contrast, color="tab:blue" if e.significant else "tab:gray", alpha=0.8)
        ax.errorbar(e.contrast, y, xerr=[[e.contrast - e.contrast_ci_low], [e.contrast_ci_high - e.contrast]], fmt="none",
                    color="black", capsize=4)
        ax.text(1.01, y, f"p = {e.p_holm:.3g}", va="center", fontsize=8, transform=ax.get_yaxis_transform())
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(ys, [f"{_param(e.parameter)}\n{_fmt(e.best_value)} − {_fmt(e.worst_value)}" for e in effects], fontsize=8)
    ax.set_xlabel("best − worst value of grounded accuracy (simultaneous 95% CI; p: equal-means test, Holm)")
    ax.set_title(label(("哪个参数最重要", "Which knob matters (blue = significant)")), fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_breakdowns(summary: Summary, path: Path) -> Path | None:
    """Grouped bars per question type and per language: baseline, best setting and closed book."""
    parts = [("type", summary.breakdown_by_type, TYPE_LABELS), ("lang", summary.breakdown_by_language, LANG_LABELS)]
    if not parts[0][1]:
        return None
    model = parts[0][1][0].model
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [3, 1]})
    series = [("baseline", "baseline", "tab:orange"), ("best", "best", "tab:blue"), ("closed_book", "closed book", "tab:gray")]
    for ax, (field, rows, names) in zip(axes, parts):
        rows = [r for r in rows if r.model == model]
        width = 0.8 / len(series)
        for s, (name, shown, color) in enumerate(series):
            present = [(i, r) for i, r in enumerate(rows) if getattr(r, name) is not None]
            if not present:
                continue
            xs = [i + (s - 1) * width for i, _ in present]
            ys = [getattr(r, name) for _, r in present]
            lows = [getattr(r, f"{name}_ci_low") for _, r in present]
            highs = [getattr(r, f"{name}_ci_high") for _, r in present]
            ax.bar(xs, ys, width, color=color, label=shown,
                   yerr=[[y - lo for y, lo in zip(ys, lows)], [hi - y for y, hi in zip(ys, highs)]], capsize=2)
        ax.set_xticks(range(len(rows)), [f"{label(names.get(r.value, ('', r.value)))}\n(n={r.questions})" for r in rows],
                      fontsize=8, rotation=30 if field == "type" else 0, ha="right" if field == "type" else "center")
        ax.set_ylim(0, 1.05)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(label(ACC))
    axes[0].set_title(label(("按题型", "By question type")), fontsize=10)
    axes[1].set_title(label(("按语言", "By language")), fontsize=10)
    axes[1].legend(fontsize=8)
    fig.suptitle(f"Breakdown ({model}; best = {parts[0][1][0].best_label}; 95% CI)", fontsize=10, y=1.02)
    return _save(fig, path)


def plot_failures(summary: Summary, path: Path) -> Path | None:
    """Stacked bars per setting: grounded-correct answerable samples and each failure cause."""
    rows = summary.failure_attribution
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.8))
    ys = list(range(len(rows)))[::-1]
    parts = [
        ("grounded_correct", ("正确", "correct"), "tab:green"),
        ("evidence_not_retrieved", ("证据未检索到", "evidence not retrieved"), "tab:red"),
        ("retrieved_not_used", ("检索到但未使用", "retrieved, not used"), "tab:orange"),
        ("used_answered_wrongly", ("使用了但答错", "used, answered wrongly"), "tab:purple"),
    ]
    left = [0.0] * len(rows)
    for key, pair, color in parts:
        widths = [getattr(r, key) or 0.0 for r in rows]
        ax.barh(ys, widths, left=left, color=color, label=label(pair))
        left = [a + b for a, b in zip(left, widths)]
    ax.set_yticks(ys, [r.label for r in rows], fontsize=8)
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
