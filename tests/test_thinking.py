"""Qwen3 output → (thinking, answer, truncated_in_thinking), whole and streamed."""

from __future__ import annotations

import pytest

from rag.thinking import AnswerStream, split_thinking


@pytest.mark.parametrize(
    ("raw", "started", "thinking", "answer", "truncated"),
    [
        ("<think>\nGPT-3 is in [1].\n</think>\n\nGPT-3 有 175B 参数 [1]。", False, "GPT-3 is in [1].", "GPT-3 有 175B 参数 [1]。", False),
        ("<think>\n\n</think>\n\n175B [1]", False, None, "175B [1]", False),  # thinking switched off
        ("\n<think>\nLet me check the sources, [2] says", False, "Let me check the sources, [2] says", "", True),
        ("<think>", False, None, "", True),
        ("  The reports do not contain this information.  ", False, None, "The reports do not contain this information.", False),
        ("reasoning opened by the template</think>\n答案 [1]", True, "reasoning opened by the template", "答案 [1]", False),
        ("still thinking", True, "still thinking", "", True),
        ("<th", False, None, "<th", False),  # not a tag after all
        ("", False, None, "", False),
    ],
)
def test_split_thinking(raw: str, started: bool, thinking: str | None, answer: str, truncated: bool) -> None:
    split = split_thinking(raw, started_in_thinking=started)
    assert (split.thinking, split.answer, split.truncated_in_thinking) == (thinking, answer, truncated)


@pytest.mark.parametrize(
    "raw",
    [
        "<think>\nreasoning about [1] and [2]\n</think>\n\nGPT-3 有 175B 参数 [1]。\n",
        "<think>\n\n</think>\n\nAnswer with  two  spaces [1].",
        "No tags at all, just an answer. ",
        "<think>never closed",
        "<th",
    ],
)
@pytest.mark.parametrize("piece", [1, 3, 7])
def test_streamed_deltas_add_up_to_the_answer_and_never_show_reasoning(raw: str, piece: int) -> None:
    stream = AnswerStream()
    shown = []
    for i in range(0, len(raw), piece):
        delta = stream.feed(raw[i : i + piece])
        assert not any(hidden in delta for hidden in ("<think>", "reasoning", "never closed"))
        shown.append(delta)
    shown.append(stream.pending())
    assert "".join(shown) == split_thinking(raw).answer
