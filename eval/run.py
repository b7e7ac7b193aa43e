"""`python -m eval.run`: a parameter sweep over the gold QA set, cached, resumable, then its report.

    python -m eval.run --config eval/configs/nightly.yaml [--split dev|heldout] [--limit N] [--model M] [--backend B] [--qa PATH] [--out DIR]

Per question: retrieve once per retrieval setting, build the prompt once per (retrieval, template, thinking),
then produce every sampling cell × n samples of that prompt with one `generate_many` call of the generator
(rag.generators.protocol; at most `max_batch` rows per call, up to `concurrency` calls in flight, records
still in order) — how the rows share the prompt is the backend's business. Each generation is appended to the
record cache (`OUT/cache/generations.jsonl`) the moment it exists, keyed by everything that determines it, so
re-running skips what is done. The run goes to `OUT/<UTC timestamp>/` and is listed in `OUT/runs.sqlite`.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.errors import OneLineArgumentParser, UserError, parse_args
from core.machine import cpu
from eval.analysis import qa_item_to_json
from eval.config import DEFAULT_RUNS_DIR, EvalConfig, load_eval_config
from eval.grid import Cell, Grid, expand_grid, retrieval_id
from eval.metrics import evidence_recall_at_k, mrr
from eval.qa import QAItem, load_qa, stratified_sample
from eval.records import RecordKey, RecordStore, decoding_fingerprint, git_commit, library_versions, messages_hash, sample_seed
from eval.run_index import Heartbeat, RunIndex
from eval.trend import INDEX_NAME
from rag.config import ModelSettings, RetrievalSettings, Settings
from rag.generators import BACKENDS
from rag.generators.protocol import Generator
from rag.prompt import build_messages
from rag.templates import template_hash
from rag.types import Generation, Hit

CACHE_FILE = Path("cache") / "generations.jsonl"


@dataclass
class PendingSample:
    """One sample still to generate: its cell, index, seed and cache key."""

    cell: Cell
    sample: int
    seed: int
    key: RecordKey


@dataclass
class PromptJob:
    """Everything generated from one prompt: a question under one (retrieval, template, thinking)."""

    question: QAItem
    retrieval_id: str | None
    prompt: str
    thinking: bool
    messages: list[dict[str, str]]
    n_sources: int
    notices: list[str]
    input_hash: str
    pending: list[PendingSample] = field(default_factory=list)


@dataclass
class SweepResult:
    run_id: str
    run_dir: Path
    generated: int
    cached: int
    questions: int
    status: str
    failed: int = 0  # samples whose requests failed after their retries (errors.jsonl); a re-run retries them


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_dir(runs_dir: Path) -> tuple[str, Path]:
    """A fresh `runs_dir/<UTC timestamp>` folder (a suffix keeps two runs in one second apart)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    runs_dir.mkdir(parents=True, exist_ok=True)
    for i in range(1000):
        run_id = stamp if i == 0 else f"{stamp}-{i}"
        try:
            (runs_dir / run_id).mkdir()
            return run_id, runs_dir / run_id
        except FileExistsError:
            continue
    raise UserError(f"cannot create a run folder under {runs_dir}: too many runs started in the same second")


def load_questions(config: EvalConfig) -> list[QAItem]:
    """The QA set (only `split`'s part when it is set), or with `limit` a seeded sample of it stratified by
    type × language."""
    items = load_qa(config.qa, config.index.corpus)
    if config.split:
        items = [item for item in items if item.split == config.split]
        if not items:
            raise UserError(f"{config.qa} has no questions with split {config.split!r}; mark items with "
                            '"split": "dev" or "heldout", or leave the split out')
    return stratified_sample(items, config.limit, config.seed)


