"""`python -m eval.calibrate`: simulated runs of a config's shape, to check that the report's statistics keep
their promises and to say how big a difference a run can see.

    python -m eval.calibrate [--config CONFIG] [--reps N] [--seed S] [--effect D] [--json]

The shape is the config's: its questions (after `limit`), its distinct settings (cells at temperature 0 that
differ only in top_p/top_k/min_p are one setting), its product grid and its n. A simulated run draws each
question's accuracy from Beta(0.8, 1.2) (mean 0.4, most questions mostly right or mostly wrong, as in real
runs) and each sample as a coin with that accuracy, independently per setting (the worst case for the tests:
common random numbers only make settings share more noise). Reported, from `--reps` runs:

- family-wise error rates under "no setting differs": any baseline comparison significant after Holm, any
  setting dropped from the best set, any main effect significant after Holm, any main-effect interval above 0;
- coverage of the accuracy interval (`eval.stats.proportion_ci`) at accuracy 0.05, 0.2, 0.5 with 6, 12, 24
  questions and the config's n (the per-type and per-language breakdowns), next to the percentile bootstrap's;
- power to find a difference of `--effect` between one setting and the baseline (α = 0.05 after Holm), the
  minimum detectable difference (80 % power), the samples per setting and the questions that `--effect` needs;
- the variance of a paired difference with common random numbers relative to independent seeds.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from core.errors import OneLineArgumentParser, UserError, parse_args
from eval import stats

ALPHA = 0.05
POWER = 0.8
DEFAULT_CONFIG = "eval/configs/nightly.yaml"
DIFFICULTY = (0.8, 1.2)  # Beta parameters of a question's accuracy
COVERAGE_ACCURACIES = (0.05, 0.2, 0.5)
COVERAGE_QUESTIONS = (6, 12, 24)
SAMPLE_CHOICES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
QUESTION_FACTORS = (0.5, 1, 1.5, 2, 3, 4, 6, 8)
N_BOOT, N_PERM = 1000, 1000  # per simulated run: enough for α = 0.05 / (number of settings)


@dataclass(frozen=True)
class Shape:
    """What a run looks like to the statistics."""

    questions: int
    n: int  # samples per question and setting
    settings: int  # distinct settings, the closed-book control included
    best_set: int  # distinct open-book settings competing for the best set
    factors: dict[str, list[Any]]  # swept parameter → its values in the product grid
    layout: list[tuple]  # the product grid's settings as tuples of factor values, duplicates included
    same_as: dict[int, int] = field(default_factory=dict)  # layout position → position of the setting it equals


def shape_of_config(path: str) -> Shape:
    """The shape of a sweep config (reads its QA set for the question count)."""
    from eval.analysis import canonical_setting
    from eval.config import load_eval_config
    from eval.grid import expand_grid
    from eval.qa import load_qa, stratified_sample

    config = load_eval_config(path)
    grid = expand_grid(config)
    questions = len(stratified_sample(load_qa(config.qa, config.index.corpus), config.limit, config.seed))
    distinct = {canonical_setting(c.params()) for c in grid.cells}
    open_book = {canonical_setting(c.params()) for c in grid.cells if c.control is None}
    product = [c for c in grid.cells if c.id in grid.factorial]
    names = [p for p in grid.varying if len({json.dumps(c.params().get(p)) for c in product}) > 1]
    layout = [tuple(c.params().get(p) for p in names) for c in product]
    first: dict[str, int] = {}
    same_as = {}
    for i, c in enumerate(product):
        j = first.setdefault(canonical_setting(c.params()), i)
        if j != i:
            same_as[i] = j
    factors = {p: sorted({key[i] for key in layout}) for i, p in enumerate(names)}
    return Shape(questions, config.n, len(distinct), len(open_book), factors, layout, same_as)


def _difficulty(rng: np.random.Generator, questions: int) -> np.ndarray:
    return rng.beta(*DIFFICULTY, size=questions)


def _samples(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    """[questions × n] 0/1 outcomes of questions with accuracies p."""
    return (rng.random((p.size, n)) < p[:, None]).astype(float)


def _null_fwer(shape: Shape, reps: int, rng: np.random.Generator) -> dict[str, float]:
    baseline = best = effects = intervals = 0
    names = list(shape.factors)
    for rep in range(reps):
        p = _difficulty(rng, shape.questions)
        settings = {s: _samples(rng, p, shape.n) for s in range(shape.settings)}
        compared = stats.compare_all(settings, 0, n_boot=50, n_perm=N_PERM, seed=rep)
        baseline += any(c.p_holm < ALPHA for c in compared.values())
        competing = {s: settings[s] for s in range(shape.best_set)}
        best += not all(stats.best_set(competing, alpha=ALPHA, n_boot=N_BOOT, seed=rep).values())
        if names:
            means = {}
            for i, key in enumerate(shape.layout):
                means[key] = means[shape.layout[shape.same_as[i]]] if i in shape.same_as else _samples(rng, p, shape.n).mean(axis=1)
            found = stats.effects_of_settings(means, names, alpha=ALPHA, n_boot=N_BOOT, seed=rep)
            effects += any(e.p_holm < ALPHA for e in found)
            intervals += any(e.contrast.lo > 0 for e in found)
    rate = lambda count: round(count / reps, 4)  # noqa: E731
    out = {"baseline_comparisons": rate(baseline), "best_set": rate(best)}
    if names:
        out.update(main_effects=rate(effects), main_effect_intervals=rate(intervals))
    return out


def coverage(n: int, reps: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Share of simulated breakdowns whose 95 % interval holds the true accuracy: `proportion_ci` and the
    percentile bootstrap, per (accuracy, questions). Question accuracies ~ Beta with the given mean."""
    rows = []
    for accuracy in COVERAGE_ACCURACIES:
        a = accuracy * sum(DIFFICULTY)
        b = sum(DIFFICULTY) - a
        for questions in COVERAGE_QUESTIONS:
            held = held_bootstrap = 0
            for rep in range(reps):
                values = _samples(rng, rng.beta(a, b, size=questions), n)
                ci = stats.proportion_ci(values)
                held += ci.lo <= accuracy <= ci.hi
                boot = stats.bootstrap_ci(values, n_boot=500, seed=rep)
                held_bootstrap += boot.lo <= accuracy <= boot.hi
            rows.append({"accuracy": accuracy, "questions": questions, "coverage": round(held / reps, 4),
                         "bootstrap_coverage": round(held_bootstrap / reps, 4)})
    return rows


