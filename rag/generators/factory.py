"""Picking and loading a backend: `load_generator` returns a `Generator` (rag.generators.protocol).

Backends: `transformers` (a chat model in this process; rag.generators.transformers_lm), `llamacpp` (a GGUF
model in this process through llama.cpp; rag.generators.llamacpp_lm), `openai` (an OpenAI-compatible server;
rag.generators.openai_server) and `extractive` (no model; quotes source sentences; rag.generators.extractive).
`auto` picks llamacpp for a GGUF model when llama-cpp-python is installed, transformers otherwise. When the
chosen model cannot be loaded and `ModelSettings.fallback` is on, `load_generator` answers extractively and
returns one notice saying what was tried and how to fix it.
"""

from __future__ import annotations

import re
from pathlib import Path

from core.errors import UserError
from core.hub import ModelUnavailable, locate_model
from rag.config import MODEL_ALIASES, ModelSettings
from rag.generators.extractive import ExtractiveGenerator
from rag.generators.protocol import Generator
from rag.gguf_file import NotGGUF

# Looks like one of our short names (family-version-size), not a Hub id or a path: "qwen9-1b", "qwen3-8b".
_ALIAS_LIKE = re.compile(r"^[a-z][a-z0-9]*(?:[.\-][a-z0-9]+)*-\d+(?:\.\d+)?[bm]$", re.I)


def check_model_name(name: str) -> None:
    """Raise UserError for an alias-looking name that is not one of MODEL_ALIASES (e.g. `qwen9-1b`)."""
    if "/" in name or name.lower() in MODEL_ALIASES or Path(name).expanduser().exists():
        return
    if _ALIAS_LIKE.match(name):
        raise UserError(
            f"unknown model alias {name!r}; valid aliases: {', '.join(MODEL_ALIASES)} "
            "(or pass a Hub id such as Qwen/Qwen3-0.6B, a local folder or a .gguf file)"
        )


def resolve_backend(model: ModelSettings) -> str:
    """The backend `model` runs on: `auto` becomes llamacpp for a GGUF model (a `.gguf` file, a folder of them,
    or `repo:pattern`) when llama-cpp-python is importable, transformers otherwise. A `repo:pattern` name
    always means llamacpp (transformers cannot pick a file by pattern), so a missing extra is reported."""
    if model.backend != "auto":
        return model.backend
    from rag.generators.llamacpp_lm import llama_cpp_available
    from rag.gguf_file import looks_like_gguf, split_repo_pattern

    name = model.model_id
    if looks_like_gguf(name) and (split_repo_pattern(name)[1] or llama_cpp_available()):
        return "llamacpp"
    return "transformers"


def load_generator(model: ModelSettings) -> tuple[Generator, str | None]:
    """The generator for `model`, and a notice when it fell back to the extractive backend.

    The in-process backends find the weights locally first (`core.hub.locate_model` for transformers,
    `rag.gguf_file.find_gguf` for llamacpp) and ask the Hub only when it answers. If that or loading fails and
    `model.fallback` is on, the ExtractiveGenerator is returned with ONE notice (what was tried, why, the
    download command); otherwise the error is raised. An unreachable OpenAI-compatible server and missing
    packages (GGUF support, llama-cpp-python) are always errors.
    """
    backend = resolve_backend(model)
    if backend == "extractive":
        return ExtractiveGenerator(), None
    if backend == "openai":
        from rag.generators.openai_server import OpenAIGenerator

        generator = OpenAIGenerator(
            model.base_url or "", model.model_id, api_key_env=model.api_key_env, max_retries=model.retries,
            concurrency=model.concurrency, n_per_request=model.n_per_request,
        )
        return generator, None

    name = model.model_id
    check_model_name(name)
    if backend == "llamacpp":
        from rag.generators.llamacpp_lm import LlamaCppGenerator, require_llama_cpp

        require_llama_cpp()
    fallback = "answering extractively instead (quoted source sentences with citations, no language model)"
    try:
        if backend == "llamacpp":
            return LlamaCppGenerator(name, name=name, n_threads=model.threads or None), None
        from rag.generators.transformers_lm import TransformersGenerator

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
    except UserError as exc:
        if model.fallback and isinstance(exc, NotGGUF):
            return ExtractiveGenerator(), f"cannot load chat model {name}: {exc}; {fallback}"
        raise  # e.g. missing GGUF packages: the user asked for something this install cannot do
    except Exception as exc:  # noqa: BLE001 - missing or corrupt weights, unknown model type, size mismatch, …
        if not model.fallback:
            raise UserError(f"cannot load chat model {name}: {_first_line(exc)}") from exc
        return ExtractiveGenerator(), f"cannot load chat model {name}: {_first_line(exc)}; {fallback}"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
