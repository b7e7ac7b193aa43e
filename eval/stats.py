"""Statistics over questions: bootstrap CIs, paired tests, Holm correction, main effects (numpy/scipy only).

The unit of resampling is the question: an array `[questions × samples]` keeps each question's samples
together (NaN marks a missing sample), and a 1-D array holds one value per question. Exact definitions:
README "Statistics".
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

EXACT_SIGN_FLIP_MAX = 16  # enumerate all 2^m sign patterns up to this many non-zero differences


@dataclass(frozen=True)
class Estimate:
    """A mean with its bootstrap confidence interval."""

    mean: float
    lo: float
    hi: float


@dataclass(frozen=True)
class Comparison:
    """`other` against `baseline`, paired over questions."""

    difference: float  # mean(other) − mean(baseline)
    lo: float  # bootstrap CI of the difference
    hi: float
    p_value: float
    test: str  # "mcnemar-exact", "sign-flip-exact" or "sign-flip-permutation"
    n_questions: int
    p_holm: float | None = None  # Holm-adjusted across a family of comparisons, when one was made


@dataclass(frozen=True)
class MainEffect:
    """Grounded accuracy per value of one parameter, averaged over the other parameters' settings."""

    param: str
    values: list[Any]
    means: list[Estimate]
    effect: Estimate  # max − min of the per-value means, with its bootstrap CI


def question_means(values: Any) -> np.ndarray:
    """Per-question means of a `[questions]` or `[questions × samples]` array (NaN samples ignored)."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        return arr
    if arr.ndim != 2:
        raise ValueError(f"expected a [questions] or [questions × samples] array, got shape {arr.shape}")
    with _quiet_nan_warnings():
        return np.nanmean(arr, axis=1)


@contextlib.contextmanager
def _quiet_nan_warnings() -> Iterator[None]:
    """Silence numpy's 'Mean of empty slice' for all-NaN rows: they become NaN and are dropped by the caller."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _percentiles(boot: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha])
    return float(lo), float(hi)