def power(effect: float, questions: int, n: int, comparisons: int, reps: int, rng: np.random.Generator,
          crn: bool = False) -> float:
    """Share of simulated runs in which a setting `effect` better than the baseline (on every question, capped
    at 1) is significant: sign-flip p ≤ α / comparisons, Holm's first step (its smallest p-value)."""
    hits = 0
    for rep in range(reps):
        p = _difficulty(rng, questions)
        base, better = _pair(rng, p, effect, n, crn)
        p_value, _ = stats.paired_test(base, better, n_perm=N_PERM * 2, seed=rep)
        hits += p_value <= ALPHA / max(comparisons, 1)
    return hits / reps


def _pair(rng: np.random.Generator, p: np.ndarray, effect: float, n: int, crn: bool) -> tuple[np.ndarray, np.ndarray]:
    """Baseline and shifted setting; with common random numbers a sample's uniform draw is shared (its seed)."""
    u = rng.random((p.size, n))
    v = u if crn else rng.random((p.size, n))
    return (u < p[:, None]).astype(float), (v < np.minimum(p + effect, 1.0)[:, None]).astype(float)


def minimum_detectable(questions: int, n: int, comparisons: int, reps: int, rng: np.random.Generator) -> float:
    """Smallest difference (to 0.005) found with 80 % power, by bisection on `power`."""
    lo, hi = 0.0, 0.5
    while hi - lo > 0.005:
        mid = (lo + hi) / 2
        if power(mid, questions, n, comparisons, reps, rng) >= POWER:
            hi = mid
        else:
            lo = mid
    return round(hi, 3)


def crn_variance_ratio(effect: float, questions: int, n: int, reps: int, rng: np.random.Generator) -> float:
    """Variance of the estimated difference with common random numbers / with independent seeds."""
    spread = {}
    for crn in (True, False):
        diffs = []
        for _ in range(reps):
            p = _difficulty(rng, questions)
            base, better = _pair(rng, p, effect, n, crn)
            diffs.append(better.mean() - base.mean())
        spread[crn] = float(np.var(diffs))
    return round(spread[True] / spread[False], 3)


