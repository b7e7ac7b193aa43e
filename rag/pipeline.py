"""Question → retrieved sources → prompt → generation → answer with mapped citations.

One `Pipeline` per process holds the index, the retriever and the loaded model; the CLI, the UI and the eval
share it and pass per-request sampling, retrieval and prompt settings.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from typing import Any, Callable

from core.errors import UserError
from core.index import Index
from rag.citations import map_citations, parse_citations, strip_citations
from rag.config import RetrievalSettings, SamplingParams, Settings
from rag.followup import rewrite_followup
from rag.prompt import build_messages
from rag.refusal import is_refusal
from rag.retrieve import HybridRetriever
from rag.templates import PROMPTS, template_hash
from rag.types import Answer, Generation, Hit


class Pipeline:
    """The assistant: `retrieve(question)` and `ask(question)` over one index and one model."""

    def __init__(self, settings: Settings | None = None, *, index: Index, generator=None, generation: bool = True):
        """`index` is an opened index (`core.index.load_index`, or `ingest.build.open_index`, which builds a
        missing one); the pipeline only reads it."""
        self.settings = settings or Settings()
        if self.settings.prompt not in PROMPTS:
            raise UserError(f"unknown prompt template {self.settings.prompt!r}; choose one of {', '.join(PROMPTS)}")
        self.notices: list[str] = []
        self.index = index
        self.retriever = HybridRetriever(self.index, self.settings.retrieval)
        self.retriever.warm_up()
        self.generator = generator
        if self.generator is None and generation:
            from rag.generators.factory import load_generator

            self.generator, notice = load_generator(self.settings.model)
            if notice:
                self.notices.append(notice)

    def index_info(self) -> dict[str, Any]:
        """What identifies the index an answer came from."""
        m = self.index.manifest
        return {"hash": m.hash, "embedder": m.embedder_id, "chunks": len(self.index.chunks)}

    def retrieve(self, question: str, retrieval: RetrievalSettings | None = None) -> list[Hit]:
        """The ranked sources for a question (no generation)."""
        return self.retriever.search(_checked(question), retrieval or self.settings.retrieval)

    def retrieval_json(self, question: str, hits: list[Hit]) -> dict[str, Any]:
        """The `--retrieval-only --json` shape: the question, ranked sources with scores and ranks, the index."""
        return {
            "question": question,
            "sources": [
                {**h.to_json(n), "dense_rank": h.dense_rank, "lexical_rank": h.lexical_rank, "rerank_score": h.rerank_score}
                for n, h in enumerate(hits, start=1)
            ],
            "index": self.index_info(),
        }

    def ask(
        self,
        question: str,
        *,
        history: list[tuple[str, str]] | None = None,
        sampling: SamplingParams | None = None,
        retrieval: RetrievalSettings | None = None,
        prompt: str | None = None,
        on_token: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Answer:
        """Answer one question in a conversation.

        `history` holds the earlier (question, answer) turns, oldest first. A follow-up is rewritten into a
        standalone question (`rewrite_followup`); retrieval and the model both get that one, and the model also
        sees the earlier turns (citation markers removed) as far as the context window allows.
        """
        if self.generator is None:
            raise UserError("this pipeline was opened for retrieval only; open it with generation=True to ask")
        question = _checked(question)
        sampling = sampling or self.settings.sampling
        retrieval = retrieval or self.settings.retrieval
        prompt = prompt or self.settings.prompt
        if prompt not in PROMPTS:
            raise UserError(f"unknown prompt template {prompt!r}; choose one of {', '.join(PROMPTS)}")
        standalone = rewrite_followup(history or [], question, self.retriever.aliases)

        t0 = time.perf_counter()
        hits = self.retriever.search(standalone, retrieval)
        retrieve_ms = (time.perf_counter() - t0) * 1000

        turns = [(q, strip_citations(a)) for q, a in history or []]
        built = build_messages(
            standalone, hits, prompt, generator=self.generator, max_new_tokens=sampling.max_new_tokens, history=turns
        )
        sources = hits[: len(built.sources)]
        generation = self.generator.generate(built.messages, sampling, on_token=on_token, stop=stop)
        tokens_per_s = generation.new_tokens / (generation.generate_ms / 1000) if generation.generate_ms > 0 else 0.0
        return self.answer(
            question,
            generation,
            sources,
            params={
                "sampling": asdict(sampling),
                "retrieval": asdict(retrieval),
                "prompt": prompt,
                "prompt_hash": template_hash(prompt),
                "standalone_question": standalone,
            },
            timings={
                "retrieve_ms": round(retrieve_ms, 2),
                "ttft_ms": round(generation.ttft_ms, 2),
                "generate_ms": round(generation.generate_ms, 2),
                "new_tokens": generation.new_tokens,
                "tokens_per_s": round(tokens_per_s, 2),
            },
            notices=[n for n in [self.retriever.rerank_notice(retrieval), *built.notices] if n],
        )

    def answer(self, question: str, generation: Generation, sources: list[Hit], *, params: dict[str, Any],
               timings: dict[str, float], notices: list[str]) -> Answer:  # fmt: skip
        """The `Answer` for a generation over numbered `sources`: refusal, citations mapped to the sources, and
        this pipeline's model, backend and index (shared by `ask` and the page's A/B samples)."""
        return Answer(
            question=question,
            answer=generation.answer,
            refused=is_refusal(generation.answer),
            thinking=generation.thinking,
            truncated=generation.truncated,
            citations=map_citations(parse_citations(generation.answer, len(sources)), sources),
            sources=sources,
            params=params,
            model=self.generator.name,
            backend=self.generator.backend,
            index=self.index_info(),
            timings=timings,
            notices=notices,
        )

    def status(self) -> dict[str, Any]:
        """Model, backend, device and index facts for a status line."""
        m = self.index.manifest
        return {
            "model": getattr(self.generator, "name", None),
            "backend": getattr(self.generator, "backend", None),
            "device": getattr(self.generator, "device", "cpu"),
            "index": {
                "documents": len(m["documents"]),
                "chunks": len(self.index.chunks),
                "embedder": m.embedder_id,
                "built_at": m["built_at"],
            },
            "notices": list(self.notices),
        }


def _checked(question: str) -> str:
    if not question or not question.strip():
        raise UserError("the question is empty; type a question about the reports")
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as exc:  # undecodable bytes from argv or a file arrive as lone surrogates
        raise UserError(f"the question is not valid UTF-8 text (at character {exc.start + 1}); pass it as UTF-8") from None
    return question.strip()
