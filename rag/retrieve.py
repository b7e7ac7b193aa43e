"""Hybrid retrieval: FAISS dense search + BM25, fused with reciprocal rank fusion, de-duplicated, reranked."""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from functools import cached_property

from core.embed import ENGLISH_ONLY_EMBEDDERS
from core.types import Chunk
from rag.aliases import Aliases, learn_aliases
from rag.config import RetrievalSettings
from rag.glossary import CURATED_ALIASES, bigram_query, lexical_terms
from rag.templates import detect_language
from rag.types import Hit

# Two chunks whose character 4-gram sets overlap this much (containment of the smaller) say the same thing.
NEAR_DUPLICATE_CONTAINMENT = 0.8


def reciprocal_rank_fusion(rankings: list[list[int]], rrf_k: int, weights: list[float] | None = None) -> dict[int, float]:
    """RRF score per row: the sum over rankings of weight / (rrf_k + rank), ranks starting at 1 (weights 1
    unless given)."""
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings)):
        for rank, row in enumerate(ranking, start=1):
            scores[row] = scores.get(row, 0.0) + weight / (rrf_k + rank)
    return scores


def _shingles(text: str, n: int = 4) -> set[str]:
    compact = "".join(text.split()).lower()
    return {compact[i : i + n] for i in range(max(1, len(compact) - n + 1))}


def _contained(sa: set[str], sb: set[str], threshold: float = NEAR_DUPLICATE_CONTAINMENT) -> bool:
    small = min(len(sa), len(sb))
    return small > 0 and len(sa & sb) / small >= threshold


def is_near_duplicate(a: str, b: str, threshold: float = NEAR_DUPLICATE_CONTAINMENT) -> bool:
    """Whether the shorter text is (almost) contained in the longer one, by character 4-gram containment."""
    return _contained(_shingles(a), _shingles(b), threshold)


def _overlap_len(left: str, right: str, max_len: int = 400) -> int:
    """Length of the longest suffix of `left` that is a prefix of `right` (the splitter's overlap)."""
    for n in range(min(len(left), len(right), max_len), 0, -1):
        if left.endswith(right[:n]):
            return n
    return 0


def merge_adjacent(hits: list[Hit]) -> list[Hit]:
    """Merge hits on consecutive chunks of the same document section and kind (prose, table, table row) into
    one source, keeping the better rank: consecutive row records become one table under one header."""
    merged: list[Hit] = []
    for hit in hits:
        for i, kept in enumerate(merged):
            a, b = kept.chunk, hit.chunk
            if a.doc_id != b.doc_id or a.heading != b.heading or a.kind != b.kind:
                continue
            ia, ib = _chunk_number(a), _chunk_number(b)
            if abs(ia - ib) != 1:
                continue
            first, second = (a, b) if ia < ib else (b, a)
            text = _joined(first.text, second.text, second.start > first.end)
            chunk = replace(
                first,
                chunk_id=f"{first.chunk_id}+{_chunk_number(second):04d}",
                text=text,
                start=min(first.start, second.start),
                end=max(first.end, second.end),
            )
            merged[i] = replace(kept, chunk=chunk)
            break
        else:
            merged.append(hit)
    return merged


def _joined(first: str, second: str, gap: bool) -> str:
    """Two consecutive chunks' texts as one: prose without the splitter's overlap; a table continued without
    its repeated header and separator rows, on a new line. `gap`: whether the original file has text (the
    whitespace the chunker stripped) between them."""
    header = _table_header(second)
    if header and first.startswith(header):
        return first.rstrip("\n") + "\n" + second[len(header) :].lstrip("\n")
    overlap = _overlap_len(first, second)
    if overlap or not gap:
        return first + second[overlap:]
    return first + "\n" + second


def _table_header(text: str) -> str:
    """The header and separator rows a table chunk starts with, "" when it does not start with a table."""
    lines = text.split("\n", 2)
    if len(lines) >= 2 and lines[0].lstrip().startswith("|") and re.match(r"^\|?\s*:?-{2,}", lines[1].strip()):
        return lines[0] + "\n" + lines[1]
    return ""


def _chunk_number(chunk: Chunk) -> int:
    """The last chunk number in an id such as `doc#0007` or a merged `doc#0007+0008`."""
    return int(chunk.chunk_id.rsplit("#", 1)[1].split("+")[-1])