def _retrieval_record(question: QAItem, rid: str, retrieval: RetrievalSettings, hits: list[Hit], ms: float) -> dict:
    texts = [h.chunk.text for h in hits]
    quotes = [e.quote for e in question.evidence]
    return {
        "question_id": question.id,
        "retrieval_id": rid,
        "retrieval": dataclasses.asdict(retrieval),
        "sources": [
            {"n": n, "doc": h.chunk.doc_id, "heading": h.chunk.heading, "chunk_id": h.chunk.chunk_id,
             "start": h.chunk.start, "end": h.chunk.end, "text": h.chunk.text, "score": h.score}
            for n, h in enumerate(hits, start=1)
        ],
        "recall_at_k": evidence_recall_at_k(texts, quotes, retrieval.k),
        "mrr": mrr(texts, quotes, retrieval.k),
        "retrieve_ms": round(ms, 2),
    }


def _cell_json(grid: Grid, cell: Cell) -> dict[str, Any]:
    return {
        "id": cell.id,
        "label": grid.label(cell),
        "params": cell.params(),
        "control": cell.control,
        "retrieval_id": retrieval_id(cell.retrieval) if cell.retrieval else None,
        "in_grid": cell.id in grid.factorial,
        "baseline": cell == grid.baseline,
    }


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)


# ---- producing samples ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One `generate_many` call: pending samples of one prompt, at most `max_batch` of them."""

    job: PromptJob
    pending: list[PendingSample]


def plan_calls(jobs: list[PromptJob], max_batch: int) -> list[Call]:
    """Each job's pending samples in calls of at most `max_batch` rows, in job order. A cell's samples stay in
    one call unless the cell alone has more than `max_batch` (a server sends them as one request of `n`)."""
    calls = []
    for job in jobs:
        by_cell: dict[str, list[PendingSample]] = {}
        for p in job.pending:
            by_cell.setdefault(p.cell.id, []).append(p)
        current: list[PendingSample] = []
        for samples in by_cell.values():
            for piece in (samples[i : i + max_batch] for i in range(0, len(samples), max_batch)):
                if current and len(current) + len(piece) > max_batch:
                    calls.append(Call(job, current))
                    current = []
                current = current + piece
        if current:
            calls.append(Call(job, current))
    return calls


def _generate(generator: Generator, call: Call) -> list[Generation]:
    rows = [dataclasses.replace(p.cell.sampling, seed=p.seed) for p in call.pending]
    return generator.generate_many(call.job.messages, rows)


def in_order(fn: Callable[[Any], Any], items: list[Any], concurrency: int) -> Iterator[tuple[Any, Any]]:
    """(item, fn(item)) for every item, with up to `concurrency` calls running at once, yielded in item order;
    an exception a call raised is raised when its turn comes. With concurrency 1 the calls run in this thread.

    At most 2 × concurrency calls are queued ahead of the one being yielded, so an interruption loses little;
    on the way out, queued calls are cancelled (calls already running finish in their threads)."""
    if concurrency == 1:
        yield from ((item, fn(item)) for item in items)
        return
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sweep-call")
    window: deque[tuple[Any, Future]] = deque()
    try:
        for item in items:
            window.append((item, pool.submit(fn, item)))
            if len(window) >= 2 * concurrency:
                item, future = window.popleft()
                yield item, future.result()
        while window:
            item, future = window.popleft()
            yield item, future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


# ---- the sweep --------------------------------------------------------------------------------------------


def _load_generator(config: EvalConfig, model: str) -> tuple[Generator, str | None]:
    """The model for a sweep, and the fallback notice. A model that cannot be loaded is an error unless the
    config sets `fallback`; then the extractive backend stands in, with the notice, and its results are
    labelled `extractive`."""
    from rag.generators.factory import load_generator

    generator, notice = load_generator(
        ModelSettings(model=model, backend=config.backend, base_url=config.base_url, fallback=config.fallback,
                      retries=config.retries, concurrency=config.concurrency, n_per_request=config.n_per_request)
    )
    if notice:
        print(f"warning: {notice}", file=sys.stderr)
    return generator, notice


