"""The A/B bench: n samples of one question under each of two settings, clustered, scored and compared.

Each side's rows are its sampling settings with seeds `seed + i` (sample i of A and sample i of B share a seed,
so their random draws are common and the pair is a fair unit for a paired test). Sides whose prompt is the same
(same retrieval, template and thinking mode) are sampled together from one prefill through the generator's
`generate_many`, the shared-prefill path `eval.run` uses; rows go interleaved (A0, B0, A1, …) in calls of at most
ROWS_PER_CALL rows, one prefill each, and Stop and the progress line act between calls. A row whose request
failed (`Generation.error`) is left out and reported.

Answers are clustered by the eval's answer key (`answer_key`). When the question is in the gold QA set (same
normalized text, or a near match) every sample is scored with `eval.metrics.score_sample`, as `eval.run`
scores it; grounded accuracy gets a bootstrap interval over the samples and the two sides a paired test
(`eval.stats.compare`: exact McNemar over the sample pairs). One question is not a sweep: the interval and the
p-value describe this question's samples, not the QA set.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from eval import stats
from eval.answer_keys import answer_key as canonical_key
from eval.metrics import REFUSED_KEY, SampleScore, score_sample
from eval.normalize import normalize, strip_thinking
from eval.qa import DEFAULT_QA, QAItem, load_qa
from rag.config import SamplingParams
from rag.generators import needs_base_url
from rag.prompt import build_messages
from rag.types import Answer, Generation, Hit

if TYPE_CHECKING:
    from rag.pipeline import Pipeline
    from ui.app import RequestSettings

SIDES = ("A", "B")
DEFAULT_SAMPLES = 6
MAX_SAMPLES = 20
ROWS_PER_CALL = 8  # rows per generate_many call (one prefill each): Stop and the progress line act between calls
NEAR_MATCH = 0.9  # difflib ratio of normalized questions above which a gold question counts as the same one


def answer_key(answer: str, refused: bool, item: QAItem | None = None) -> str:
    """The eval's canonical answer key (`eval.answer_keys.answer_key`, what maj@n and agreement compare): the
    values the answer states and the gold answers it names (`175B` = `1750亿`), else its normalized text; one key
    for every refusal. Samples with equal keys are one distinct answer."""
    return canonical_key(answer, item, REFUSED_KEY if refused else normalize(strip_thinking(answer)))


@dataclass(frozen=True)
class Sample:
    """One sampled answer of one side."""

    side: str
    index: int  # sample i, drawn with seed + i
    answer: Answer
    key: str
    score: SampleScore | None  # set when the question is a gold question


@dataclass(frozen=True)
class GoldMatch:
    item: QAItem
    similarity: float  # 1.0 = same normalized question


@dataclass(frozen=True)
class Cluster:
    """A distinct answer: its key, how many samples gave it, and the first of them (shown)."""

    key: str
    count: int
    first: Sample


@dataclass(frozen=True)
class SideSummary:
    n: int
    clusters: list[Cluster]
    agreement: float  # share of samples whose key is the modal one (eval.metrics.QuestionSummary.agreement)
    refusal_share: float
    accuracy: stats.Estimate | None  # grounded accuracy over the samples with a 95% bootstrap CI (gold only)


# ---- the gold set -------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _gold(qa_path: str, corpus: str) -> tuple[QAItem, ...]:
    return tuple(load_qa(qa_path, corpus))


def find_gold(question: str, items: Sequence[QAItem]) -> GoldMatch | None:
    """The gold item asking `question`: the same normalized text, else the most similar one above NEAR_MATCH."""
    wanted = normalize(question)
    best: GoldMatch | None = None
    for item in items:
        similarity = 1.0 if normalize(item.question) == wanted else difflib.SequenceMatcher(None, wanted, normalize(item.question)).ratio()
        if similarity >= NEAR_MATCH and (best is None or similarity > best.similarity):
            best = GoldMatch(item, similarity)
            if similarity == 1.0:
                break
    return best


def gold_items(pipeline: Pipeline, qa_path: str | Path = DEFAULT_QA) -> tuple[QAItem, ...]:
    """The gold QA set checked against the pipeline's corpus (loaded once per process)."""
    return _gold(str(qa_path), pipeline.settings.index.corpus)


# ---- sampling -----------------------------------------------------------------------------------------------


