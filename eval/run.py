"""`python -m eval.run`: a parameter sweep over the gold QA set, cached, resumable, then its report.

    python -m eval.run --config eval/configs/nightly.yaml [--split dev|heldout] [--limit N] [--model M] [--backend B] [--qa PATH] [--out DIR]

Per question: retrieve once per retrieval setting, build the prompt once per (retrieval, template, thinking),
then produce every sampling cell × n samples of that prompt together — one shared-prefill batch with per-row
sampling for the transformers backend (`eval.batched.sample_batched`), the generator's own `generate_many`
where it has one (llamacpp: one prefill, every row sampled from it), n samples per request for the openai
backend (up to `concurrency` requests in flight, records still in order), one extraction for the extractive
backend (it ignores sampling). Each generation is appended to the
record cache (`OUT/cache/generations.jsonl`) the moment it exists, keyed by everything that determines it, so
re-running skips what is done. The run goes to `OUT/<UTC timestamp>/` and is listed in `OUT/runs.sqlite`.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import os
import re
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

from eval.analysis import qa_item_to_json
from eval.config import DEFAULT_RUNS_DIR, EvalConfig, load_eval_config
from eval.grid import Cell, Grid, derive_seed, expand_grid, retrieval_id
from eval.metrics import evidence_recall_at_k, mrr
from eval.qa import QAItem, load_qa
from eval.records import RecordKey, RecordStore, git_commit, messages_hash
from eval.run_index import Heartbeat, RunIndex
from eval.trend import INDEX_NAME
from ingest.errors import OneLineArgumentParser, UserError, parse_args
from rag.config import BACKENDS, ModelSettings, RetrievalSettings, Settings
from rag.generators.openai_server import RequestFailed
from rag.prompt import build_messages, template_hash
from rag.types import Hit

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


@dataclass(frozen=True)
class Produced:
    """A finished sample, whatever the backend."""

    answer: str
    thinking: str | None
    truncated: bool
    new_tokens: int
    latency_ms: float  # wall time of the call that made it, divided by the samples it made
    batch_rows: int
    request_seed: int | None = None  # the seed sent, when it is not the sample's own (openai: n per request)


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


def model_revision(generator: Any) -> str:
    """What identifies the weights: the generator's own `revision` when it has one (llamacpp: the GGUF file's
    hash and the engine version), else the Hub snapshot commit, else a hash of the local files' names, sizes
    and small (config/tokenizer) contents; `served` for a server-side model; for the extractive backend, a
    hash of its source file."""
    own = getattr(generator, "revision", None)
    if own:
        return own
    if generator.backend == "extractive":  # the "model" is the extraction code itself
        import inspect

        return hashlib.sha256(Path(inspect.getfile(type(generator))).read_bytes()).hexdigest()[:12]
    path = getattr(generator, "path", None)
    if not path or not Path(path).exists():
        return "served" if generator.backend == "openai" else "unknown"
    resolved = Path(path).resolve()
    snapshot = re.search(r"snapshots/([0-9a-f]{40})", str(resolved))
    if snapshot:
        return snapshot.group(1)[:12]
    digest = hashlib.sha256()
    files = [resolved] if resolved.is_file() else sorted(f for f in resolved.rglob("*") if f.is_file())
    for f in files:
        size = f.stat().st_size
        digest.update(f"{f.name}:{size}".encode())
        if size < 1_000_000:
            digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def load_questions(config: EvalConfig) -> list[QAItem]:
    items = load_qa(config.qa, config.index.corpus)
    if config.split:
        items = [item for item in items if item.split == config.split]
        if not items:
            raise UserError(f"{config.qa} has no questions with split {config.split!r}; mark items with "
                            '"split": "dev" or "heldout", or leave the split out')
    return items[: config.limit] if config.limit else items


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


def _produce_transformers(generator: Any, job: PromptJob, max_batch: int) -> Iterator[tuple[list[PendingSample], Produced]]:
    """Shared-prefill batched sampling: every pending sample of the job decoded together (chunks of max_batch).
    Greedy rows with equal settings are deterministic, so one decode serves them all."""
    from eval.batched import sample_batched
    from rag.generators.transformers_lm import load_model
    from rag.thinking import THINK_OPEN, split_thinking

    loaded = load_model(generator.path, generator.dtype, generator.device)  # the generator's cached model
    prompt_text = generator.render_prompt(job.messages, job.thinking)
    started_in_thinking = prompt_text.rstrip().endswith(THINK_OPEN)
    prompt_ids = generator.tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    groups: dict[Any, list[PendingSample]] = {}
    for p in job.pending:
        s = p.cell.sampling
        key = ("greedy", s.max_new_tokens, s.repetition_penalty) if s.greedy else ("sample", id(p))
        groups.setdefault(key, []).append(p)
    units = list(groups.values())
    for start in range(0, len(units), max_batch):
        chunk = units[start : start + max_batch]
        rows = [dataclasses.replace(u[0].cell.sampling, seed=u[0].seed) for u in chunk]
        t0 = time.perf_counter()
        with loaded.lock:
            outputs = sample_batched(loaded.model, loaded.tokenizer, prompt_ids, rows, [r.seed for r in rows])
        per_row_ms = (time.perf_counter() - t0) * 1000 / len(rows)
        for unit, out in zip(chunk, outputs):
            split = split_thinking(out.text, started_in_thinking=started_in_thinking)
            yield unit, Produced(
                answer=split.answer,
                thinking=split.thinking,
                truncated=(not out.finished_by_eos) or split.truncated_in_thinking,
                new_tokens=out.new_tokens,
                latency_ms=per_row_ms,
                batch_rows=len(rows),
            )


def _produce_many(generator: Any, job: PromptJob, max_batch: int) -> Iterator[tuple[list[PendingSample], Produced]]:
    """Generators with `generate_many` sample every row (settings × samples, each with its own seed) from one
    prefill of the prompt; rows go in chunks of max_batch, so an interruption loses at most one chunk."""
    for start in range(0, len(job.pending), max_batch):
        chunk = job.pending[start : start + max_batch]
        rows = [dataclasses.replace(p.cell.sampling, seed=p.seed) for p in chunk]
        t0 = time.perf_counter()
        generations = generator.generate_many(job.messages, rows)
        per_ms = (time.perf_counter() - t0) * 1000 / len(chunk)
        for p, g in zip(chunk, generations):
            yield [p], Produced(g.answer, g.thinking, g.truncated, g.new_tokens, per_ms, len(chunk))


@dataclass(frozen=True)
class ServerRequest:
    """One request to a server: the pending samples of one cell for one prompt (the server's `n`)."""

    job: PromptJob
    pending: list[PendingSample]


def server_requests(jobs: list[PromptJob], per_request: int = 0) -> list[ServerRequest]:
    """One request per prompt and cell (or per `per_request` samples of a cell), in job order; the server's
    prefix cache shares the prompt."""
    requests = []
    for job in jobs:
        by_cell: dict[str, list[PendingSample]] = {}
        for p in job.pending:
            by_cell.setdefault(p.cell.id, []).append(p)
        for pending in by_cell.values():
            size = per_request or len(pending)
            requests += [ServerRequest(job, pending[i : i + size]) for i in range(0, len(pending), size)]
    return requests


def _send(generator: Any, request: ServerRequest) -> list[tuple[PendingSample, Produced]]:
    """n samples in one request, carrying the seed of the first (recorded as `request_seed`). Not streamed: a
    sweep shows no tokens as they come, and parsing one event per token would cost the client more CPU than
    the server's answer when many requests are in flight."""
    pending = request.pending
    params = dataclasses.replace(pending[0].cell.sampling, seed=pending[0].seed)
    t0 = time.perf_counter()
    generations = generator.generate_n(request.job.messages, params, len(pending), stream=False)
    per_ms = (time.perf_counter() - t0) * 1000 / len(pending)
    return [
        (p, Produced(g.answer, g.thinking, g.truncated, g.new_tokens, per_ms, len(pending), params.seed))
        for p, g in zip(pending, generations)
    ]


def in_order(fn: Callable[[Any], Any], items: list[Any], concurrency: int) -> Iterator[tuple[Any, Any, RequestFailed | None]]:
    """(item, fn(item), None) for every item, with up to `concurrency` calls running at once, yielded in item
    order; a call that raised RequestFailed (retries exhausted) yields (item, None, the error) instead.

    At most 2 × concurrency calls are queued ahead of the one being yielded, so an interruption loses little;
    on the way out, queued calls are cancelled (calls already running finish in their threads)."""
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sweep-request")
    window: deque[tuple[Any, Future]] = deque()

    def settle(item: Any, future: Future) -> tuple[Any, Any, RequestFailed | None]:
        try:
            return item, future.result(), None
        except RequestFailed as exc:
            return item, None, exc

    try:
        for item in items:
            window.append((item, pool.submit(fn, item)))
            if len(window) >= 2 * concurrency:
                yield settle(*window.popleft())
        while window:
            yield settle(*window.popleft())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _produce_single(generator: Any, job: PromptJob) -> Iterator[tuple[list[PendingSample], Produced]]:
    """The extractive backend ignores sampling: one extraction serves every cell and sample of the prompt."""
    params = dataclasses.replace(job.pending[0].cell.sampling, seed=job.pending[0].seed)
    t0 = time.perf_counter()
    g = generator.generate(job.messages, params)
    ms = (time.perf_counter() - t0) * 1000
    yield job.pending, Produced(g.answer, g.thinking, g.truncated, g.new_tokens, ms / len(job.pending), 1)


def produce(generator: Any, job: PromptJob, max_batch: int) -> Iterator[tuple[list[PendingSample], Produced]]:
    """(samples, what was produced for them) for every pending sample of a job, in this process."""
    if hasattr(generator, "generate_many"):
        return _produce_many(generator, job, max_batch)
    if generator.backend == "transformers":
        return _produce_transformers(generator, job, max_batch)
    return _produce_single(generator, job)


# ---- the sweep --------------------------------------------------------------------------------------------


def _load_generator(config: EvalConfig, model: str) -> Any:
    """The model for a sweep. A model that cannot be loaded is an error unless the config sets `fallback`;
    then the extractive backend stands in, with the notice, and its results are labelled `extractive`."""
    from rag.generate import load_generator

    generator, notice = load_generator(
        ModelSettings(model=model, backend=config.backend, base_url=config.base_url, fallback=config.fallback,
                      retries=config.retries)
    )
    if notice:
        print(f"warning: {notice}", file=sys.stderr)
    return generator


def plan_jobs(
    config: EvalConfig, grid: Grid, questions: list[QAItem], hits: dict[tuple[str, str], list[Hit]], generator: Any,
    *, model: str, revision: str, index_hash: str,
) -> list[PromptJob]:
    """One job per (question, retrieval, template, thinking), with every sample's key and seed."""
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
                    seed = derive_seed(config.seed, question.id, cell.id, i)
                    key = RecordKey(
                        model=model, revision=revision, backend=generator.backend, index_hash=index_hash,
                        prompt_hash=template_hash(prompt), input_hash=job.input_hash, question_id=question.id,
                        setting_id=cell.id, sample=i, seed=seed,
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
        "pid": os.getpid(), "host": socket.gethostname(),
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
        pipeline = Pipeline(settings, index=index, generation=False, progress=progress)
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
            generator = first if i == 0 else _load_generator(config, model)
            model_id = generator.name
            if model_id in meta["revisions"]:
                print(f"note: {model} resolves to {model_id}, already swept; skipping it", file=sys.stderr)
                continue
            revision = model_revision(generator)
            meta["revisions"][model_id] = revision
            meta["backends"][model_id] = generator.backend
            jobs = plan_jobs(config, grid, questions, hits, generator, model=model_id, revision=revision,
                             index_hash=index_hash)
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

            def keep(p: PendingSample, job: PromptJob, produced: Produced) -> None:
                record = _record(p, job, produced, commit)
                cache.append(record)
                records.append(record)
                meta["generated"] += 1
                heartbeat.beat()
                bar.update(1)
                if on_record:
                    on_record(record)

            with bar:
                if hasattr(generator, "generate_n"):  # a server: requests, possibly several in flight
                    send = functools.partial(_send, generator)
                    for request, results, error in in_order(send, server_requests(todo, config.n_per_request), config.concurrency):
                        if error is not None:
                            _note_failure(run_dir, request, error)
                            meta["failed"] += len(request.pending)
                            bar.update(len(request.pending))
                            continue
                        for p, produced in results:
                            keep(p, request.job, produced)
                else:
                    for job in todo:
                        for samples, produced in produce(generator, job, config.max_batch):
                            for p in samples:
                                keep(p, job, produced)
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


def _note_failure(run_dir: Path, request: ServerRequest, error: RequestFailed) -> None:
    """A request that still failed after its retries: one line in `errors.jsonl` and on stderr; its samples
    are not recorded (nor cached), so running the same command again retries them."""
    entry = {
        "question_id": request.job.question.id,
        "setting_id": request.pending[0].cell.id,
        "samples": [p.sample for p in request.pending],
        "error": str(error),
        "created_at": utc_now(),
    }
    with (run_dir / "errors.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    print(f"warning: question {entry['question_id']}, setting {entry['setting_id']}: {error}", file=sys.stderr)


def _record(p: PendingSample, job: PromptJob, produced: Produced, commit: str) -> dict[str, Any]:
    sent = {} if produced.request_seed is None else {"request_seed": produced.request_seed}
    return {
        "key": p.key.digest,
        **dataclasses.asdict(p.key),
        "retrieval_id": job.retrieval_id,
        "prompt": job.prompt,
        "thinking_mode": job.thinking,
        "n_sources": job.n_sources,
        "answer": produced.answer,
        "thinking": produced.thinking,
        "truncated": produced.truncated,
        "new_tokens": produced.new_tokens,
        "latency_ms": round(produced.latency_ms, 2),
        "batch_rows": produced.batch_rows,
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
    parser.add_argument("--limit", type=int, help="only the first N questions of the QA set")
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
