"""Statistics pinned on hand-computed values and checked by simulation (coverage, size, power)."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from eval.calibrate import coverage
from eval.stats import (
    Estimate,
    best_set,
    bootstrap_ci,
    compare,
    compare_all,
    effects_of_settings,
    holm,
    main_effects,
    mcnemar,
    paired_test,
    proportion_ci,
    refusal_precision_recall,
    setting_matrices,
)

QUESTIONS, SAMPLES = 60, 6


def _simulated_accuracy(rng: np.random.Generator, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Two settings' [questions × samples] 0/1 outcomes; question difficulty ~ Beta(2, 2), `shift` added to b."""
    p = rng.beta(2, 2, size=QUESTIONS)
    a = rng.random((QUESTIONS, SAMPLES)) < p[:, None]
    b = rng.random((QUESTIONS, SAMPLES)) < np.clip(p + shift, 0, 1)[:, None]
    return a.astype(float), b.astype(float)


def test_bootstrap_of_constant_data_is_a_point() -> None:
    assert bootstrap_ci(np.full((10, 3), 0.25)) == Estimate(0.25, 0.25, 0.25)


def test_bootstrap_resamples_questions_not_samples() -> None:
    rng = np.random.default_rng(1)
    values = (rng.random((40, SAMPLES)) < 0.6).astype(float)
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values.mean(axis=1), seed=3)
    values[0, 3:] = np.nan  # a question with fewer samples: its mean uses the samples it has
    assert bootstrap_ci(values, seed=3).mean == pytest.approx(np.mean([np.nanmean(r) for r in values]))


def test_bootstrap_ci_covers_the_true_mean_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(7)
    covered = 0
    for sim in range(300):
        a, _ = _simulated_accuracy(rng)
        ci = bootstrap_ci(a, seed=sim)
        covered += ci.lo <= 0.5 <= ci.hi  # Beta(2, 2) has mean 0.5
    assert 0.90 <= covered / 300 <= 0.99


def test_exact_sign_flip_on_hand_computed_cases() -> None:
    # three wins and no loss: 2 of the 8 sign patterns reach |sum| = 3.
    assert paired_test([0, 0, 0, 1], [1, 1, 1, 1]) == (0.25, "sign-flip-exact")
    # five wins, one loss: |2k − 6| ≥ 4 for k ∈ {0, 1, 5, 6} → (1 + 6 + 6 + 1) / 64.
    assert paired_test([0, 0, 0, 0, 0, 1, 1], [1, 1, 1, 1, 1, 0, 1]) == (14 / 64, "sign-flip-exact")
    assert paired_test([1, 0], [1, 0]) == (1.0, "sign-flip-exact")


def test_sign_flip_falls_back_to_random_patterns_for_many_differences() -> None:
    p, test = paired_test(np.zeros(30), np.ones(30), n_perm=999)
    assert (p, test) == (1 / 1000, "sign-flip-permutation")


def test_paired_test_rejects_at_about_the_nominal_rate_under_the_null_and_has_power() -> None:
    rng = np.random.default_rng(11)
    null = [paired_test(*_simulated_accuracy(rng), n_perm=1000, seed=s)[0] for s in range(400)]
    assert 0.02 <= np.mean(np.array(null) < 0.05) <= 0.09
    effect = [paired_test(*_simulated_accuracy(rng, shift=0.15), n_perm=1000, seed=s)[0] for s in range(100)]
    assert np.mean(np.array(effect) < 0.05) >= 0.8


def test_mcnemar_on_a_textbook_table() -> None:
    # Paired table [[59, 6], [16, 80]]: 6 and 16 discordant pairs; exact p = 2 · P(Bin(22, ½) ≤ 6) ≈ 0.0525.
    a = np.repeat([1, 1, 0, 0], [59, 6, 16, 80])
    b = np.repeat([1, 0, 1, 0], [59, 6, 16, 80])
    expected = 2 * sum(comb(22, k) for k in range(7)) / 2**22
    assert mcnemar(a, b) == pytest.approx(expected)
    assert expected == pytest.approx(0.0525, abs=1e-4)
    assert mcnemar(a, a) == 1.0


def test_compare_uses_mcnemar_for_one_binary_sample_and_sign_flip_otherwise() -> None:
    baseline = np.repeat([1, 1, 0, 0], [59, 6, 16, 80])
    other = np.repeat([1, 0, 1, 0], [59, 6, 16, 80])
    single = compare(baseline[:, None], other)
    assert single.test == "mcnemar-exact" and single.p_value == pytest.approx(mcnemar(baseline, other))
    assert single.difference == pytest.approx(10 / 161) and single.lo < single.difference < single.hi
    assert single.n_questions == 161
    rng = np.random.default_rng(5)
    a, b = _simulated_accuracy(rng, shift=0.3)
    several = compare(a, b)
    assert several.test == "sign-flip-permutation" and several.p_value < 0.01 and several.lo > 0


