"""Frozen records that flow through retrieval, generation and citation mapping."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from core.types import Chunk


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the ranks that produced it (None = not in that list)."""

    chunk: Chunk
    score: float
    dense_rank: int | None = None
    lexical_rank: int | None = None
    rerank_score: float | None = None

    def to_json(self, n: int) -> dict[str, Any]:
        """This hit as source `n` of the documented `--json` shape."""
        c = self.chunk
        return {"n": n, "doc": c.doc_id, "heading": c.heading, "chunk_id": c.chunk_id, "start": c.start, "end": c.end, "text": c.text, "score": self.score}


@dataclass(frozen=True)
class Generation:
    """What a generator produced for one prompt."""

    answer: str  # the visible answer, thinking block removed
    thinking: str | None  # Qwen3 reasoning text, None when thinking was off or absent
    truncated: bool  # hit max_new_tokens (inside the thinking block counts too) before finishing
    new_tokens: int
    ttft_ms: float  # time to first token
    generate_ms: float  # whole generation, first token included; rows decoded together: the whole batch
    batch_rows: int = 1  # rows produced by the one call (batch, request) that made this one
    request_seed: int | None = None  # the seed a server request carried (its n samples share one)
    error: str | None = None  # generate_many: the row's request failed after its retries (no answer)


@dataclass(frozen=True)
class Citation:
    """A source the answer cites as [n], mapped back to the original file."""

    n: int
    doc: str
    heading: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Answer:
    """The result of one question; `to_json()` is the documented `--json` shape."""

    question: str
    answer: str
    refused: bool
    thinking: str | None
    truncated: bool
    citations: list[Citation]
    sources: list[Hit]
    params: dict[str, Any]
    model: str
    backend: str
    index: dict[str, Any]
    timings: dict[str, float]
    notices: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "thinking": self.thinking,
            "truncated": self.truncated,
            "citations": [dataclasses.asdict(c) for c in self.citations],
            "sources": [h.to_json(n) for n, h in enumerate(self.sources, start=1)],
            "params": self.params,
            "model": self.model,
            "backend": self.backend,
            "index": self.index,
            "timings": self.timings,
            "notices": self.notices,
        }
