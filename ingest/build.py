"""Building the index from the corpus: incremental by content hash, atomic, one embedder per index.

`build_index` re-embeds only what changed: documents whose file hash is unchanged keep their chunks and
vectors, deleted documents drop out, and a run where nothing changed returns before loading any model.
Builders hold the index folder's lock (`ingest.lock`); the new index is written as a new generation and
published only when complete (`ingest.store`), so an exception, Ctrl-C or kill mid-build leaves the previous
index in place and usable, and readers never see a half-written one.

`open_index` is what the readers (`rag.ask`, the UI, the eval) use: it builds an index that does not exist
yet, and otherwise never writes — a stale or damaged index is an error naming the command that fixes it,
unless the settings ask to update it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from core.config import DEFAULT_EMBEDDER, IndexSettings
from core.corpus import SkippedFile, SourceDocument, iter_documents
from core.errors import UserError
from core.index import (
    FORMAT_VERSION,
    INDEX_FILES,
    Index,
    Manifest,
    generation_dir,
    index_exists,
    load_index,
    read_manifest,
    verify_files,
)
from core.types import Chunk
from ingest.lock import build_lock
from ingest.store import generations, new_generation_name, publish_generation, write_index

PIPELINE_MODULES = ("core.corpus", "ingest.clean", "ingest.chunk", "core.lexical")
LIBRARIES = ("faiss-cpu", "sentence-transformers", "transformers", "torch", "rank-bm25", "jieba", "langchain-text-splitters", "numpy", "charset-normalizer")
EMBED_BATCH = 16


def pipeline_fingerprint() -> str:
    """A hash of the code that turns files into chunks and tokens: changing it re-chunks every document."""
    digest = hashlib.sha256()
    for name in PIPELINE_MODULES:
        digest.update(Path(importlib.util.find_spec(name).origin).read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class BuildReport:
    """What a build did; `summary()` is the one-screen text the CLI prints."""

    index: Path
    corpus: Path
    embedder_id: str
    requested_embedder: str
    dim: int = 0
    documents: int = 0
    chunks: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    embedded: int = 0
    reused: int = 0
    chunk_chars: int = 0
    chunk_overlap: int = 0
    up_to_date: bool = False
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    manifest: Manifest | None = None
    fallback: bool = False  # the bundled model stands in for the requested one

    def summary(self) -> str:
        fallback = f" (fallback for {self.requested_embedder})" if self.fallback else ""
        if self.up_to_date:
            lines = [
                f"Index up to date: {self.index}/ ({self.seconds:.2f} s)",
                f"  documents  {self.documents}, chunks {self.chunks}, embedder {self.embedder_id}{fallback}",
            ]
        else:
            lines = [
                f"Index built: {self.index}/ ({self.seconds:.1f} s)",
                f"  documents  {self.documents} indexed: {len(self.added)} added, {len(self.changed)} changed, "
                f"{len(self.removed)} removed, {len(self.unchanged)} unchanged; {len(self.skipped)} skipped",
                f"  chunks     {self.chunks} ({self.embedded} embedded, {self.reused} reused); "
                f"{self.chunk_chars} chars, {self.chunk_overlap} overlap",
                f"  embedder   {self.embedder_id}, {self.dim} dims{fallback}",
            ]
        lines += [f"  skipped    {s.path}: {s.reason}" for s in self.skipped]
        lines += [f"  note       {note}" for note in self.notes]
        return "\n".join(lines)


def _library_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _index_hash(model_id: str, chunking: dict, docs: list[SourceDocument]) -> str:
    payload = {"embedder": model_id, "chunking": chunking, "documents": sorted((d.doc_id, d.sha256) for d in docs)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _remove_old_generations(index: Path) -> None:
    """Under the build lock: drop every generation but the current one and the one before it (a reader that
    resolved `CURRENT` just before the last publish may still be reading that one), and the files of an
    index of an earlier version once a generation is current."""
    folders = generations(index)
    try:
        current = generation_dir(index)
    except UserError:  # a damaged CURRENT: this build replaces it, and the next one tidies up
        return
    if current == index:
        return
    older = [g for g in folders if g.name < current.name]
    for stale in [g for g in folders if g != current and g not in older[-1:]]:
        shutil.rmtree(stale, ignore_errors=True)
    for name in INDEX_FILES:
        (index / name).unlink(missing_ok=True)


def _previous_index(index: Path, notes: list[str]) -> Manifest | None:
    if not index_exists(index):
        return None
    try:
        manifest = read_manifest(index)
        verify_files(index, manifest)
        return manifest
    except UserError as exc:
        notes.append(f"the existing index could not be reused ({str(exc).split('; rebuild')[0]}); building it anew")
        return None


def _embed(embedder, texts: list[str], progress: bool) -> np.ndarray:
    """Vectors for `texts` (in order), embedded shortest first so each batch pads little."""
    from tqdm import tqdm

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    with tqdm(total=len(texts), desc="embedding", unit="chunk", disable=None if progress else True, file=sys.stderr) as bar:
        for i in range(0, len(order), EMBED_BATCH):
            rows = order[i : i + EMBED_BATCH]
            vectors[rows] = embedder.encode([texts[r] for r in rows])
            bar.update(len(rows))
    return vectors


def build_index(
    corpus: str | Path = "corpus",
    index: str | Path = "index",
    embedder: str = DEFAULT_EMBEDDER,
    chunk_chars: int = IndexSettings.chunk_chars,
    chunk_overlap: int = IndexSettings.chunk_overlap,
    rebuild: bool = False,
    progress: bool = True,
    *,
    fallback: bool = True,
    wait: bool = False,
    max_file_mb: float = IndexSettings.max_file_mb,
) -> BuildReport:
    """Build or update the index at `index` from the reports in `corpus`; UserError on bad input.

    Bad arguments are rejected before anything on disk is touched. `fallback=False` makes an embedder that
    cannot be loaded an error instead of the bundled stand-in. Another build of the same index is an error,
    or with `wait` is waited for.
    """
    started = time.perf_counter()
    IndexSettings(str(corpus), str(index), embedder, chunk_chars, chunk_overlap, max_file_mb=max_file_mb)  # validates
    corpus, index = Path(corpus), Path(index)
    if not corpus.is_dir():
        raise UserError(f"corpus folder {corpus}/ does not exist; pass --corpus with the folder of .md/.txt/.html reports")
    if index.exists() and not index.is_dir():
        raise UserError(f"index path {index} is a file, not a folder; pass --index with a folder")
    skipped: list[SkippedFile] = []
    docs = list(iter_documents(corpus, on_skip=skipped.append, max_file_mb=max_file_mb))
    for item in skipped:
        print(f"warning: {item}", file=sys.stderr)
    if not docs:
        found = f"{len(skipped)} file(s) skipped" if skipped else "it is empty"
        raise UserError(f"no reports to index in {corpus}/ ({found}); add .md, .txt or .html files")
    with build_lock(index, wait=wait):
        return _build_locked(corpus, index, embedder, chunk_chars, chunk_overlap, rebuild, progress, fallback, docs, skipped, started)


def _build_locked(corpus: Path, index: Path, embedder: str, chunk_chars: int, chunk_overlap: int, rebuild: bool,
                  progress: bool, fallback: bool, docs: list[SourceDocument], skipped: list[SkippedFile], started: float) -> BuildReport:
    from core.embed import load_resolved, resolve_embedder, warn_once

    spec = resolve_embedder(embedder, fallback=fallback)
    if spec.notice:
        warn_once(spec.notice)
    notes: list[str] = []
    _remove_old_generations(index)
    chunking = {"chunk_chars": chunk_chars, "chunk_overlap": chunk_overlap, "pipeline": pipeline_fingerprint()}
    report = BuildReport(
        index, corpus, spec.model_id, embedder, documents=len(docs), skipped=skipped,
        chunk_chars=chunk_chars, chunk_overlap=chunk_overlap, notes=notes, fallback=spec.notice is not None,
    )  # fmt: skip
    old = None if rebuild else _previous_index(index, notes)
    if old is not None and old.embedder_id != spec.model_id:
        notes.append(f"the index was built with embedder {old.embedder_id}; rebuilding it with {spec.model_id}")
    doc_hashes = {d.doc_id: d.sha256 for d in docs}
    if (
        old is not None
        and old.embedder_id == spec.model_id
        and {k: old["chunking"].get(k) for k in chunking} == chunking
        and {k: v["sha256"] for k, v in old["documents"].items()} == doc_hashes
    ):
        report.up_to_date, report.manifest = True, old
        report.chunks, report.dim, report.unchanged = old["counts"]["chunks"], old.dim, sorted(doc_hashes)
        report.seconds = time.perf_counter() - started
        return report
    return _build(docs, old, spec, chunking, report, started, progress, lambda spec: load_resolved(spec, fallback=fallback))


def _build(docs, old, spec, chunking, report: BuildReport, started: float, progress: bool, load_resolved) -> BuildReport:
    from core.lexical import tokenize
    from ingest.chunk import chunk_document, embedding_text, make_splitter
    from ingest.clean import clean_text

    index, corpus = report.index, report.corpus
    previous: Index | None = load_index(index) if old is not None else None
    same_chunking = previous is not None and {k: old["chunking"].get(k) for k in chunking} == chunking
    old_rows: dict[str, list[int]] = {}
    if previous is not None:
        for row, chunk in enumerate(previous.chunks):
            old_rows.setdefault(chunk.doc_id, []).append(row)
    splitter = make_splitter(chunking["chunk_chars"], chunking["chunk_overlap"])
    chunks: list[Chunk] = []
    tokens: list[list[str]] = []
    documents, doc_meta = [], {}
    for doc in docs:
        before = old["documents"].get(doc.doc_id) if old is not None else None
        if same_chunking and before and before["sha256"] == doc.sha256:
            report.unchanged.append(doc.doc_id)
            doc_chunks = [previous.chunks[r] for r in old_rows.get(doc.doc_id, [])]
            doc_tokens = [previous.tokens[r] for r in old_rows.get(doc.doc_id, [])]
        else:
            (report.changed if before else report.added).append(doc.doc_id)
            clean = clean_text(doc.text, doc.kind)
            doc_chunks = chunk_document(doc.doc_id, clean, chunking["chunk_chars"], chunking["chunk_overlap"], splitter)
            doc_tokens = [tokenize(embedding_text(c)) for c in doc_chunks]
        doc_meta[doc.doc_id] = {
            "sha256": doc.sha256,
            "title": doc_chunks[0].title if doc_chunks else "",
            "encoding": doc.encoding,
            "chunks": len(doc_chunks),
            "rows": [len(chunks), len(chunks) + len(doc_chunks)],
        }
        documents.append({"doc_id": doc.doc_id, "title": doc_meta[doc.doc_id]["title"], "encoding": doc.encoding, "kind": doc.kind, "text": doc.text})
        chunks += doc_chunks
        tokens += doc_tokens
    report.removed = sorted(set(old["documents"]) - {d.doc_id for d in docs}) if old is not None else []

    embedder, spec = load_resolved(spec)
    report.embedder_id, report.fallback = spec.model_id, spec.notice is not None
    # Vectors: reuse every stored vector whose chunk text is unchanged (same embedder), embed the rest.
    reusable: dict[str, np.ndarray] = {}
    if previous is not None and previous.manifest.embedder_id == spec.model_id:
        stored = previous.vectors()
        reusable = {_text_key(embedding_text(c)): stored[row] for row, c in enumerate(previous.chunks)}
    texts = [embedding_text(c) for c in chunks]
    missing = [i for i, t in enumerate(texts) if _text_key(t) not in reusable]
    vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    for i, t in enumerate(texts):
        if _text_key(t) in reusable:
            vectors[i] = reusable[_text_key(t)]
    if missing:
        vectors[missing] = _embed(embedder, [texts[i] for i in missing], progress)
    report.embedded, report.reused = len(missing), len(chunks) - len(missing)
    report.chunks, report.dim = len(chunks), embedder.dim

    manifest = {
        "format": FORMAT_VERSION,
        "hash": _index_hash(spec.model_id, chunking, docs),
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - started, 2),
        "corpus": str(corpus.resolve()),
        "embedder": {"requested": report.requested_embedder, "name": spec.name, "id": spec.model_id, "dim": embedder.dim, "fallback": spec.notice},
        "chunking": {**chunking, "splitter": "langchain_text_splitters.RecursiveCharacterTextSplitter + Markdown headings/tables"},
        "documents": doc_meta,
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in report.skipped],
        "counts": {"documents": len(docs), "chunks": len(chunks), "embedded": report.embedded, "reused": report.reused},
        "libraries": _library_versions(),
    }
    generation = index / new_generation_name()
    generation.mkdir()
    try:
        report.manifest = write_index(generation, manifest, chunks, vectors, tokens, documents)
        publish_generation(index, generation.name)
    except BaseException:
        shutil.rmtree(generation, ignore_errors=True)
        raise
    _remove_old_generations(index)
    report.seconds = time.perf_counter() - started
    return report


def open_index(settings: IndexSettings | None = None, progress: bool = True) -> Index:
    """The index at `settings.index`, for reading.

    A missing index is built with `settings` (announced on stderr, waiting for a concurrent build of it). An
    existing one is never changed, unless `settings.update` asks for it: it is loaded as built, with the
    embedder it was built with (never a stand-in), and when the corpus changed since it was built, that is a
    UserError naming the command that updates it. Without a corpus folder an existing index is used as is.
    """
    settings = settings or IndexSettings()
    index, corpus = Path(settings.index), Path(settings.corpus)
    if not index_exists(index):
        print(f"note: no index at {index}/ yet; building it from {corpus}/ (embedder {settings.embedder})", file=sys.stderr)
        report = build_index(corpus, index, settings.embedder, settings.chunk_chars, settings.chunk_overlap, progress=progress, wait=True,
                             max_file_mb=settings.max_file_mb)  # fmt: skip
        print(report.summary(), file=sys.stderr)
        return load_index(index)
    if not corpus.is_dir():
        print(f"note: corpus folder {corpus}/ not found; using the existing index {index}/ as built", file=sys.stderr)
        return load_index(index)
    manifest = read_manifest(index)
    chunking = manifest.get("chunking") or {}
    if settings.update:
        report = build_index(
            corpus, index, manifest["embedder"].get("name", settings.embedder), chunking.get("chunk_chars", settings.chunk_chars),
            chunking.get("chunk_overlap", settings.chunk_overlap), progress=progress, fallback=False, wait=True,
            max_file_mb=settings.max_file_mb,
        )  # fmt: skip
        if not report.up_to_date:
            print(report.summary(), file=sys.stderr)
        return load_index(index)
    changes = _corpus_changes(corpus, manifest, settings.max_file_mb)
    if changes:
        raise UserError(
            f"the index at {index}/ is out of date with {corpus}/ ({changes}); update it with {_update_command(settings, manifest)} "
            "(or pass --update-index)"
        )
    return load_index(index)


def _update_command(settings: IndexSettings, manifest: Manifest) -> str:
    chunking = manifest.get("chunking") or {}
    parts = ["python -m ingest", f"--corpus {settings.corpus}", f"--index {settings.index}", f"--embedder {manifest['embedder'].get('name')}"]
    if chunking.get("chunk_chars", 500) != IndexSettings.chunk_chars or chunking.get("chunk_overlap", 80) != IndexSettings.chunk_overlap:
        parts.append(f"--chunk-size {chunking.get('chunk_chars')} --chunk-overlap {chunking.get('chunk_overlap')}")
    return "`" + " ".join(parts) + "`"


def _corpus_changes(corpus: Path, manifest: Manifest, max_file_mb: float) -> str:
    """What changed in the corpus (or the chunking code) since the index was built, as a phrase; "" if nothing."""
    now = {d.doc_id: d.sha256 for d in iter_documents(corpus, on_skip=lambda _: None, max_file_mb=max_file_mb)}
    built = {k: v["sha256"] for k, v in manifest["documents"].items()}
    parts = []
    for what, ids in (
        ("added", sorted(set(now) - set(built))),
        ("changed", sorted(k for k in set(now) & set(built) if now[k] != built[k])),
        ("removed", sorted(set(built) - set(now))),
    ):
        if ids:
            parts.append(f"{len(ids)} {what}: {', '.join(ids[:3])}{', …' if len(ids) > 3 else ''}")
    if (manifest.get("chunking") or {}).get("pipeline") != pipeline_fingerprint():
        parts.append("the chunking code changed")
    return "; ".join(parts)