@dataclass
class _Job:
    """The rows of one prompt: one or both sides whose messages are the same."""

    messages: list[dict[str, str]]
    sources: list[Hit]
    notices: list[str]
    rows: list[tuple[str, int, SamplingParams, Any]]  # (side, sample index, sampling with its seed, settings)


def side_rows(settings: RequestSettings, n: int) -> list[SamplingParams]:
    """Sample i of a side runs its sampling settings with seed + i."""
    return [dataclasses.replace(settings.sampling, seed=settings.sampling.seed + i) for i in range(n)]


def plan_jobs(pipeline: Pipeline, question: str, sides: dict[str, RequestSettings], n: int) -> list[_Job]:
    """One job per distinct prompt: sides with the same retrieval, template and thinking mode share one."""
    groups: dict[Any, list[str]] = {}
    for side, s in sides.items():
        groups.setdefault((s.retrieval, s.prompt, s.sampling.thinking), []).append(side)
    jobs = []
    for (retrieval, prompt, _), names in groups.items():
        hits = pipeline.retrieve(question, retrieval)
        budget = max(sides[name].sampling.max_new_tokens for name in names)
        built = build_messages(question, hits, prompt, generator=pipeline.generator, max_new_tokens=budget)
        notices = [x for x in [pipeline.retriever.rerank_notice(retrieval), *built.notices] if x]
        # Interleaved (A0, B0, A1, …), so a call of ROWS_PER_CALL rows serves both sides.
        per_side = {name: side_rows(sides[name], n) for name in names}
        rows = [(name, i, per_side[name][i], sides[name]) for i in range(n) for name in names]
        jobs.append(_Job(built.messages, hits[: len(built.sources)], notices, rows))
    return jobs


def _answer(pipeline: Pipeline, question: str, job: _Job, settings: RequestSettings, row: SamplingParams,
            generation: Generation, ms_per_row: float) -> Answer:  # fmt: skip
    params = {"sampling": dataclasses.asdict(row), "retrieval": dataclasses.asdict(settings.retrieval), "prompt": settings.prompt}
    timings = {"generate_ms": round(ms_per_row, 2), "new_tokens": generation.new_tokens}
    return pipeline.answer(question, generation, job.sources, params=params, timings=timings, notices=job.notices)


def _sample(pipeline: Pipeline, question: str, job: _Job, rows, gold: QAItem | None) -> tuple[list[Sample], list[str]]:
    """The samples of one generate_many call, and an error line for each row whose request failed."""
    t0 = time.perf_counter()
    generations = pipeline.generator.generate_many(job.messages, [row for _, _, row, _ in rows])
    ms = (time.perf_counter() - t0) * 1000 / len(rows)
    out, failed = [], []
    for (side, i, row, settings), generation in zip(rows, generations):
        if generation.error is not None:
            failed.append(f"sample {i + 1} of {side}: {generation.error}")
            continue
        answer = _answer(pipeline, question, job, settings, row, generation, ms)
        score = None
        if gold is not None:
            cited = [c.text for c in answer.citations]
            score = score_sample(answer.answer, gold, cited, refused=answer.refused)
        out.append(Sample(side, i, answer, answer_key(answer.answer, answer.refused, gold), score))
    return out, failed


@dataclass(frozen=True)
class Progress:
    """Everything sampled so far (by side, then sample index) and the rows whose requests failed."""

    samples: list[Sample]
    failed: list[str]

    @property
    def rows_done(self) -> int:
        return len(self.samples) + len(self.failed)


def sample_sides(
    pipeline: Pipeline,
    question: str,
    sides: dict[str, RequestSettings],
    n: int,
    *,
    gold: QAItem | None = None,
    stop: threading.Event | None = None,
) -> Iterator[Progress]:
    """Yield the progress after each generate_many call (the last yield holds every row, or what was done
    when `stop` was set)."""
    if not 1 <= n <= MAX_SAMPLES:
        raise ValueError(f"n must be in 1..{MAX_SAMPLES}, got {n}")
    done: list[Sample] = []
    failed: list[str] = []
    for job in plan_jobs(pipeline, question, sides, n):
        for start in range(0, len(job.rows), ROWS_PER_CALL):
            if stop is not None and stop.is_set():
                return
            samples, errors = _sample(pipeline, question, job, job.rows[start : start + ROWS_PER_CALL], gold)
            done += samples
            failed += errors
            yield Progress(sorted(done, key=lambda s: (s.side, s.index)), list(failed))


