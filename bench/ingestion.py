"""Ingestion cost: our full build against the raw embedding floor and LangChain's FAISS store, the no-op
rebuild, and how build time grows with corpus size.

All three full-build timings are warm (libraries imported, embedding model loaded once beforehand) and embed
exactly the same texts: the chunks our build makes (heading path + text, as `ingest.chunk.embedding_text`).
Our build additionally reads, cleans, chunks, BM25-tokenizes and writes the index atomically.
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path
from typing import Any, Callable

from bench.figures import median_seconds, quiet_langchain, timed

EMBEDDER = "minilm"


def truncated_corpus(src: Path, dst: Path, chars: int) -> Path:
    """A copy of `src` with each file cut to about its first `chars` characters (at a line end), for --quick."""
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(p for p in src.iterdir() if p.is_file() and p.suffix in (".txt", ".md", ".html", ".htm")):
        text = path.read_text(encoding="utf-8-sig")
        cut = text.find("\n", chars)
        (dst / path.name).write_text(text if cut < 0 else text[:cut], encoding="utf-8")
    return dst


def replicated_corpus(src: Path, dst: Path, times: int) -> Path:
    """`times` copies of every file in `src`, each with a line appended naming its copy, so that every copy's
    content hash (and its last chunk) differs and nothing is reused."""
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(p for p in src.iterdir() if p.is_file() and p.suffix in (".txt", ".md", ".html", ".htm")):
        text = path.read_text(encoding="utf-8-sig")
        for i in range(times):
            (dst / f"{path.stem}_copy{i:03d}{path.suffix}").write_text(f"{text}\n\n(copy {i} of {path.name})\n", encoding="utf-8")
    return dst


def _build(corpus: Path, index: Path):
    from ingest.build import build_index

    return build_index(corpus, index, EMBEDDER, rebuild=True, progress=False)


def linear_fit(chunks: list[int], seconds: list[float]) -> dict[str, float]:
    """Least-squares seconds = slope * chunks + intercept, with R² (meaningful from three sizes on)."""
    import numpy as np

    x, y = np.asarray(chunks, dtype=float), np.asarray(seconds, dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = ((y - y.mean()) ** 2).sum()
    return {"slope_s_per_chunk": float(slope), "intercept_s": float(intercept), "r2": float(1 - (residual**2).sum() / total) if total else 1.0}


def bench_ingest(corpus: Path, work: Path, scales: list[int], repeat: int, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Time our build, the encode floor, LangChain's FAISS.from_texts, the no-op rebuild and replicated corpora."""
    from sentence_transformers import SentenceTransformer

    with quiet_langchain():
        from langchain_community.embeddings import HuggingFaceEmbeddings
        from langchain_community.vectorstores import FAISS

    from core.embed import bundled_model_path
    from core.index import load_index
    from ingest.chunk import embedding_text

    index = work / "index"
    log(f"ingest: cold build of {corpus} (imports and model load included)")
    cold = _build(corpus, index)
    texts = [embedding_text(c) for c in load_index(index).chunks]
    model_path = str(bundled_model_path())
    raw = SentenceTransformer(model_path, device="cpu")
    with quiet_langchain():
        lc_embeddings = HuggingFaceEmbeddings(model_name=model_path, model_kwargs={"device": "cpu"}, encode_kwargs={"normalize_embeddings": True})
    raw.encode(texts[:8]), lc_embeddings.embed_documents(texts[:8])  # warm both

    log(f"ingest: {len(texts)} chunks; our build vs raw encode vs LangChain FAISS.from_texts, {repeat} runs each")
    ours_runs, ours_cpu, floor_runs, lc_runs = [], [], [], []
    for _ in range(repeat):  # interleaved, so drifting machine load hits all three alike
        wall, cpu = timed(lambda: _build(corpus, index))
        ours_runs.append(wall), ours_cpu.append(cpu)
        floor_runs.append(median_seconds(lambda: raw.encode(texts, normalize_embeddings=True), 1)[0])
        lc_runs.append(median_seconds(lambda: FAISS.from_texts(texts, lc_embeddings), 1)[0])

    from ingest.build import build_index

    noop_s, noop_runs = median_seconds(lambda: build_index(corpus, index, EMBEDDER, progress=False), max(repeat, 5))
    if not build_index(corpus, index, EMBEDDER, progress=False).up_to_date:
        raise RuntimeError("the no-op rebuild was not a no-op: the index was rebuilt although nothing changed")

    growth = [{"scale": 1, "chunks": len(texts), "seconds": statistics.median(ours_runs), "cpu_seconds": statistics.median(ours_cpu), "runs": repeat}]
    for scale in scales:
        folder = replicated_corpus(corpus, work / f"corpus_x{scale}", scale)
        runs = repeat if scale <= 10 else 1  # the ×100 build takes minutes: one run
        log(f"ingest: corpus ×{scale}, {runs} run(s)")
        reports = []
        times = [timed(lambda: reports.append(_build(folder, work / f"index_x{scale}"))) for _ in range(runs)]
        growth.append({"scale": scale, "chunks": reports[-1].chunks, "seconds": statistics.median(t[0] for t in times), "cpu_seconds": statistics.median(t[1] for t in times), "runs": runs})
        shutil.rmtree(folder), shutil.rmtree(work / f"index_x{scale}")
    for g in growth:
        g["ms_per_chunk"] = 1000 * g["seconds"] / g["chunks"]
        g["cpu_ms_per_chunk"] = 1000 * g["cpu_seconds"] / g["chunks"]
    return {
        "chunks": len(texts),
        "cold_build_s": cold.seconds,
        "build_s": statistics.median(ours_runs),
        "build_runs_s": ours_runs,
        "encode_floor_s": statistics.median(floor_runs),
        "encode_floor_runs_s": floor_runs,
        "langchain_faiss_s": statistics.median(lc_runs),
        "langchain_faiss_runs_s": lc_runs,
        "noop_rebuild_s": noop_s,
        "noop_rebuild_runs_s": noop_runs,
        "growth": growth,
        "fit": linear_fit([g["chunks"] for g in growth], [g["cpu_seconds"] for g in growth]) if len(growth) >= 3 else None,
    }
