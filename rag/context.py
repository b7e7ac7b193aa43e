"""What a prompt was rendered from, carried alongside its chat messages.

`rag.prompt.build_messages` renders the question and the numbered sources into chat messages, and attaches
what it rendered them from as `Messages.context`: the question as shown, each shown source's number, text,
kind and heading path, and the one answerability verdict (`rag.answerability`) taken on them. Every backend
receives the same `Messages` (`rag.generators.protocol`): a language model reads the rendered text and ignores
the context; the extractive backend reads the context, so nothing is parsed back out of the prompt text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from rag.answerability import Verdict


@dataclass(frozen=True)
class PromptSource:
    """One numbered source as the prompt shows it."""

    n: int  # the number the prompt gives it; answers cite it as [n]
    text: str  # the chunk text as shown (shortened when the context window cut it)
    kind: str  # the chunk's kind: text, table or row
    heading: str  # its heading path in the document


@dataclass(frozen=True)
class PromptContext:
    """The question, the shown sources and the decision on them."""

    question: str  # as shown (cut when it was too long for the context window)
    language: str  # "zh" or "en": the language of the template and of the refusal
    sources: tuple[PromptSource, ...]  # empty when the template shows no sources (closed book)
    verdict: Verdict | None  # whether the shown sources can answer; None when no sources are shown


class Messages(list):
    """Chat messages (`{"role", "content"}` dicts, what a language model reads) with the `context` they were
    rendered from."""

    def __init__(self, messages: Iterable[dict[str, str]], context: PromptContext):
        super().__init__(messages)
        self.context = context