def bootstrap_ci(values: Any, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Estimate:
    """Mean over questions with a percentile bootstrap CI that resamples questions (samples stay together).

    Questions without any value (all NaN) are dropped.
    """
    means = question_means(values)
    means = means[~np.isnan(means)]
    if means.size == 0:
        raise ValueError("bootstrap_ci needs at least one question with a value")
    boot = means[_bootstrap_indices(means.size, n_boot, seed)].mean(axis=1)
    lo, hi = _percentiles(boot, level)
    return Estimate(float(means.mean()), lo, hi)


def _paired_means(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    ma, mb = question_means(a), question_means(b)
    if ma.shape != mb.shape:
        raise ValueError(f"paired arrays need the same questions: {ma.shape[0]} vs {mb.shape[0]} questions")
    keep = ~(np.isnan(ma) | np.isnan(mb))
    return ma[keep], mb[keep]


def paired_test(a: Any, b: Any, n_perm: int = 10000, seed: int = 0) -> tuple[float, str]:
    """Two-sided sign-flip test of mean(b − a) = 0 on per-question differences → (p-value, test name).

    With at most EXACT_SIGN_FLIP_MAX non-zero differences every sign pattern is enumerated (exact p); otherwise
    `n_perm` random patterns give p = (1 + #{|T*| ≥ |T|}) / (1 + n_perm). Zero differences do not change |T|
    under flipping, so only the non-zero ones are flipped.
    """
    ma, mb = _paired_means(a, b)
    d = mb - ma
    d = d[d != 0]
    if d.size == 0:
        return 1.0, "sign-flip-exact"
    observed = abs(d.sum()) - 1e-9 * (1 + abs(d).sum())  # tolerance for float ties
    if d.size <= EXACT_SIGN_FLIP_MAX:
        patterns = ((np.arange(2 ** d.size)[:, None] >> np.arange(d.size)) & 1) * 2 - 1
        return float(np.mean(np.abs(patterns @ d) >= observed)), "sign-flip-exact"
    signs = np.random.default_rng(seed).choice(np.array([-1.0, 1.0]), size=(n_perm, d.size))
    extreme = int(np.sum(np.abs(signs @ d) >= observed))
    return (1 + extreme) / (1 + n_perm), "sign-flip-permutation"


def mcnemar(a: Any, b: Any) -> float:
    """Exact (binomial) two-sided McNemar p-value for paired binary outcomes, one per question."""
    from scipy.stats import binomtest  # scipy.stats takes seconds to import; only this test needs it
    a, b = np.asarray(a, dtype=bool).ravel(), np.asarray(b, dtype=bool).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired arrays need the same questions: {a.size} vs {b.size} questions")
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def _is_single_binary(x: Any) -> bool:
    arr = np.asarray(x, dtype=float)
    single = arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1)
    return single and bool(np.all((arr == 0) | (arr == 1)))


def compare(
    baseline: Any, other: Any, n_boot: int = 2000, n_perm: int = 10000, seed: int = 0, level: float = 0.95
) -> Comparison:
    """Difference other − baseline over paired questions, its bootstrap CI and a p-value.

    McNemar (exact) when both have one binary outcome per question; otherwise the sign-flip test on per-question
    mean differences.
    """
    ma, mb = _paired_means(baseline, other)
    if ma.size == 0:
        raise ValueError("compare needs at least one question answered under both settings")
    if _is_single_binary(baseline) and _is_single_binary(other):
        p, test = mcnemar(ma, mb), "mcnemar-exact"
    else:
        p, test = paired_test(ma, mb, n_perm=n_perm, seed=seed)
    ci = bootstrap_ci(mb - ma, n_boot=n_boot, seed=seed, level=level)
    return Comparison(ci.mean, ci.lo, ci.hi, p, test, int(ma.size))


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values, in the input order."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    scaled = (p.size - np.arange(p.size)) * p[order]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted


def compare_all(
    per_setting: Mapping[Hashable, Any], baseline: Hashable, n_boot: int = 2000, n_perm: int = 10000, seed: int = 0
) -> dict[Hashable, Comparison]:
    """Every setting except `baseline` compared with it, p-values Holm-adjusted across the family."""
    if baseline not in per_setting:
        raise ValueError(f"baseline setting {baseline!r} is not among the settings {list(per_setting)}")
    results = {
        key: compare(per_setting[baseline], values, n_boot=n_boot, n_perm=n_perm, seed=seed)
        for key, values in per_setting.items()
        if key != baseline
    }
    adjusted = holm([c.p_value for c in results.values()]) if results else []
    return {key: replace(c, p_holm=float(p)) for (key, c), p in zip(results.items(), adjusted)}


def not_worse_than_best(
    per_setting: Mapping[Hashable, Any], alpha: float = 0.05, n_boot: int = 2000, n_perm: int = 10000, seed: int = 0
) -> dict[Hashable, bool]:
    """For heatmaps: True for the best setting (highest mean) and every setting whose paired comparison with it
    is not significant after Holm correction (p_holm ≥ alpha)."""
    means = {key: float(np.nanmean(question_means(v))) for key, v in per_setting.items()}
    best = max(means, key=means.__getitem__)
    comparisons = compare_all(per_setting, best, n_boot=n_boot, n_perm=n_perm, seed=seed)
    return {key: key == best or comparisons[key].p_holm >= alpha for key in per_setting}


def setting_matrices(
    records: Sequence[Mapping[str, Any]], params: Sequence[str], value: str = "grounded_correct",
    question: str = "question_id",
) -> tuple[list[Hashable], dict[tuple, np.ndarray]]:
    """Group per-sample records into `{setting: [questions × samples]}` arrays (NaN-padded), paired by question.

    A setting is the tuple of the records' values for `params`. Returns (question ids in first-seen order, arrays).
    """
    qids: dict[Hashable, int] = {}
    cells: dict[tuple, dict[int, list[float]]] = {}
    for r in records:
        q = qids.setdefault(r[question], len(qids))
        cells.setdefault(tuple(r.get(p) for p in params), {}).setdefault(q, []).append(float(r[value]))
    width = max((len(v) for cell in cells.values() for v in cell.values()), default=1)
    out = {}
    for key, cell in cells.items():
        arr = np.full((len(qids), width), np.nan)
        for q, vals in cell.items():
            arr[q, : len(vals)] = vals
        out[key] = arr
    return list(qids), out


def _sorted_values(values: set[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:  # mixed types such as None and numbers
        return sorted(values, key=repr)


def main_effects(
    records: Sequence[Mapping[str, Any]], params: Sequence[str], value: str = "grounded_correct",
    question: str = "question_id", n_boot: int = 2000, seed: int = 0, level: float = 0.95,
) -> list[MainEffect]:
    """Main effect of each swept parameter (≥ 2 values), largest effect first.

    Per question, samples are averaged within a setting, then settings are averaged per parameter value (each
    setting weighs the same), giving a [questions × values] matrix. Its column means are the per-value accuracies;
    the effect is max − min of them. Both get percentile CIs from one bootstrap over questions.
    """
    _, matrices = setting_matrices(records, params, value=value, question=question)
    setting_means = {key: question_means(arr) for key, arr in matrices.items()}
    idx = None
    effects = []
    for i, param in enumerate(params):
        values = _sorted_values({key[i] for key in setting_means})
        if len(values) < 2:
            continue
        with _quiet_nan_warnings():
            per_value = np.column_stack([
                np.nanmean(np.column_stack([m for key, m in setting_means.items() if key[i] == v]), axis=1)
                for v in values
            ])
            if idx is None:
                idx = _bootstrap_indices(per_value.shape[0], n_boot, seed)
            boot = np.nanmean(per_value[idx], axis=1)  # [n_boot × values]
            point = np.nanmean(per_value, axis=0)
        means = [Estimate(float(point[j]), *_percentiles(boot[:, j], level)) for j in range(len(values))]
        spread = boot.max(axis=1) - boot.min(axis=1)
        effect = Estimate(float(point.max() - point.min()), *_percentiles(spread, level))
        effects.append(MainEffect(param, values, means, effect))
    return sorted(effects, key=lambda e: -e.effect.mean)


def refusal_precision_recall(refused: Any, answerable: Any) -> tuple[float | None, float | None]:
    """(precision, recall) of refusing: precision = share of refusals that were on unanswerable items, recall =
    share of unanswerable samples refused. None where the denominator is zero."""
    refused, answerable = np.asarray(refused, dtype=bool), np.asarray(answerable, dtype=bool)
    correct = np.sum(refused & ~answerable)
    precision = float(correct / refused.sum()) if refused.any() else None
    recall = float(correct / np.sum(~answerable)) if (~answerable).any() else None
    return precision, recall
