"""Writing an index generation and publishing it (the read side is `core.index`).

A build writes a complete new folder `gen-<UTC time>-<pid>/` (`write_index`) and then publishes it by
atomically replacing the one-line file `CURRENT` that names it (`publish_generation`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from core.index import CHUNKS, CURRENT, DATA_FILES, DOCUMENTS, GENERATION_NAME, GENERATION_PREFIX, LEXICAL, MANIFEST, VECTORS, Manifest, file_sha256
from core.types import Chunk


def new_generation_name() -> str:
    return f"{GENERATION_PREFIX}{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}-{os.getpid()}"


def publish_generation(index_dir: Path, name: str) -> None:
    """Make generation `name` the index's current one, atomically (readers see the old one or the new one)."""
    tmp = index_dir / f".{CURRENT}.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, index_dir / CURRENT)


def generations(index_dir: Path) -> list[Path]:
    """The generation folders in `index_dir`, oldest first (names sort by build start time)."""
    return sorted(p for p in index_dir.glob(GENERATION_PREFIX + "*") if p.is_dir() and GENERATION_NAME.fullmatch(p.name))


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def write_index(
    index_dir: Path,
    manifest: dict[str, Any],
    chunks: list[Chunk],
    vectors: np.ndarray,
    tokens: list[list[str]],
    documents: list[dict[str, Any]],
) -> Manifest:
    """Write a complete index into the (new, empty) folder `index_dir`; the manifest is written last."""
    import faiss

    if not (len(chunks) == len(vectors) == len(tokens)):
        raise ValueError(f"row mismatch: {len(chunks)} chunks, {len(vectors)} vectors, {len(tokens)} token lists")
    flat = faiss.IndexFlatIP(int(manifest["embedder"]["dim"]))
    if len(vectors):
        flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
    faiss.write_index(flat, str(index_dir / VECTORS))
    _write_jsonl(index_dir / CHUNKS, [asdict(c) for c in chunks])
    (index_dir / LEXICAL).write_text(json.dumps({"tokens": tokens}, ensure_ascii=False), encoding="utf-8")
    _write_jsonl(index_dir / DOCUMENTS, documents)
    manifest = Manifest(manifest, files={name: file_sha256(index_dir / name) for name in DATA_FILES})
    (index_dir / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return manifest
