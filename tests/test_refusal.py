"""Refusal detection on the answer's form, in both languages: the one detector of `rag` and the eval."""

from __future__ import annotations

import re

import pytest

from rag.refusal import REFUSAL_PATTERNS, is_refusal
from rag.templates import REFUSAL_EN, REFUSAL_ZH

REFUSALS = [
    REFUSAL_ZH,
    REFUSAL_EN,
    "  资料中没有找到相关信息  ",
    "资料[1]中没有提到 GPT-5 的参数量。",  # cited refusal, as Qwen models write it
    "资料【2】里并未提及 Mistral 7B 的注意力机制。",
    "Claude 3.5 Sonnet 的参数量，资料[1][2]中均未提及。",
    "关于 Claude 3.5 Sonnet 的参数量，资料中没有提到。",  # topic clause, then the refusal
    "资料[1]介绍了 GPT-3，但没有提到层数。",  # talks about the sources, states nothing
    "文中未提及该信息",
    "没有相关信息。",
    "抱歉，我不知道",
    "根据提供的资料，无法回答这个问题。",
    "**回答：** 资料中没有找到相关信息。",
    "问题：GPT-7 有多少参数？\n资料中没有找到相关信息。",
    "资料中没有找到相关信息。建议查阅 OpenAI 官方文档。",
    "I don't know.",
    "I don\u2019t know.",  # curly apostrophe
    "I don't have that information.",
    "I\u2019m sorry, but the reports don\u2019t say when GPT-5 was released.",
    "There is no mention of GPT-5's context window in the sources.",
    "The sources do not specify the number of layers [2].",
    "The reports do not specify it.",
    "The sources describe GPT-3 [1] but do not specify its layer count.",
    "The provided sources do not mention Mistral 7B's attention mechanism.",
    "This is not mentioned in the provided context.",
    "There is not enough information to answer.",
    "Unfortunately, the context doesn't provide GPT-4o's price.",
    "The reports do not contain this information. Sorry.",
]

ANSWERS = [
    "GPT-3 有 175B 参数 [1]。",
    "GPT-3 有 175B 参数，但无法确定层数。",  # a hedge inside an answer
    "资料中没有提到发布月份，但 GPT-3 有 175B 参数 [1]。",
    "GPT-3 是 OpenAI 开发的 [1]，但资料中没有提到发布时间。",
    "GPT-3 was released by OpenAI [1], but the sources do not specify its layer count.",
    "The sources do not specify how many layers GPT-3 has, but it has 175B parameters [1].",
    "资料中没有找到相关信息。不过，GPT-7 大约有 10T 参数。",  # the refusal sentence, then an invented answer
    "资料中没有找到相关信息。GPT-7 可能是 OpenAI 开发的。",
    "资料中没有找到相关信息，但 GPT-7 可能是 OpenAI 开发的。",
    "The reports do not contain this information. However, it was likely released in 2023.",
    "I don't know the exact number, but it is around 175B.",
    "The sources disagree: 11B [1] versus 13B [2].",
    "The training data does not include code [1].",
    "BERT 没有使用解码器 [1]。",
    "",  # cut off while thinking: a failure, not a refusal
]


@pytest.mark.parametrize("answer", REFUSALS)
def test_refusals_are_detected(answer: str) -> None:
    assert is_refusal(answer)


@pytest.mark.parametrize("answer", ANSWERS)
def test_answers_are_not_refusals(answer: str) -> None:
    assert not is_refusal(answer)


def test_refusal_patterns_are_exported_as_regex_strings() -> None:
    assert all(re.compile(p) for p in REFUSAL_PATTERNS)
    assert any(re.search(p, REFUSAL_ZH) for p in REFUSAL_PATTERNS)
    assert any(re.search(p, REFUSAL_EN) for p in REFUSAL_PATTERNS)
