"""Ingestion: the report corpus → cleaned, chunked, embedded → FAISS + BM25 index (`python -m ingest`)."""


def __getattr__(name: str):
    # `ingest.build_index` without importing the build machinery for every `import ingest.*`.
    if name in ("build_index", "open_index"):
        from ingest import build

        return getattr(build, name)
    raise AttributeError(f"module 'ingest' has no attribute {name!r}")
