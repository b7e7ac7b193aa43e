"""Index settings shared by `python -m ingest`, `rag.ask`, the UI and the eval."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import UserError
from core.fields import check_field_types

DEFAULT_EMBEDDER = "BAAI/bge-m3"
BUNDLED_EMBEDDER_ALIAS = "minilm"


@dataclass(frozen=True)
class IndexSettings:
    corpus: str = "corpus"  # folder of .md/.txt/.html reports; whatever a user drops in is indexed
    index: str = "index"  # build output folder (faiss, chunk store, BM25, manifest.json)
    embedder: str = DEFAULT_EMBEDDER  # multilingual; falls back to the bundled "minilm" when offline
    chunk_chars: int = 500  # target chunk length in characters (CJK text is dense: ~1 token per char)
    chunk_overlap: int = 80  # characters shared by neighbouring chunks of one section
    update: bool = False  # readers (rag.ask, ui, eval) bring an existing index up to date instead of refusing a stale one
    max_file_mb: float = 5.0  # larger reports are skipped with a message (embedding 20 MB takes minutes and GBs)

    def __post_init__(self) -> None:
        check_field_types(self)
        for name in ("corpus", "index", "embedder"):
            if not getattr(self, name).strip():
                raise UserError(f"the {name} setting is empty; pass a {'model name' if name == 'embedder' else 'folder'}")
        if self.chunk_chars < 50:
            raise UserError(f"chunk size must be at least 50 characters, got {self.chunk_chars}; pass e.g. --chunk-size 500")
        if self.chunk_overlap < 0:
            raise UserError(f"chunk overlap must be >= 0, got {self.chunk_overlap}")
        if self.chunk_overlap >= self.chunk_chars:
            raise UserError(
                f"chunk overlap ({self.chunk_overlap}) must be smaller than the chunk size ({self.chunk_chars})"
            )
        if not self.max_file_mb > 0:
            raise UserError(f"max_file_mb must be > 0, got {self.max_file_mb}; pass e.g. --max-file-mb 5")