def test_holm_on_known_values() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 → ×4, ×3, ×2, ×1 = 0.02, 0.03, 0.06, 0.04 → running max 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_compare_all_holm_adjusts_against_the_baseline() -> None:
    rng = np.random.default_rng(2)
    base, better = _simulated_accuracy(rng, shift=0.3)
    same, _ = _simulated_accuracy(rng)
    result = compare_all({"base": base, "better": better, "same": base.copy()}, baseline="base", n_perm=2000)
    assert set(result) == {"better", "same"}
    assert result["same"].p_value == 1.0 and result["same"].p_holm == 1.0
    assert result["better"].p_holm == pytest.approx(min(1.0, 2 * result["better"].p_value))
    with pytest.raises(ValueError, match="baseline setting 'nope'"):
        compare_all({"base": base}, baseline="nope")


def test_best_set_keeps_the_best_and_its_ties_and_drops_a_clearly_worse_setting() -> None:
    rng = np.random.default_rng(3)
    good, bad = _simulated_accuracy(rng, shift=-0.35)
    marks = best_set({(0.7, 0.8): good, (0.7, 0.95): good.copy(), (1.5, 0.95): bad})
    assert marks == {(0.7, 0.8): True, (0.7, 0.95): True, (1.5, 0.95): False}
    assert best_set({"only": good}) == {"only": True}


def _old_stars(per_setting: dict) -> bool:
    """The replaced ★ rule: the best cell picked from the data, each cell compared with it, Holm; True = all kept."""
    means = {k: float(np.nanmean(v)) for k, v in per_setting.items()}
    best = max(means, key=means.__getitem__)
    return all(c.p_holm >= 0.05 for c in compare_all(per_setting, best, n_boot=20, n_perm=1000).values())


def test_best_set_loses_no_setting_under_the_null_where_the_old_stars_did() -> None:
    """12 identical settings, 100 questions, n = 4: the best set drops a setting in about 5 % of simulated runs;
    the old rule (best chosen from the same data, then tested as if fixed) in about twice as many."""
    rng = np.random.default_rng(0)
    reps, new, old = 100, 0, 0
    for rep in range(reps):
        p = rng.beta(0.8, 1.2, size=100)
        settings = {s: (rng.random((100, 4)) < p[:, None]).astype(float) for s in range(12)}
        new += not all(best_set(settings, n_boot=400, seed=rep).values())
        old += not _old_stars(settings)
    assert new / reps <= 0.07 and old / reps >= 0.09


def test_proportion_ci_is_the_exact_binomial_interval_for_one_outcome_per_question() -> None:
    from scipy.stats import binomtest

    values = np.array([1] * 3 + [0] * 9, dtype=float)
    exact = binomtest(3, 12).proportion_ci(method="exact")
    ci = proportion_ci(values)
    # n_eff = p(1 − p) / var uses the unbiased variance: one question fewer than a plain binomial, a bit wider.
    assert ci.mean == 0.25 and ci.lo <= exact.low and ci.hi >= exact.high and ci.hi - ci.lo < 0.55
    assert proportion_ci(np.zeros((6, 3))) == Estimate(0.0, 0.0, pytest.approx(0.4593, abs=1e-4))  # 1 − 0.025^(1/6)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        proportion_ci([0.5, 2.0])


def test_breakdown_intervals_cover_where_the_percentile_bootstrap_does_not() -> None:
    """Accuracy 0.05–0.5 with 6–24 questions (the per-type breakdowns): `proportion_ci` covers the true accuracy
    in ≥ 93 % of simulated breakdowns in every case; the old percentile bootstrap falls far short at 0.05."""
    rows = coverage(n=6, reps=150, rng=np.random.default_rng(1))
    assert len(rows) == 9 and min(r["coverage"] for r in rows) >= 0.93
    assert min(r["bootstrap_coverage"] for r in rows) < 0.8


def _grid_records(rng: np.random.Generator) -> list[dict]:
    """temperature changes accuracy by 0.4 across its values, top_p not at all."""
    records = []
    p = rng.beta(2, 2, size=QUESTIONS)
    for temperature, drop in [(0.0, 0.0), (0.7, 0.1), (1.5, 0.4)]:
        for top_p in (0.8, 1.0):
            for q in range(QUESTIONS):
                for s in range(SAMPLES):
                    correct = rng.random() < max(p[q] - drop, 0)
                    records.append({"question_id": f"q{q}", "temperature": temperature, "top_p": top_p,
                                    "sample": s, "grounded_correct": correct})
    return records