def needed(effect: float, shape: Shape, reps: int, rng: np.random.Generator) -> dict[str, Any]:
    """Samples per setting (at the config's questions) and questions (at its n) for 80 % power at `effect`."""
    comparisons = shape.settings - 1
    samples = next((n for n in SAMPLE_CHOICES if power(effect, shape.questions, n, comparisons, reps, rng) >= POWER), None)
    questions = next(
        (q for q in (int(shape.questions * f) for f in QUESTION_FACTORS)
         if power(effect, q, shape.n, comparisons, reps, rng) >= POWER),
        None,
    )
    return {
        "effect": effect,
        "power_now": round(power(effect, shape.questions, shape.n, comparisons, reps, rng), 3),
        "samples_per_setting": samples,  # None: more than the largest choice
        "questions": questions,
        "samples_tried": list(SAMPLE_CHOICES),
        "questions_tried": [int(shape.questions * f) for f in QUESTION_FACTORS],
    }


def calibrate(shape: Shape, reps: int = 300, seed: int = 0, effect: float = 0.05) -> dict[str, Any]:
    """Every number of the command, as one JSON-ready dict."""
    rng = np.random.default_rng(seed)
    comparisons = shape.settings - 1
    covered = coverage(shape.n, reps, rng)
    return {
        "shape": {**asdict(shape), "layout": None, "same_as": None, "comparisons": comparisons},
        "reps": reps,
        "seed": seed,
        "family_wise_error": _null_fwer(shape, reps, rng),
        "coverage": covered,
        "coverage_min": min(r["coverage"] for r in covered),
        "bootstrap_coverage_min": min(r["bootstrap_coverage"] for r in covered),
        "minimum_detectable_difference": minimum_detectable(shape.questions, shape.n, comparisons, max(reps // 2, 50), rng),
        "needed": needed(effect, shape, max(reps // 2, 50), rng),
        "crn_variance_ratio": crn_variance_ratio(effect, shape.questions, shape.n, reps, rng),
    }


def stamp() -> dict[str, str]:
    """When, on which code and which machine the numbers were produced."""
    from eval.records import git_commit

    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "git_commit": git_commit(),
        "machine": f"{platform.processor() or platform.machine()}, {_cpus()} cores",
    }


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def render(result: dict[str, Any]) -> str:
    """The human-readable report of `calibrate`."""
    s, f = result["shape"], result["family_wise_error"]
    lines = [
        f"shape: {s['questions']} questions, n = {s['n']}, {s['settings']} distinct settings "
        f"({s['comparisons']} baseline comparisons, {s['best_set']} in the best-set family), "
        f"factors {', '.join(f'{k} ({len(v)} values)' for k, v in s['factors'].items()) or 'none'}; {result['reps']} simulated runs",
        f"family-wise error under the null (target ≤ {ALPHA}): " + ", ".join(f"{k} {v:.3f}" for k, v in f.items()),
        f"breakdown interval coverage (target ≥ 0.93): min {result['coverage_min']:.3f} "
        f"(percentile bootstrap: min {result['bootstrap_coverage_min']:.3f})",
    ]
    lines += [f"  accuracy {r['accuracy']:<4} questions {r['questions']:>2}: {r['coverage']:.3f} "
              f"(bootstrap {r['bootstrap_coverage']:.3f})" for r in result["coverage"]]
    need = result["needed"]
    lines += [
        f"minimum detectable difference (80% power, α = {ALPHA} after Holm): {result['minimum_detectable_difference']:.3f}",
        f"difference {need['effect']}: power now {need['power_now']:.2f}; 80% power needs "
        f"{need['samples_per_setting'] or 'more than ' + str(need['samples_tried'][-1])} samples per setting "
        f"(at {s['questions']} questions) or {need['questions'] or 'more than ' + str(need['questions_tried'][-1])} "
        f"questions (at n = {s['n']})",
        f"common random numbers: variance of a paired difference × {result['crn_variance_ratio']:.2f} of independent seeds",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="python -m eval.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"sweep config whose shape is simulated (default {DEFAULT_CONFIG})")
    parser.add_argument("--reps", type=int, default=300, help="simulated runs per estimate (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulation (default 0)")
    parser.add_argument("--effect", type=float, default=0.05, help="difference to find: power, samples and questions needed (default 0.05)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (with date, commit and machine)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)
    if isinstance(args, int):
        return args
    try:
        if args.reps < 10:
            raise UserError(f"--reps {args.reps} is too few to estimate a rate; use at least 10")
        if not 0 < args.effect < 1:
            raise UserError(f"--effect {args.effect} is not a difference in accuracy; give a value between 0 and 1")
        stamped = stamp()  # the code as the simulation starts
        result = calibrate(shape_of_config(args.config), reps=args.reps, seed=args.seed, effect=args.effect)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    result = {"config": args.config, **stamped, **result}
    print(json.dumps(result, ensure_ascii=False) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
