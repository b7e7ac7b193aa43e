"""What a sweep runs: the QA set, models, retrieval and sampling grids, n samples, baseline and controls.

A config file (YAML or TOML, read with `rag.config.read_config_file`) has these top-level keys, all optional:

    name: nightly                    # label for the run index and trend lines
    qa: eval/data/qa.jsonl           # gold QA set
    models: [Qwen/Qwen3-0.6B]        # each model is swept over the same grid
    backend: auto                    # auto | transformers | llamacpp | openai | extractive
    base_url: null                   # OpenAI-compatible server for the openai backend
    index: {corpus: corpus, index: index, embedder: BAAI/bge-m3}
    retrieval: {k: [3, 5], hybrid: true}      # a list is swept, a scalar is fixed (RetrievalSettings fields)
    prompts: [default]                        # named templates from rag.templates.PROMPTS
    sampling: {temperature: [0, 0.7], top_p: [0.8, 0.95], top_k: 20}   # SamplingParams fields, same rule
    settings: [{temperature: 0.6, top_p: 0.95, thinking: true}]         # explicit extra sampling cells
    baseline: {temperature: 0.7, top_p: 0.8, top_k: 20}                 # sampling (and k/prompt) of the baseline
    n: 6                             # samples per question per setting
    seed: 0                          # base seed; each sample's seed derives from (question, setting, index)
    closed_book: true                # control: the baseline sampling with no sources
    split: null                      # only the questions of this part of the QA set: dev | heldout
    limit: null                      # only the first N questions
    max_batch: 64                    # most rows per generate_many call (decoded together)
    concurrency: 1                   # openai backend: requests in flight at once (a server with parallel slots)
    retries: 3                       # openai backend: retries of a request after a time-out, 429 or 5xx
    n_per_request: 0                 # openai backend: samples per request (0 = all n of a cell; llama-server: 1)
    fallback: false                  # true: a model that cannot be loaded is swept extractively (named so)

Unknown keys are rejected by name, like `rag.config`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from core.config import IndexSettings
from core.errors import UserError
from rag.config import DEFAULT_MODEL, RetrievalSettings, SamplingParams, read_config_file
from rag.generators import BACKENDS, needs_base_url, supports_concurrency

DEFAULT_RUNS_DIR = "eval/runs"
CONFIGS = Path(__file__).resolve().parent / "configs"  # the shipped sweep configs (smoke, nightly, …)
SWEEPABLE_SAMPLING = tuple(f.name for f in fields(SamplingParams) if f.name != "seed")
SWEEPABLE_RETRIEVAL = tuple(f.name for f in fields(RetrievalSettings))


def _default_qa() -> str:
    from eval.qa import DEFAULT_QA

    return str(DEFAULT_QA)


@dataclass(frozen=True)
class EvalConfig:
    """One sweep. Grid sections map a field name to a tuple of values (one value = fixed)."""

    name: str = "sweep"
    qa: str = field(default_factory=_default_qa)
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    backend: str = "auto"
    base_url: str | None = None
    index: IndexSettings = field(default_factory=IndexSettings)
    retrieval: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    prompts: tuple[str, ...] = ("default",)
    sampling: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    settings: tuple[dict[str, Any], ...] = ()
    baseline: dict[str, Any] = field(default_factory=dict)
    n: int = 6
    seed: int = 0
    closed_book: bool = True
    split: str | None = None  # dev | heldout: tune on dev, report on heldout; None = every question
    limit: int | None = None
    max_batch: int = 64
    fallback: bool = False  # sweep extractively (labelled `extractive`) when a model cannot be loaded
    concurrency: int = 1  # openai backend: requests in flight at once; records are still written in order
    retries: int = 3  # openai backend: retries of a request after a connection error, time-out, 429 or 5xx
    n_per_request: int = 0  # openai backend: samples per request; 0 = all n of a cell (llama-server accepts only 1)

    def __post_init__(self) -> None:
        if not self.models:
            raise UserError("the config lists no models; add e.g. `models: [Qwen/Qwen3-0.6B]`")
        if self.backend not in BACKENDS:
            raise UserError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if needs_base_url(self.backend) and not self.base_url:
            raise UserError("the openai backend needs base_url (or --base-url), e.g. http://127.0.0.1:8000/v1")
        if self.n < 1:
            raise UserError(f"n (samples per question per setting) must be >= 1, got {self.n}")
        if self.seed < 0:
            raise UserError(f"seed must be >= 0, got {self.seed}")
        if self.split is not None and self.split not in ("dev", "heldout"):
            raise UserError(f"split must be dev or heldout (or left out for every question), got {self.split!r}")
        if self.limit is not None and self.limit < 1:
            raise UserError(f"limit must be >= 1 question, got {self.limit}")
        if self.concurrency < 1:
            raise UserError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.concurrency > 1 and not supports_concurrency(self.backend):
            raise UserError(
                f"concurrency {self.concurrency} needs the openai backend (requests to a server); in-process "
                "backends already share one prefill across all samples of a prompt"
            )
        if self.retries < 0:
            raise UserError(f"retries must be >= 0, got {self.retries}")
        if self.n_per_request < 0:
            raise UserError(f"n_per_request must be >= 0 (0 = all n samples of a cell in one request), got {self.n_per_request}")
        if self.max_batch < 1:
            raise UserError(f"max_batch must be >= 1, got {self.max_batch}")
        if not self.prompts:
            raise UserError("the config lists no prompt templates; add e.g. `prompts: [default]`")
        _check_keys(self.retrieval, SWEEPABLE_RETRIEVAL, "[retrieval]")
        _check_keys(self.sampling, SWEEPABLE_SAMPLING, "[sampling]")
        for i, explicit in enumerate(self.settings, start=1):
            _check_keys(explicit, SWEEPABLE_SAMPLING, f"settings entry {i}")
        _check_keys(self.baseline, SWEEPABLE_SAMPLING + ("k", "hybrid", "rerank", "prompt"), "[baseline]")
        for where, grid in (("[retrieval]", self.retrieval), ("[sampling]", self.sampling)):
            for key, values in grid.items():
                if not values:
                    raise UserError(f"{where} {key} lists no values; give at least one")

    def with_overrides(self, **changes: Any) -> "EvalConfig":
        """A copy with the given fields replaced; None values are ignored (unset CLI flags)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (tuples as lists), the form stored with every run."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))

    @property
    def hash(self) -> str:
        """Identifies the sweep definition: runs with the same hash are comparable night to night."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def _check_keys(values: dict[str, Any], valid: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(values) - set(valid))
    if unknown:
        hint = " (the seed is derived per sample; set the top-level `seed` instead)" if "seed" in unknown else ""
        raise UserError(f"unknown setting(s) {', '.join(unknown)} in {where}; valid: {', '.join(valid)}{hint}")


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _grid(section: Any, where: str) -> dict[str, tuple[Any, ...]]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise UserError(f"{where} must be a table of settings, got {section!r}")
    return {key: _as_tuple(value) for key, value in section.items()}


_TOP_LEVEL = {f.name for f in fields(EvalConfig)} | {"model"}


def eval_config_from_dict(data: dict[str, Any], where: str = "config") -> EvalConfig:
    """Build an EvalConfig from a parsed config file, rejecting unknown keys with the valid ones listed."""
    unknown = sorted(set(data) - _TOP_LEVEL)
    if unknown:
        raise UserError(f"unknown key(s) {', '.join(unknown)} in {where}; valid: {', '.join(sorted(_TOP_LEVEL))}")
    values: dict[str, Any] = {}
    for key in ("name", "qa", "backend", "base_url", "n", "seed", "closed_book", "split", "limit", "max_batch", "fallback", "concurrency", "retries", "n_per_request"):
        if key in data:
            values[key] = data[key]
    if "model" in data or "models" in data:
        values["models"] = tuple(str(m) for m in _as_tuple(data.get("models", data.get("model"))))
    if "prompts" in data:
        values["prompts"] = tuple(str(p) for p in _as_tuple(data["prompts"]))
    index = data.get("index") or {}
    if not isinstance(index, dict):
        raise UserError(f"[index] in {where} must be a table of settings, got {index!r}")
    _check_keys(index, tuple(f.name for f in fields(IndexSettings)), f"[index] of {where}")
    values["index"] = IndexSettings(**index)
    values["retrieval"] = _grid(data.get("retrieval"), f"[retrieval] of {where}")
    values["sampling"] = _grid(data.get("sampling"), f"[sampling] of {where}")
    explicit = data.get("settings") or []
    if not isinstance(explicit, list) or not all(isinstance(s, dict) for s in explicit):
        raise UserError(f"`settings` in {where} must be a list of tables of sampling values")
    values["settings"] = tuple(explicit)
    baseline = data.get("baseline") or {}
    if not isinstance(baseline, dict):
        raise UserError(f"[baseline] in {where} must be a table of sampling values, got {baseline!r}")
    values["baseline"] = baseline
    try:
        return EvalConfig(**values)
    except TypeError as exc:
        raise UserError(f"bad value in {where}: {exc}") from exc


def load_eval_config(path: str | Path) -> EvalConfig:
    """Read a sweep config from a .yaml/.yml/.toml file."""
    data = read_config_file(path)
    data.setdefault("name", Path(path).stem)
    return eval_config_from_dict(data, str(path))