def test_main_effects_find_the_knob_that_matters() -> None:
    effects = main_effects(_grid_records(np.random.default_rng(4)), ["temperature", "top_p", "top_k"])
    assert [e.param for e in effects] == ["temperature", "top_p"]  # top_k is absent: a single (missing) value
    temperature, top_p = effects
    assert temperature.values == [0.0, 0.7, 1.5]
    assert (temperature.contrast.high, temperature.contrast.low) == (0.0, 1.5)
    assert temperature.contrast.lo > 0.25 and temperature.p_holm < 0.01
    assert top_p.p_holm > 0.05 and top_p.contrast.lo <= 0
    assert all(m.lo <= m.mean <= m.hi for m in temperature.means)


def test_main_effect_weighs_each_setting_equally_over_complete_combinations() -> None:
    # 2 questions; (t=0, p=a) has 3 samples per question, (t=1, p=a) 1. (t=0, p=b) has no t=1 twin, so the
    # effect of t is read from p=a alone: each setting weighs the same whatever its sample count.
    rows = [("q1", 0, "a", 1), ("q1", 0, "a", 1), ("q1", 0, "a", 1), ("q1", 0, "b", 0), ("q1", 1, "a", 0),
            ("q2", 0, "a", 0), ("q2", 0, "a", 0), ("q2", 0, "a", 1), ("q2", 0, "b", 1), ("q2", 1, "a", 1)]
    records = [{"question_id": q, "t": t, "p": p, "grounded_correct": v} for q, t, p, v in rows]
    qids, matrices = setting_matrices(records, ["t", "p"])
    assert qids == ["q1", "q2"] and matrices[(0, "b")].shape == (2, 3) and np.isnan(matrices[(0, "b")][0, 1])
    t_effect = next(e for e in main_effects(records, ["t", "p"], n_boot=200) if e.param == "t")
    # t=0: q1 = 1, q2 = 1/3 → 2/3; t=1: q1 = 0, q2 = 1 → 1/2.
    assert [m.mean for m in t_effect.means] == pytest.approx([2 / 3, 1 / 2])
    assert t_effect.contrast.difference == pytest.approx(1 / 6)


def test_main_effects_are_calibrated_whatever_the_number_of_levels() -> None:
    """No knob matters: a 4-level temperature × 2-level top_p grid. The old max − min effect had a CI above 0 in
    every simulated run; the test of equal means and the simultaneous contrast stay near α = 0.05 (all runs,
    both parameters together)."""
    rng = np.random.default_rng(6)
    reps, tested, intervals, old = 60, 0, 0, 0
    for rep in range(reps):
        p = rng.beta(0.8, 1.2, size=60)
        means = {(t, tp): (rng.random((60, 4)) < p[:, None]).mean(axis=1) for t in (0.0, 0.5, 0.7, 1.0) for tp in (0.8, 0.95)}
        found = effects_of_settings(means, ["temperature", "top_p"], n_boot=300, seed=rep)
        tested += any(e.p_holm < 0.05 for e in found)
        intervals += any(e.contrast.lo > 0 for e in found)
        per_value = np.column_stack([np.mean([means[(t, tp)] for tp in (0.8, 0.95)], axis=0) for t in (0.0, 0.5, 0.7, 1.0)])
        boot = per_value[np.random.default_rng(rep).integers(0, 60, size=(300, 60))].mean(axis=1)
        old += np.quantile(boot.max(axis=1) - boot.min(axis=1), 0.025) > 0
    assert tested / reps <= 0.1 and intervals / reps <= 0.1
    assert old == reps


def test_refusal_precision_and_recall() -> None:
    refused = [True, True, False, True, False]
    answerable = [False, True, False, False, True]
    assert refusal_precision_recall(refused, answerable) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert refusal_precision_recall([False, False], [True, True]) == (None, None)


def test_the_reports_minimum_detectable_difference_agrees_with_the_simulated_one() -> None:
    """The report's normal approximation, from one baseline's own questions, against `eval.calibrate`'s simulation
    of the nightly shape (267 questions, n = 6, 12 comparisons)."""
    from eval.analysis import minimum_detectable_difference
    from eval.calibrate import minimum_detectable

    rng = np.random.default_rng(8)
    baseline = (rng.random((267, 6)) < rng.beta(0.8, 1.2, size=267)[:, None]).astype(float)
    approx = minimum_detectable_difference(baseline, comparisons=12)
    simulated = minimum_detectable(267, 6, 12, reps=100, rng=rng)
    assert abs(approx - simulated) <= 0.01 and 0.03 < approx < 0.08
