"""Statistics over questions: intervals, paired tests, Holm correction, the best set, main effects (numpy/scipy).

The unit of resampling is the question: an array `[questions × samples]` keeps each question's samples
together (NaN marks a missing sample), and a 1-D array holds one value per question. Exact definitions:
docs/eval.md, "Statistics".
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
    """A mean with its confidence interval (Clopper–Pearson from `proportion_ci`, bootstrap from `bootstrap_ci`)."""

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
class Contrast:
    """`high` − `low` (two settings or two parameter values), with an interval that holds simultaneously for every
    pair of the family it was picked from, so choosing the pair after looking does not bias it."""

    high: Any
    low: Any
    difference: float
    lo: float
    hi: float


@dataclass(frozen=True)
class MainEffect:
    """One swept parameter: accuracy per value (other parameters averaged), the paired test of "every value
    gives the same accuracy", and the contrast between its best and worst value."""

    param: str
    values: list[Any]
    means: list[Estimate]
    contrast: Contrast  # best − worst value, simultaneous interval over all pairs of values
    p_value: float  # `equal_means_test` of the parameter's values, calibrated whatever the number of values
    p_holm: float | None = None  # Holm-adjusted across the parameters of one model


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


def proportion_ci(values: Any, level: float = 0.95) -> Estimate:
    """Mean over questions of per-question means in [0, 1], with a Clopper–Pearson interval at the effective
    sample size (Korn & Graubard 1998): n_eff = p(1 − p) / var(mean), at most the number of questions.

    With one 0/1 value per question the unbiased variance makes n_eff = q − 1: the exact binomial interval on
    one question fewer (slightly conservative); when each question's samples agree
    more than a coin would, n_eff shrinks toward the number of questions; it never uses the samples as if they
    were independent questions. Unlike the percentile bootstrap it keeps its coverage with few questions and
    accuracies near 0 or 1 (docs/eval.md, "Statistics").
    """
    from scipy.stats import beta  # scipy.stats takes seconds to import; only the tests and intervals need it

    means = question_means(values)
    means = means[~np.isnan(means)]
    if means.size == 0:
        raise ValueError("proportion_ci needs at least one question with a value")
    if means.min() < 0 or means.max() > 1:
        raise ValueError("proportion_ci needs values in [0, 1] (shares of correct samples)")
    q, p = means.size, float(means.mean())
    variance = float(means.var(ddof=1)) / q if q > 1 else 0.0
    n_eff = float(q) if variance <= 0 or p in (0.0, 1.0) else min(float(q), p * (1 - p) / variance)
    x = p * n_eff
    alpha = 1 - level
    lo = 0.0 if x <= 0 else float(beta.ppf(alpha / 2, x, n_eff - x + 1))
    hi = 1.0 if x >= n_eff else float(beta.ppf(1 - alpha / 2, x + 1, n_eff - x))
    return Estimate(p, min(lo, p), max(hi, p))


def _complete_columns(columns: Sequence[Any]) -> np.ndarray:
    """[questions × k] per-question means of k settings, keeping the questions every setting answered."""
    matrix = np.column_stack([question_means(c) for c in columns])
    return matrix[~np.isnan(matrix).any(axis=1)]


def _bootstrap_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """[n_boot × n] resampling counts of questions (each row sums to n)."""
    return np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_boot)


def _pair_se(means: np.ndarray, second: np.ndarray, q: int) -> np.ndarray:
    """[..., k × k] standard errors of the paired mean differences from column means and E[x_s·x_t]."""
    squares = np.diagonal(second, axis1=-2, axis2=-1)
    variance = squares[..., :, None] + squares[..., None, :] - 2 * second - (means[..., :, None] - means[..., None, :]) ** 2
    return np.sqrt(np.maximum(variance, 0.0) / (q - 1))


