"""The `Generator` protocol every backend implements, and the one place a raw output becomes a `Generation`.

`generate` answers once (streaming, Stop); `generate_many` produces every row (settings × samples, each with its
own seed) for one prompt, the way the backend does that best: one shared prefill (transformers, llamacpp), `n`
samples per request (openai), one extraction (extractive). `revision` identifies the weights or server and
`info` says what runs them, so callers such as the eval never need to know which backend they hold. Every
backend gets the same `messages`: those of `rag.prompt.build_messages` are a `rag.context.Messages`, chat
messages that also carry the question, the numbered sources and the answerability decision they were rendered
from; a language model reads the messages, the extractive backend the context.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from rag.config import SamplingParams
from rag.thinking import ThinkingSplit
from rag.types import Generation


@runtime_checkable
class Generator(Protocol):
    """Turns chat messages into a `Generation` under `SamplingParams`."""

    name: str  # model id as the user knows it
    backend: str  # the engine that answers: transformers | llamacpp | openai | extractive (a label, for records)
    context_window: int  # tokens the model attends to (prompt + generation)
    ignores_sampling: bool  # True when no sampling parameter changes the answer (the extractive backend)

    @property
    def revision(self) -> str:
        """What identifies the weights (or the server, or the extraction code): part of every eval cache key."""
        ...

    @property
    def info(self) -> dict[str, str]:
        """What runs the model: `engine` (with its version), `dtype`, `device` and backend-specific details."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def generate(
        self,
        messages: list[dict[str, str]],
        params: SamplingParams,
        on_token: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Generation:
        """One answer; `on_token` receives answer text as it forms (never reasoning); setting `stop` ends it
        early (reported as truncated)."""
        ...

    def generate_many(self, messages: list[dict[str, str]], rows: Sequence[SamplingParams]) -> list[Generation]:
        """One Generation per row, in order. All rows share the thinking mode (it is part of the prompt). A row
        whose request failed after its retries comes back with `error` set instead of raising, so the others
        are kept."""
        ...


def to_generation(
    split: ThinkingSplit,
    *,
    ended: bool,
    new_tokens: int,
    ttft_ms: float,
    generate_ms: float,
    thinking: str | None = None,
    batch_rows: int = 1,
    request_seed: int | None = None,
) -> Generation:
    """The Generation for a finished output: truncated when it did not end by itself (token budget, Stop) or
    ended inside the thinking block. `thinking` replaces the split's reasoning (a server's separate field)."""
    return Generation(
        answer=split.answer,
        thinking=thinking or split.thinking,
        truncated=not ended or split.truncated_in_thinking,
        new_tokens=new_tokens,
        ttft_ms=ttft_ms,
        generate_ms=generate_ms,
        batch_rows=batch_rows,
        request_seed=request_seed,
    )


def check_one_thinking_mode(rows: Sequence[SamplingParams]) -> None:
    """Raise ValueError when `rows` mix thinking modes (the chat template renders a different prompt for each)."""
    if len({r.thinking for r in rows}) > 1:
        raise ValueError("generate_many: all rows must share the thinking mode (it is part of the prompt)")