def plan_jobs(
    config: EvalConfig, grid: Grid, questions: list[QAItem], hits: dict[tuple[str, str], list[Hit]], generator: Any,
    *, model: str, revision: str, index_hash: str, decoding: str,
) -> list[PromptJob]:
    """One job per (question, retrieval, template, thinking), with every sample's key and seed (`sample_seed`:
    sample i of a question has the same seed under every setting)."""
    groups: dict[tuple[str | None, str, bool], list[Cell]] = {}
    for cell in grid.cells:
        rid = retrieval_id(cell.retrieval) if cell.retrieval else None
        groups.setdefault((rid, cell.prompt, cell.sampling.thinking), []).append(cell)
    jobs = []
    for question in questions:
        for (rid, prompt, thinking), cells in groups.items():
            sources = hits[(question.id, rid)] if rid else []
            budget = max(c.sampling.max_new_tokens for c in cells)
            built = build_messages(question.question, sources, prompt, generator=generator, max_new_tokens=budget)
            job = PromptJob(
                question=question, retrieval_id=rid, prompt=prompt, thinking=thinking, messages=built.messages,
                n_sources=len(built.sources), notices=list(built.notices),
                input_hash=messages_hash(built.messages, thinking),
            )
            for cell in cells:
                for i in range(config.n):
                    seed = sample_seed(config.seed, question.id, i)
                    key = RecordKey(
                        model=model, revision=revision, backend=generator.backend, index_hash=index_hash,
                        prompt_hash=template_hash(prompt), input_hash=job.input_hash, question_id=question.id,
                        setting_id=cell.id, sample=i, seed=seed, decoding=decoding,
                    )
                    job.pending.append(PendingSample(cell, i, seed, key))
            jobs.append(job)
    return jobs


