"""Generators: the `Generator` protocol and `load_generator`, which picks and loads a backend.

Backends: `transformers` (a chat model in this process; rag.generators.transformers_lm), `openai` (an
OpenAI-compatible server; rag.generators.openai_server) and `extractive` (no model; quotes source
sentences; rag.generators.extractive). When the chosen model cannot be loaded and `ModelSettings.fallback`
is on, `load_generator` answers extractively and returns one notice saying what was tried and how to fix it.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

from ingest.errors import UserError
from ingest.hub import ModelUnavailable, locate_model
from rag.config import MODEL_ALIASES, ModelSettings, SamplingParams
from rag.generators.extractive import ExtractiveGenerator
from rag.types import Generation

# Looks like one of our short names (family-version-size), not a Hub id or a path: "qwen9-1b", "qwen3-8b".
_ALIAS_LIKE = re.compile(r"^[a-z][a-z0-9]*(?:[.\-][a-z0-9]+)*-\d+(?:\.\d+)?[bm]$", re.I)


@runtime_checkable
class Generator(Protocol):
    """Turns chat messages into a `Generation` under `SamplingParams`."""

    name: str  # model id as the user knows it
    backend: str  # transformers | openai | extractive
    context_window: int  # tokens the model attends to (prompt + generation)

    def count_tokens(self, text: str) -> int: ...

    def generate(
        self,
        messages: list[dict[str, str]],
        params: SamplingParams,
        on_token: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Generation: ...


def check_model_name(name: str) -> None:
    """Raise UserError for an alias-looking name that is not one of MODEL_ALIASES (e.g. `qwen9-1b`)."""
    if "/" in name or name.lower() in MODEL_ALIASES or Path(name).expanduser().exists():
        return
    if _ALIAS_LIKE.match(name):
        raise UserError(
            f"unknown model alias {name!r}; valid aliases: {', '.join(MODEL_ALIASES)} "
            "(or pass a Hub id such as Qwen/Qwen3-0.6B, a local folder or a .gguf file)"
        )


def load_generator(model: ModelSettings) -> tuple[Generator, str | None]:
    """The generator for `model`, and a notice when it fell back to the extractive backend.

    The transformers backend resolves `model.model_id` with `ingest.hub.locate_model` (local path, cached
    snapshot, or reachable Hub). If that or loading fails and `model.fallback` is on, the ExtractiveGenerator
    is returned with ONE notice (what was tried, why, the download command); otherwise the error is raised.
    An unreachable OpenAI-compatible server and missing GGUF packages are always errors.
    """
    if model.backend == "extractive":
        return ExtractiveGenerator(), None
    if model.backend == "openai":
        from rag.generators.openai_server import OpenAIGenerator

        return OpenAIGenerator(model.base_url or "", model.model_id, api_key_env=model.api_key_env), None
    from rag.generators.transformers_lm import TransformersGenerator

    name = model.model_id
    check_model_name(name)
    fallback = "answering extractively instead (quoted source sentences with citations, no language model)"
    try:
        path = locate_model(name, "chat model")
        if Path(path).is_dir() and not (Path(path) / "config.json").is_file():
            raise ModelUnavailable(
                f"chat model folder {path} holds no config.json, so it is not a saved transformers model; "
                "pass a folder saved with save_pretrained, a Hub id or a .gguf file"
            )
        return TransformersGenerator(path, name=name, dtype=model.dtype, device=model.device), None
    except ModelUnavailable as exc:
        if not model.fallback:
            raise
        return ExtractiveGenerator(), f"{exc}; {fallback}"
    except UserError:
        raise  # e.g. missing GGUF packages: the user asked for something this install cannot do
    except Exception as exc:  # noqa: BLE001 - missing or corrupt weights, unknown model type, size mismatch, …
        if not model.fallback:
            raise UserError(f"cannot load chat model {name}: {_first_line(exc)}") from exc
        return ExtractiveGenerator(), f"cannot load chat model {name}: {_first_line(exc)}; {fallback}"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
