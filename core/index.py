"""The index folder on disk and the loaded `Index` that retrieval searches.

An index folder holds generations: each build writes a complete new folder `gen-<UTC time>-<pid>/` and then
publishes it by atomically replacing the one-line file `CURRENT` that names it. A reader resolves `CURRENT`
once and reads every file from that generation, so it never mixes two builds; generations are immutable
once published, and the build after next removes them. (An index of an earlier version, with the files
directly in the folder, is still read, and is converted by the next build.)

Files of a generation (all written by `ingest.build` through `ingest.store`, checked on load here):
- `manifest.json`: embedder (requested name, model id, dimension, fallback notice), chunking settings,
  per-document content hashes, build time and seconds, library versions, file checksums and `hash`;
- `vectors.faiss`: normalized embeddings in a FAISS IndexFlatIP (row i = chunk i);
- `chunks.jsonl`: one Chunk per line, in row order;
- `lexical.json`: the BM25 tokens of every chunk (the BM25 model is rebuilt from them on load);
- `documents.jsonl`: per document its title, encoding and original text, so citations can show the source.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.errors import UserError
from core.types import Chunk

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
CHUNKS = "chunks.jsonl"
LEXICAL = "lexical.json"
DOCUMENTS = "documents.jsonl"
DATA_FILES = (VECTORS, CHUNKS, LEXICAL, DOCUMENTS)
INDEX_FILES = (MANIFEST, *DATA_FILES)
CURRENT = "CURRENT"  # names the published generation
GENERATION_PREFIX = "gen-"
GENERATION_NAME = re.compile(GENERATION_PREFIX + r"[0-9T]+-\d+")


class Manifest(dict):
    """manifest.json as a dict, with the fields other packages read as attributes."""

    @property
    def hash(self) -> str:
        return self["hash"]

    @property
    def embedder_id(self) -> str:
        return self["embedder"]["id"]

    @property
    def dim(self) -> int:
        return int(self["embedder"]["dim"])


def rebuild_command(index_dir: str | Path) -> str:
    return f"`python -m ingest --index {index_dir} --rebuild`"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def generation_dir(index_dir: str | Path) -> Path:
    """The folder holding the published files of the index at `index_dir`: the generation `CURRENT` names,
    or `index_dir` itself for an index of an earlier version (no `CURRENT`)."""
    index_dir = Path(index_dir)
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return index_dir
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"index at {index_dir}/ has an unreadable {CURRENT} file ({exc}); rebuild it with {rebuild_command(index_dir)}") from None
    if not GENERATION_NAME.fullmatch(name):
        raise UserError(f"index at {index_dir}/ has a damaged {CURRENT} file ({name[:40]!r}); rebuild it with {rebuild_command(index_dir)}")
    return index_dir / name


def index_exists(index_dir: str | Path) -> bool:
    """Whether `index_dir` holds a published index (complete or not: loading checks that)."""
    index_dir = Path(index_dir)
    return (index_dir / CURRENT).exists() or (index_dir / MANIFEST).exists()


def read_manifest(index_dir: str | Path) -> Manifest:
    """The manifest of the index at `index_dir`; UserError when it is missing or unreadable."""
    return _read_manifest(Path(index_dir), generation_dir(index_dir))


def _read_manifest(index_dir: Path, folder: Path) -> Manifest:
    path = folder / MANIFEST
    if not path.exists():
        raise UserError(f"no index at {index_dir}/ (manifest.json is missing); build it with `python -m ingest --index {index_dir}`")
    try:
        manifest = Manifest(json.loads(path.read_text(encoding="utf-8")))
        manifest.embedder_id, manifest.dim, manifest.hash  # noqa: B018 - the fields every reader needs
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"index at {index_dir}/ has an unreadable manifest.json ({exc}); rebuild it with {rebuild_command(index_dir)}") from None
    if manifest.get("format") != FORMAT_VERSION:
        raise UserError(f"index at {index_dir}/ has format {manifest.get('format')}, this version reads {FORMAT_VERSION}; rebuild it with {rebuild_command(index_dir)}")
    return manifest


def verify_files(index_dir: str | Path, manifest: Manifest, folder: Path | None = None) -> None:
    """Check every data file against the checksum in the manifest; UserError naming the broken file."""
    index_dir = Path(index_dir)
    folder = folder or generation_dir(index_dir)
    missing = [name for name in DATA_FILES if not (folder / name).exists()]
    if missing:
        raise UserError(f"index at {index_dir}/ is incomplete ({', '.join(missing)} missing); rebuild it with {rebuild_command(index_dir)}")
    for name in DATA_FILES:
        if file_sha256(folder / name) != manifest.get("files", {}).get(name):
            raise UserError(f"index at {index_dir}/ is corrupted ({name} does not match its checksum); rebuild it with {rebuild_command(index_dir)}")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _top(bm25, terms: list[str], n: int) -> list[tuple[int, float]]:
    """The `n` rows with the highest BM25 score for `terms`, best first, ties by row (only rows scoring > 0)."""
    if not terms or n <= 0:
        return []
    scores = bm25.get_scores(terms)
    candidates = [row for row, score in enumerate(scores) if score > 0]
    candidates.sort(key=lambda row: (-scores[row], row))
    return [(row, float(scores[row])) for row in candidates[:n]]


class Index:
    """A loaded index: chunks, FAISS vectors and BM25, row-aligned (row i is chunk i everywhere)."""

    def __init__(self, path: Path, manifest: Manifest, chunks: list[Chunk], faiss_index, tokens: list[list[str]], documents: dict[str, dict[str, Any]], embedder=None):
        self.path = path
        self.manifest = manifest
        self.chunks = chunks
        self.faiss_index = faiss_index
        self.tokens = tokens
        self.documents = documents
        if embedder is not None:
            self.__dict__["embedder"] = embedder

    @cached_property
    def embedder(self):
        """The embedder this index was built with (loaded on first use; never a different one)."""
        from core.embed import load_spec, resolve_embedder

        spec = resolve_embedder(self.manifest["embedder"]["name"], fallback=False)
        if spec.model_id != self.manifest.embedder_id:
            raise UserError(
                f"index at {self.path}/ was built with {self.manifest.embedder_id}, which now resolves to {spec.model_id}; "
                f"rebuild it with {rebuild_command(self.path)}"
            )
        return load_spec(spec)

    @cached_property
    def bm25(self):
        from rank_bm25 import BM25Okapi

        return BM25Okapi(self.tokens)

    @cached_property
    def bigram_bm25(self):
        """BM25 over the Chinese character bigrams of each chunk's heading path and text
        (`core.lexical.char_bigrams`), computed when first needed rather than stored: the text is in the index."""
        from rank_bm25 import BM25Okapi

        from core.lexical import char_bigrams

        return BM25Okapi([char_bigrams(f"{c.heading}\n{c.text}") for c in self.chunks])

    def bigram_search(self, query: str, n: int) -> list[tuple[int, float]]:
        """The `n` rows with the highest BM25 score over Chinese character bigrams for the query text (only
        rows sharing a bigram; none for a query without two Chinese characters in a row)."""
        from core.lexical import char_bigrams

        return _top(self.bigram_bm25, char_bigrams(query), n) if self.chunks else []

    def dense_search(self, query_vec: np.ndarray, n: int) -> list[tuple[int, float]]:
        """The `n` rows with the highest inner product with the (normalized) query vector, best first."""
        n = min(n, len(self.chunks))
        if n <= 0:
            return []
        query = np.ascontiguousarray(np.asarray(query_vec, dtype=np.float32).reshape(1, -1))
        if query.shape[1] != self.manifest.dim:
            raise ValueError(f"query vector has {query.shape[1]} dimensions, the index {self.manifest.dim}")
        scores, rows = self.faiss_index.search(query, n)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]

    def lexical_search(self, query: str | Sequence[str], n: int) -> list[tuple[int, float]]:
        """The `n` rows with the highest BM25 score for the query (only rows sharing a token).

        `query` is text (tokenized like the chunks) or a list of already chosen terms.
        """
        from core.lexical import tokenize

        terms = tokenize(query) if isinstance(query, str) else list(query)
        return _top(self.bm25, terms, n) if self.chunks else []

    def original(self, doc_id: str) -> str:
        """The original text of a document (as decoded from its file); chunk spans index into it."""
        try:
            return self.documents[doc_id]["text"]
        except KeyError:
            raise KeyError(f"document {doc_id!r} is not in the index at {self.path}/") from None

    def vectors(self) -> np.ndarray:
        """All stored vectors, shape (rows, dim)."""
        if not self.chunks:
            return np.zeros((0, self.manifest.dim), dtype=np.float32)
        return self.faiss_index.reconstruct_n(0, len(self.chunks))


def load_index(index_dir: str | Path = "index", embedder=None) -> Index:
    """Load and check the index at `index_dir`; UserError (naming the fix) when missing or corrupted.

    `embedder` may be an already loaded Embedder; it must be the one the index was built with.
    """
    index_dir = Path(index_dir)
    folder = generation_dir(index_dir)
    try:
        return _load_generation(index_dir, folder, embedder)
    except (UserError, FileNotFoundError):
        # A build may have published a new generation and removed this one while it was read: read the new one.
        if generation_dir(index_dir) == folder:
            raise
        return _load_generation(index_dir, generation_dir(index_dir), embedder)


def _load_generation(index_dir: Path, folder: Path, embedder) -> Index:
    import faiss

    manifest = _read_manifest(index_dir, folder)
    verify_files(index_dir, manifest, folder)
    if embedder is not None and embedder.model_id != manifest.embedder_id:
        raise UserError(
            f"index at {index_dir}/ was built with {manifest.embedder_id}, not {embedder.model_id}; "
            f"rebuild it with `python -m ingest --index {index_dir} --embedder {embedder.name} --rebuild`"
        )
    try:
        chunks = [Chunk(**row) for row in _read_jsonl(folder / CHUNKS)]
        tokens = json.loads((folder / LEXICAL).read_text(encoding="utf-8"))["tokens"]
        documents = {row["doc_id"]: row for row in _read_jsonl(folder / DOCUMENTS)}
        faiss_index = faiss.read_index(str(folder / VECTORS))
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise UserError(f"index at {index_dir}/ is unreadable ({exc}); rebuild it with {rebuild_command(index_dir)}") from None
    if not (faiss_index.ntotal == len(chunks) == len(tokens)) or faiss_index.d != manifest.dim:
        raise UserError(
            f"index at {index_dir}/ is inconsistent ({faiss_index.ntotal} vectors of {faiss_index.d} dims, {len(chunks)} chunks, "
            f"{len(tokens)} BM25 rows, manifest dim {manifest.dim}); rebuild it with {rebuild_command(index_dir)}"
        )
    return Index(index_dir, manifest, chunks, faiss_index, tokens, documents, embedder)