def run_sweep(
    config: EvalConfig,
    runs_dir: str | Path = DEFAULT_RUNS_DIR,
    *,
    progress: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    index: Any = None,
) -> SweepResult:
    """Run (or resume) a sweep; returns where it went and how many samples were generated vs taken from cache.

    `on_record` is called after each new record is safely written (progress hooks, tests). `index` reuses an
    already opened index instead of `open_index(config.index)`.
    """
    from tqdm import tqdm

    from ingest.build import open_index
    from rag.pipeline import Pipeline

    runs_dir = Path(runs_dir)
    questions = load_questions(config)
    grid = expand_grid(config)
    commit = git_commit()
    run_id, run_dir = new_run_dir(runs_dir)
    meta: dict[str, Any] = {
        "run_id": run_id, "name": config.name, "config": config.to_dict(), "config_hash": config.hash,
        "started_at": utc_now(), "finished_at": None, "status": "running", "git_commit": commit,
        "backend": config.backend, "backends": {}, "revisions": {}, "index": None, "cells": [_cell_json(grid, c) for c in grid.cells],
        "baseline": grid.baseline.id, "varying": list(grid.varying), "generated": 0, "cached": 0, "failed": 0,
        "pid": os.getpid(), "host": socket.gethostname(), "machine": cpu(), "notices": [], "ignores_sampling": [],
        "decoding": {"fingerprint": decoding_fingerprint(), "libraries": library_versions()},
    }
    _write_json(run_dir / "run.json", meta)
    heartbeat = Heartbeat(run_dir)
    heartbeat.beat()
    with (run_dir / "questions.jsonl").open("w", encoding="utf-8") as f:
        for q in questions:
            f.write(json.dumps(qa_item_to_json(q), ensure_ascii=False) + "\n")
    # The stores are opened (and a damaged line reported) before the run is registered.
    cache = RecordStore(runs_dir / CACHE_FILE)
    records = RecordStore(run_dir / "records.jsonl")
    meta["skipped_cache_lines"] = cache.skipped_lines
    db = RunIndex(runs_dir / INDEX_NAME)
    for dead in db.interrupted:
        print(f"note: run {dead} had died without finishing; marked interrupted in {db.path}", file=sys.stderr)
    db.start_run(run_id=run_id, run_dir=str(run_dir.resolve()), name=config.name, config_hash=config.hash,
                 started_at=meta["started_at"], models=list(config.models), backend=config.backend, git_commit=commit)
    status = "failed"
    try:
        settings = Settings(index=config.index)
        pipeline = Pipeline(settings, index=index if index is not None else open_index(config.index, progress=progress), generation=False)
        meta["index"] = pipeline.index_info()
        index_hash = meta["index"]["hash"]
        first = _load_generator(config, config.models[0])  # fail before retrieval when the model is missing

        retrievals = sorted({c.retrieval for c in grid.cells if c.retrieval}, key=retrieval_id)
        hits: dict[tuple[str, str], list[Hit]] = {}
        with (run_dir / "retrievals.jsonl").open("w", encoding="utf-8") as f:
            for question in tqdm(questions, desc="retrieve", unit="q", disable=not progress):
                for retrieval in retrievals:
                    rid = retrieval_id(retrieval)
                    t0 = time.perf_counter()
                    heartbeat.beat()
                    found = pipeline.retrieve(question.question, retrieval)
                    ms = (time.perf_counter() - t0) * 1000
                    hits[(question.id, rid)] = found
                    f.write(json.dumps(_retrieval_record(question, rid, retrieval, found, ms), ensure_ascii=False) + "\n")

        for i, model in enumerate(config.models):
            generator, notice = first if i == 0 else _load_generator(config, model)
            model_id = generator.name
            if model_id in meta["revisions"]:
                print(f"note: {model} resolves to {model_id}, already swept; skipping it", file=sys.stderr)
                continue
            revision = generator.revision
            meta["revisions"][model_id] = revision
            meta["backends"][model_id] = generator.backend
            if notice:
                meta["notices"].append(notice)
            if generator.ignores_sampling:
                meta["ignores_sampling"].append(model_id)
            jobs = plan_jobs(config, grid, questions, hits, generator, model=model_id, revision=revision,
                             index_hash=index_hash, decoding=meta["decoding"]["fingerprint"])
            todo = []
            for job in jobs:
                missing = []
                for p in job.pending:
                    cached = cache.get(p.key.digest)
                    if cached is None:
                        missing.append(p)
                    elif p.key.digest not in records:
                        records.append({**cached, "from_cache": True})
                        meta["cached"] += 1
                job.pending = missing
                if missing:
                    todo.append(job)
            total = sum(len(j.pending) for j in todo)
            bar = tqdm(total=total, desc=f"generate {model_id}", unit="sample", disable=not progress)

            def keep(p: PendingSample, job: PromptJob, generation: Generation) -> None:
                record = _record(p, job, generation, commit)
                cache.append(record)
                records.append(record)
                meta["generated"] += 1
                heartbeat.beat()
                bar.update(1)
                if on_record:
                    on_record(record)

            with bar:
                generate = functools.partial(_generate, generator)
                for call, generations in in_order(generate, plan_calls(todo, config.max_batch), config.concurrency):
                    for p, generation in zip(call.pending, generations):
                        if generation.error is None:
                            keep(p, call.job, generation)
                    for failed, error in _failures(call, generations):
                        _note_failure(run_dir, call.job, failed, error)
                        meta["failed"] += len(failed)
                        bar.update(len(failed))
        status = "incomplete" if meta["failed"] else "complete"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        cache.close()
        records.close()
        meta.update(status=status, finished_at=utc_now())
        _write_json(run_dir / "run.json", meta)
        db.finish_run(run_id, status=status, finished_at=meta["finished_at"],
                      index_hash=(meta["index"] or {}).get("hash"), questions=len(questions),
                      generated=meta["generated"], cached=meta["cached"])
        db.close()
    return SweepResult(run_id, run_dir, meta["generated"], meta["cached"], len(questions), status, meta["failed"])


def _failures(call: Call, generations: list[Generation]) -> list[tuple[list[PendingSample], str]]:
    """(samples, error) for the samples without an answer (their request failed after its retries), grouped
    as they failed: consecutive samples of one cell with the same error."""
    groups: list[tuple[list[PendingSample], str]] = []
    previous: tuple[str, str] | None = None
    for p, g in zip(call.pending, generations):
        current = None if g.error is None else (p.cell.id, g.error)
        if current is not None and current == previous:
            groups[-1][0].append(p)
        elif current is not None:
            groups.append(([p], g.error))
        previous = current
    return groups