def _max_t(matrix: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(means, paired se [k × k], bootstrap distribution of the largest studentized deviation over all ordered
    pairs): a bootstrap over questions, each replicate studentized by its own standard errors (bootstrap-t)."""
    q, k = matrix.shape
    if q < 2:
        raise ValueError("simultaneous intervals need at least two questions")
    means = matrix.mean(axis=0)
    products = (matrix[:, :, None] * matrix[:, None, :]).reshape(q, k * k)
    se = _pair_se(means, (products.sum(axis=0) / q).reshape(k, k), q)
    varying = se > 1e-12
    if not varying.any():
        return means, se, np.zeros(n_boot)
    weights = _bootstrap_weights(q, n_boot, seed) / q  # [n_boot × q]
    boot = weights @ matrix
    boot_se = _pair_se(boot, (weights @ products).reshape(n_boot, k, k), q)
    deviation = (boot[:, :, None] - boot[:, None, :]) - (means[:, None] - means[None, :])[None]
    usable = varying[None] & (boot_se > 1e-12)
    studentized = np.where(usable, deviation / np.where(usable, boot_se, 1.0), 0.0)
    return means, se, studentized.reshape(n_boot, -1).max(axis=1)


def simultaneous_pairs(matrix: np.ndarray, alpha: float = 0.05, n_boot: int = 2000, seed: int = 0
                       ) -> tuple[np.ndarray, np.ndarray, float]:
    """Simultaneous bounds for every ordered pair of columns of a [questions × k] matrix.

    Returns (means, se, c): with probability ≈ 1 − alpha, μ_s − μ_t ≥ m_s − m_t − c·se[s, t] for every s ≠ t at
    once. se is the paired standard error of the per-question differences (0 for settings that never differ);
    c is the 1 − alpha quantile of the largest studentized deviation over all pairs in a bootstrap over
    questions, each replicate studentized by its own standard errors (bootstrap-t: with 14 settings the plain
    percentile version gives c ≈ 3.32 where the studentized range needs 3.40, and loses stars too often).
    """
    means, se, worst = _max_t(matrix, n_boot, seed)
    return means, se, float(np.quantile(worst, 1 - alpha))


def equal_means_test(matrix: np.ndarray, n_boot: int = 2000, seed: int = 0) -> float:
    """p-value of "all k columns have the same mean" for a [questions × k] matrix: the largest studentized
    pairwise difference against its bootstrap-t distribution, p = (1 + #{T* ≥ T}) / (1 + n_boot). Calibrated
    for any k, and for columns of unequal spread (greedy decoding's 0/1 question means next to sampled ones)."""
    means, se, worst = _max_t(matrix, n_boot, seed)
    varying = se > 1e-12
    if not varying.any():
        return 1.0
    observed = float(np.max(np.where(varying, (means[:, None] - means[None, :]) / np.where(varying, se, 1.0), 0.0)))
    return (1 + int(np.sum(worst >= observed - 1e-12))) / (1 + n_boot)


def best_set(per_setting: Mapping[Hashable, Any], alpha: float = 0.05, n_boot: int = 2000, seed: int = 0
             ) -> dict[Hashable, bool]:
    """Selection-aware set of settings not worse than the best (Hsu's multiple comparisons with the best, with a
    bootstrap max-t critical value): s is in the set unless some t beats it by more than c·se[t, s].

    The best setting is in the set with probability ≥ 1 − alpha (≈, by bootstrap), whatever the data picked
    as the highest mean; under "all settings equal" no setting leaves the set with probability ≥ 1 − alpha.
    Questions missing under any setting are left out.
    """
    keys = list(per_setting)
    if len(keys) < 2:
        return {key: True for key in keys}
    matrix = _complete_columns([per_setting[k] for k in keys])
    if matrix.shape[0] < 2:
        raise ValueError("best_set needs at least two questions answered under every setting")
    means, se, c = simultaneous_pairs(matrix, alpha=alpha, n_boot=n_boot, seed=seed)
    beaten = (means[:, None] - means[None, :]) - c * se  # [t, s]: m_t − m_s − c·se[t, s]
    np.fill_diagonal(beaten, -np.inf)
    return {key: bool(beaten[:, j].max() <= 1e-12) for j, key in enumerate(keys)}


def main_effects(
    records: Sequence[Mapping[str, Any]], params: Sequence[str], value: str = "grounded_correct",
    question: str = "question_id", alpha: float = 0.05, n_boot: int = 2000, seed: int = 0,
) -> list[MainEffect]:
    """Main effect of each swept parameter of per-sample records (see `effects_of_settings`)."""
    _, matrices = setting_matrices(records, params, value=value, question=question)
    setting_means = {key: question_means(arr) for key, arr in matrices.items()}
    return effects_of_settings(setting_means, params, alpha=alpha, n_boot=n_boot, seed=seed)


def effects_of_settings(
    setting_means: Mapping[tuple, np.ndarray], params: Sequence[str], alpha: float = 0.05, n_boot: int = 2000,
    seed: int = 0,
) -> list[MainEffect]:
    """Main effect of each parameter (≥ 2 values) of a product grid, smallest Holm p first.

    `setting_means` maps a setting (the tuple of its `params` values) to its per-question means (paired by
    position). For a parameter, the settings are laid out as [questions × its values × combinations of the
    other parameters] (combinations missing a value are left out) and averaged over the other parameters (each
    setting weighing the same) into [questions × values]. Its columns' means get `proportion_ci`;
    `equal_means_test` gives the p-value, Holm-adjusted across the parameters; the best − worst value contrast
    gets a simultaneous interval over all pairs of values (`simultaneous_pairs`) at level 1 − alpha / (number of
    parameters), so that no parameter's interval excludes 0 by chance with probability above alpha.

    A within-question permutation of the values would test "the parameter changes nothing at all", which
    greedy decoding (one decode for every top_p, every sample the same) breaks even at equal accuracy: it
    rejected 10 % of simulated runs of the nightly grid with no difference in accuracy.
    """
    cubes = []
    for i, param in enumerate(params):
        values = _sorted_values({key[i] for key in setting_means})
        if len(values) < 2:
            continue
        rests: dict[tuple, dict[Any, np.ndarray]] = {}
        for key, m in setting_means.items():
            rests.setdefault(key[:i] + key[i + 1:], {})[key[i]] = m
        complete = [r for r in rests.values() if len(r) == len(values)]
        if not complete:
            continue
        cube = np.stack([np.column_stack([r[v] for v in values]) for r in complete], axis=2)  # [q × values × rest]
        cube = cube[~np.isnan(cube).any(axis=(1, 2))]
        if cube.shape[0] >= 2:
            cubes.append((param, values, cube))
    raw = []
    for param, values, cube in cubes:
        per_value = cube.mean(axis=2)  # [q × values]
        means = [proportion_ci(per_value[:, j]) for j in range(len(values))]
        point, se, c = simultaneous_pairs(per_value, alpha=alpha / len(cubes), n_boot=n_boot, seed=seed)
        high, low = int(np.argmax(point)), int(np.argmin(point))
        diff = float(point[high] - point[low])
        contrast = Contrast(values[high], values[low], diff, diff - c * se[high, low], diff + c * se[high, low])
        raw.append(MainEffect(param, values, means, contrast, equal_means_test(per_value, n_boot=n_boot, seed=seed)))
    adjusted = holm([e.p_value for e in raw]) if raw else []
    effects = [replace(e, p_holm=float(p)) for e, p in zip(raw, adjusted)]
    return sorted(effects, key=lambda e: (e.p_holm, -e.contrast.difference))


def refusal_precision_recall(refused: Any, answerable: Any) -> tuple[float | None, float | None]:
    """(precision, recall) of refusing: precision = share of refusals that were on unanswerable items, recall =
    share of unanswerable samples refused. None where the denominator is zero."""
    refused, answerable = np.asarray(refused, dtype=bool), np.asarray(answerable, dtype=bool)
    correct = np.sum(refused & ~answerable)
    precision = float(correct / refused.sum()) if refused.any() else None
    recall = float(correct / np.sum(~answerable)) if (~answerable).any() else None
    return precision, recall