# ---- summaries ----------------------------------------------------------------------------------------------


def summarize_side(samples: Sequence[Sample]) -> SideSummary:
    """Distinct answers with counts (most frequent first), agreement, refusal share, and accuracy for gold."""
    if not samples:
        raise ValueError("summarize_side needs at least one sample")
    counts = Counter(s.key for s in samples)
    first = {}
    for s in samples:
        first.setdefault(s.key, s)
    clusters = [Cluster(key, count, first[key]) for key, count in counts.most_common()]
    scored = [s.score for s in samples if s.score is not None]
    accuracy = stats.bootstrap_ci([float(s.grounded_correct) for s in scored]) if len(scored) == len(samples) else None
    return SideSummary(
        n=len(samples),
        clusters=clusters,
        agreement=clusters[0].count / len(samples),
        refusal_share=sum(s.answer.refused for s in samples) / len(samples),
        accuracy=accuracy,
    )


def paired_comparison(a: Sequence[Sample], b: Sequence[Sample]) -> stats.Comparison | None:
    """B − A grounded accuracy over the sample pairs both sides have (sample i of each shares seed + i), with
    `eval.stats.compare`; None without scores or pairs."""
    by_index = {s.index: s for s in b if s.score is not None}
    pairs = [(s.score.grounded_correct, by_index[s.index].score.grounded_correct) for s in a if s.score is not None and s.index in by_index]
    if not pairs:
        return None
    return stats.compare([float(x) for x, _ in pairs], [float(y) for _, y in pairs])


# ---- sweep config -------------------------------------------------------------------------------------------

_NOT_SWEPT = ("seed",)


def sweep_config(pipeline: Pipeline, sides: dict[str, RequestSettings], n: int) -> str:
    """The two settings as an `eval.run` config (YAML): A is the baseline, B an explicit setting.

    eval.run sweeps retrieval and prompt as a grid, so when A and B differ in k, rerank or template the config
    runs their product (each sampling setting with each retrieval/template); the comment says so.
    """
    import yaml

    a, b = sides["A"], sides["B"]
    sampling_a = {k: v for k, v in dataclasses.asdict(a.sampling).items() if k not in _NOT_SWEPT}
    sampling_b = {k: v for k, v in dataclasses.asdict(b.sampling).items() if k not in _NOT_SWEPT}

    def one_or_both(x: Any, y: Any) -> Any:
        return x if x == y else [x, y]

    retrieval = {
        name: one_or_both(getattr(a.retrieval, name), getattr(b.retrieval, name))
        for name in ("k", "hybrid", "rerank")
    }
    model = pipeline.settings.model
    config = {
        "name": "ab",
        "models": [model.model_id],
        "backend": pipeline.generator.backend,
        **({"base_url": model.base_url} if needs_base_url(pipeline.generator.backend) else {}),
        "index": dataclasses.asdict(pipeline.settings.index),
        "retrieval": retrieval,
        "prompts": [a.prompt] if a.prompt == b.prompt else [a.prompt, b.prompt],
        "sampling": sampling_a,
        "settings": [sampling_b],
        "baseline": {**sampling_a, "k": a.retrieval.k, "rerank": a.retrieval.rerank, "prompt": a.prompt},
        "n": n,
        "seed": a.sampling.seed,
        "closed_book": False,
    }
    grid = any(isinstance(v, list) for v in retrieval.values()) or a.prompt != b.prompt
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    head = [
        f"# Settings A (baseline) and B of the web page's A/B tab, {stamp}.",
        "# Run it over the gold QA set: python -m eval.run --config <this file>",
    ]
    if grid:
        head.append("# A and B differ in retrieval or template: eval.run sweeps their product, so both sampling settings run with each.")
    return "\n".join(head) + "\n" + yaml.safe_dump(config, allow_unicode=True, sort_keys=False)


def write_sweep_config(pipeline: Pipeline, sides: dict[str, RequestSettings], n: int, folder: str | Path) -> Path:
    """Write `sweep_config` to `folder/ab-sweep.yaml` and return the path (the page offers it as a download)."""
    path = Path(folder) / "ab-sweep.yaml"
    path.write_text(sweep_config(pipeline, sides, n), encoding="utf-8")
    return path