class HybridRetriever:
    """Ranks an index's chunks for a question; `search` returns the top `k` as Hits."""

    def __init__(self, index, settings: RetrievalSettings | None = None):
        self.index = index
        self.settings = settings or RetrievalSettings()
        self._reranker = None
        self._reranker_failed: str | None = None

    @cached_property
    def aliases(self) -> Aliases:
        """The curated model-name aliases plus the pairs this index's chunks state (rag.aliases)."""
        return CURATED_ALIASES.with_pairs(learn_aliases((c.chunk_id, c.text) for c in self.index.chunks))

    def warm_up(self) -> None:
        """Pay the one-time costs (embedder load and first forward pass, BM25 statistics, jieba's dictionary,
        the aliases learned from the chunks) now, so that the first question's retrieval time is retrieval."""
        self.index.embedder.encode_query("warm-up")
        self.index.bm25
        lexical_terms("预热", self.aliases)

    def dense_query(self, question: str) -> str:
        """The text embedded for the dense search: the question, plus the Latin-letter names of the Chinese
        model names in it ("What sizes does 千问3 come in? Qwen3"), the names the reports use and any embedder
        can match; an English-only one cannot read 千问 at all."""
        latin = self.aliases.latin_names(question)
        return f"{question} {' '.join(latin)}" if latin else question

    def lexical_only(self, question: str) -> bool:
        """Whether `question` is ranked by BM25 alone: a Chinese question on an index whose embedder knows
        only English (measured on the gold set: the dense list then lowers evidence recall, see the README)."""
        return self.index.manifest.embedder_id in ENGLISH_ONLY_EMBEDDERS and detect_language(question) == "zh"

    def candidates(self, question: str, settings: RetrievalSettings) -> list[Hit]:
        """Fused candidates, best first, before de-duplication and truncation to k.

        With `hybrid`, the dense, BM25 and character-bigram BM25 lists are fused by RRF (the bigram list weighs
        `bigram_weight`), except that a `lexical_only` question with any BM25 match leaves the dense list out;
        without `hybrid`, the dense list alone. Table-row records (kind "row") are ranked by the lexical lists
        only: embedded, a short "header: cell" row is close to any question about its columns and crowded out
        the passages that answer (dev split, docs/usage.md "Retrieval"); a dense-only search never returns them
        (the whole-table chunks still hold their rows).
        """
        depth = settings.candidates
        lexical: list[int] = []
        bigram: list[int] = []
        if settings.hybrid:
            lexical = [row for row, _ in self.index.lexical_search(lexical_terms(question, self.aliases), depth)]
            if settings.bigram_weight > 0:
                bigram = [row for row, _ in self.index.bigram_search(bigram_query(question, self.aliases), depth)]
        dense: list[int] = []
        if not (lexical and self.lexical_only(question)):
            query_vec = self.index.embedder.encode_query(self.dense_query(question))
            dense = [row for row, _ in self.index.dense_search(query_vec, depth) if self.index.chunks[row].kind != "row"]
        fused = reciprocal_rank_fusion([dense, lexical, bigram], settings.rrf_k, [1.0, 1.0, settings.bigram_weight])
        dense_rank = {row: r for r, row in enumerate(dense, start=1)}
        lexical_rank = {row: r for r, row in enumerate(lexical, start=1)}
        order = sorted(fused, key=lambda row: (-fused[row], row))
        return [
            Hit(
                chunk=self.index.chunks[row],
                score=fused[row],
                dense_rank=dense_rank.get(row),
                lexical_rank=lexical_rank.get(row),
            )
            for row in order
        ]

    def search(self, question: str, settings: RetrievalSettings | None = None) -> list[Hit]:
        """The top-k sources for `question`: fused, reranked if asked, near-duplicates collapsed, neighbours merged."""
        settings = settings or self.settings
        hits = self.candidates(question, settings)
        if settings.rerank:
            hits = self._rerank(question, hits, settings)
        kept: list[Hit] = []
        kept_shingles: list[set[str]] = []  # each candidate's shingles are computed once per search
        for hit in hits:
            shingles = _shingles(hit.chunk.text)
            if any(_contained(shingles, other) for other in kept_shingles):
                continue
            kept.append(hit)
            kept_shingles.append(shingles)
            if len(kept) == settings.k:
                break
        return merge_adjacent(kept)

    def _rerank(self, question: str, hits: list[Hit], settings: RetrievalSettings) -> list[Hit]:
        model = self._load_reranker(settings.reranker)
        if model is None:
            return hits
        scores = model.predict([(question, h.chunk.text) for h in hits])
        reranked = [replace(h, rerank_score=float(s)) for h, s in zip(hits, scores)]
        return sorted(reranked, key=lambda h: -h.rerank_score)

    def _load_reranker(self, name: str):
        if self._reranker is not None or self._reranker_failed:
            return self._reranker
        from core.hub import ModelUnavailable, locate_model

        try:
            from sentence_transformers import CrossEncoder

            self._reranker = CrossEncoder(locate_model(name, "reranker"))
        except (ModelUnavailable, OSError, ValueError, RuntimeError) as exc:
            self._reranker_failed = f"reranking is off: {exc}"
            print(f"warning: {self._reranker_failed}", file=sys.stderr)
        return self._reranker

    def rerank_notice(self, settings: RetrievalSettings) -> str | None:
        """Why reranking asked for in `settings` did not happen (the reranker could not be loaded), else None."""
        return self._reranker_failed if settings.rerank else None
