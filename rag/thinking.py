"""Separating Qwen3's reasoning (`<think>…</think>`) from the visible answer, whole or while streaming.

Qwen3 starts its output with a thinking block: real reasoning when `enable_thinking=True`, an empty block
when the chat template inserted `<think>\\n\\n</think>` itself (`enable_thinking=False`), and nothing at all
for models without thinking (Qwen2.5). Some templates open the block in the prompt, so the output holds only
`…</think>answer` (`started_in_thinking=True`). An output that ends inside the block was cut off by the token
budget: its answer is empty and it is reported as truncated.
"""

from __future__ import annotations

from dataclasses import dataclass

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


@dataclass(frozen=True)
class ThinkingSplit:
    thinking: str | None  # the reasoning text (stripped); None when the output had no thinking block
    answer: str  # what the user sees
    truncated_in_thinking: bool  # the output ended before the thinking block was closed


def _split(text: str, started_in_thinking: bool, final: bool) -> ThinkingSplit:
    body = text if started_in_thinking else text.lstrip()
    if not started_in_thinking:
        if body.startswith(THINK_OPEN):
            body = body[len(THINK_OPEN) :]
        elif THINK_OPEN.startswith(body) and not final:
            # "", "<", "<th": cannot tell yet whether a thinking block is starting
            return ThinkingSplit(None, "", False)
        else:
            answer = body.strip() if final else body.rstrip()
            return ThinkingSplit(None, answer, False)
    thinking, closed, rest = body.partition(THINK_CLOSE)
    if not closed:
        return ThinkingSplit(thinking.strip() or None, "", True)
    answer = rest.strip() if final else rest.lstrip().rstrip()
    return ThinkingSplit(thinking.strip() or None, answer, False)


def split_thinking(text: str, started_in_thinking: bool = False) -> ThinkingSplit:
    """Split a finished model output into reasoning and answer.

    An empty thinking block (thinking switched off) gives `thinking=None`.
    """
    return _split(text, started_in_thinking, final=True)


class AnswerStream:
    """Turns raw streamed text into answer-only deltas: reasoning is never passed on.

    Whitespace at the end is held back until more text follows, so the concatenated deltas always equal
    `split_thinking(raw).answer` once `finish()` has been called.
    """

    def __init__(self, started_in_thinking: bool = False):
        self.started_in_thinking = started_in_thinking
        self.raw = ""
        self._sent = 0

    def feed(self, text: str) -> str:
        """Add raw model text; return the new answer text that may be shown now ("" if none)."""
        self.raw += text
        return self._delta(_split(self.raw, self.started_in_thinking, final=False).answer)

    def finish(self) -> ThinkingSplit:
        """The final split of everything fed; call `pending()` for any answer text not yet shown."""
        return split_thinking(self.raw, self.started_in_thinking)

    def pending(self) -> str:
        """Answer text that only the end of the stream revealed (e.g. an undecided "<th" prefix)."""
        return self._delta(self.finish().answer)

    def _delta(self, answer: str) -> str:
        delta = answer[self._sent :]
        self._sent = len(answer)
        return delta