def _note_failure(run_dir: Path, job: PromptJob, failed: list[PendingSample], error: str) -> None:
    """Samples whose request still failed after its retries: one line in `errors.jsonl` and on stderr; they
    are not recorded (nor cached), so running the same command again retries them."""
    entry = {
        "question_id": job.question.id,
        "setting_id": failed[0].cell.id,
        "samples": [p.sample for p in failed],
        "error": error,
        "created_at": utc_now(),
    }
    with (run_dir / "errors.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    print(f"warning: question {entry['question_id']}, setting {entry['setting_id']}: {error}", file=sys.stderr)


def _record(p: PendingSample, job: PromptJob, g: Generation, commit: str) -> dict[str, Any]:
    sent = {} if g.request_seed is None else {"request_seed": g.request_seed}
    return {
        "key": p.key.digest,
        **dataclasses.asdict(p.key),
        "retrieval_id": job.retrieval_id,
        "prompt": job.prompt,
        "thinking_mode": job.thinking,
        "n_sources": job.n_sources,
        "answer": g.answer,
        "thinking": g.thinking,
        "truncated": g.truncated,
        "new_tokens": g.new_tokens,
        "latency_ms": round(g.generate_ms / g.batch_rows, 2),  # the producing call's wall time, per row
        "batch_rows": g.batch_rows,
        **sent,
        "notices": job.notices,
        "git_commit": commit,
        "created_at": utc_now(),
    }


# ---- CLI --------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="python -m eval.run", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="sweep config (.yaml/.yml/.toml), e.g. eval/configs/smoke.yaml")
    parser.add_argument("--split", choices=("dev", "heldout"), help="only the questions of this part of the QA set")
    parser.add_argument("--limit", type=int, help="a seeded sample of N questions, stratified by type × language")
    parser.add_argument("--model", help="sweep this model instead of the config's models (Hub id, alias or path)")
    parser.add_argument("--backend", choices=BACKENDS, help="override the backend")
    parser.add_argument("--base-url", help="OpenAI-compatible server for --backend openai")
    parser.add_argument("--concurrency", type=int, help="openai backend: requests in flight at once (default 1)")
    parser.add_argument("--n-per-request", type=int, help="openai backend: samples per request (default: all n of a cell; 1 for llama-server)")
    parser.add_argument("--qa", help="QA set (JSONL) instead of the config's")
    parser.add_argument("--index", help="index folder instead of the config's (built there if missing)")
    parser.add_argument("--update-index", action="store_true", help="bring an existing index up to date with the corpus first (default: a stale index is an error)")
    parser.add_argument("--out", default=DEFAULT_RUNS_DIR, help=f"runs folder (default {DEFAULT_RUNS_DIR})")
    parser.add_argument("--no-report", action="store_true", help="skip writing the report at the end")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)
    if isinstance(args, int):  # --help (0) or a bad flag (2, one line already printed)
        return args
    try:
        config = load_eval_config(args.config).with_overrides(
            split=args.split, limit=args.limit, backend=args.backend, base_url=args.base_url, qa=args.qa, concurrency=args.concurrency,
            n_per_request=args.n_per_request,
            models=(args.model,) if args.model else None,
        )
        if args.index or args.update_index:
            config = config.with_overrides(
                index=dataclasses.replace(config.index, index=args.index or config.index.index, update=args.update_index or config.index.update)
            )
        result = run_sweep(config, args.out, progress=not args.quiet)
        print(f"run {result.run_id}: {result.questions} questions, {result.generated} samples generated, "
              f"{result.cached} from cache → {result.run_dir}")
        if result.failed:
            print(f"warning: {result.failed} samples failed after their retries (errors.jsonl in the run folder); "
                  "run the same command again to retry them", file=sys.stderr)
            return 1
        if not args.no_report:
            from eval.report import write_report

            files = write_report(result.run_dir)
            print(f"report: {files.html}")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted: every finished sample is saved; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
