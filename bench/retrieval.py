"""Retrieval latency: our HybridRetriever against LangChain's EnsembleRetriever (BM25 + FAISS) on the same
chunks, vectors, tokenizer and candidate depth."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Callable

from bench.figures import percentile, quiet_langchain

FALLBACK_QUESTIONS = [
    "GPT-3 有多少参数？",
    "How many parameters does GPT-3 have?",
    "When was Chinchilla released and how many parameters does it have?",
    "LaMDA 是哪一年发布的？",
    "Transformer 架构是哪篇论文提出的？",
]


def gold_questions(corpus: Path, limit: int | None = None) -> tuple[list[str], str]:
    """The gold QA set's questions (eval/data/qa.jsonl), or a few corpus questions when it is missing."""
    from eval.qa import DEFAULT_QA, load_qa

    if not DEFAULT_QA.exists():
        return FALLBACK_QUESTIONS[:limit], "built-in corpus questions (eval/data/qa.jsonl not found)"
    items = load_qa(DEFAULT_QA, corpus)
    return [item.question for item in items][:limit], f"{DEFAULT_QA.name}"


def langchain_ensemble(index, candidates: int, rrf_k: int):
    """BM25Retriever (our jieba tokenizer) + FAISS retriever over our stored vectors, fused by EnsembleRetriever."""
    with quiet_langchain():
        from langchain_classic.retrievers import EnsembleRetriever
        from langchain_community.retrievers import BM25Retriever
        from langchain_community.vectorstores import FAISS
        from langchain_core.embeddings import Embeddings

    from core.lexical import tokenize
    from ingest.chunk import embedding_text

    embedder = index.embedder

    class SameEmbedder(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return embedder.encode(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return embedder.encode_query(text).tolist()

    texts = [embedding_text(c) for c in index.chunks]
    store = FAISS.from_embeddings(list(zip(texts, index.vectors().tolist())), SameEmbedder())
    bm25 = BM25Retriever.from_texts(texts, preprocess_func=tokenize, k=candidates)
    dense = store.as_retriever(search_kwargs={"k": candidates})
    return EnsembleRetriever(retrievers=[bm25, dense], weights=[0.5, 0.5], c=rrf_k)


def _latencies(searches: dict[str, Callable[[str], Any]], questions: list[str], repeat: int) -> dict[str, list[float]]:
    """Per searcher, per question, the median milliseconds of `repeat` searches. The searchers take turns on
    each question (the order rotates every run), so drifting machine load hits them alike."""
    names = list(searches)
    out: dict[str, list[float]] = {name: [] for name in names}
    for q in questions:
        times: dict[str, list[float]] = {name: [] for name in names}
        for run in range(repeat):
            shift = run % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                searches[name](q)
                times[name].append((time.perf_counter() - start) * 1000)
        for name in names:
            out[name].append(statistics.median(times[name]))
    return out


def bench_retrieval(index, corpus: Path, repeat: int, limit: int | None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """p50/p95 latency over the gold questions for both retrievers (each warmed up on the first question), and
    of the query embedding alone, which both must pay."""
    from rag.config import RetrievalSettings
    from rag.retrieve import HybridRetriever

    settings = RetrievalSettings()
    questions, source = gold_questions(corpus, limit)
    ours = HybridRetriever(index, settings)
    theirs = langchain_ensemble(index, settings.candidates, settings.rrf_k)
    ours.search(questions[0]), theirs.invoke(questions[0])
    log(f"retrieval: {len(questions)} questions from {source}, {repeat} runs each")
    ms = _latencies({"embed": index.embedder.encode_query, "ours": ours.search, "theirs": theirs.invoke}, questions, repeat)
    embed_ms, ours_ms, theirs_ms = ms["embed"], ms["ours"], ms["theirs"]
    return {
        "questions": len(questions),
        "source": source,
        "k": settings.k,
        "candidates": settings.candidates,
        "ours_p50_ms": percentile(ours_ms, 50),
        "ours_p95_ms": percentile(ours_ms, 95),
        "langchain_p50_ms": percentile(theirs_ms, 50),
        "langchain_p95_ms": percentile(theirs_ms, 95),
        "query_embedding_p50_ms": percentile(embed_ms, 50),
        "query_embedding_p95_ms": percentile(embed_ms, 95),
        "ours_ms": ours_ms,
        "langchain_ms": theirs_ms,
    }
