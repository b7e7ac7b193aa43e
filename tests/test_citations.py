"""Citation parsing and mapping on hand-written model outputs; refusal detection in both languages."""

from __future__ import annotations

import pytest

from rag.citations import REFUSAL_PATTERNS, is_refusal, map_citations, parse_citations
from rag.prompt import REFUSAL_EN, REFUSAL_ZH
from rag.types import Citation
from tests.fixtures.hits import make_hit


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("GPT-3 有 175B 参数 [1]。", [1]),
        ("Both agree [1,2], see also [2, 3].", [1, 2, 3]),
        ("按时间 [3][1]，另见 [1]。", [3, 1]),
        ("全角括号【2】和［4］", [2, 4]),
        ("a range [1-3] and an en dash [4–5]", [1, 2, 3, 4, 5]),
        ("中文顿号 [1、3] 与逗号【2，4】", [1, 3, 2, 4]),
        ("with a word: [来源1] [source 2] [Sources 3]", [1, 2, 3]),
        ("out of range [0] [6] [7-9] dropped, [5] kept", [5]),
        ("a range running past the end [4-99]", [4, 5]),
        ("no citations, 175B, [a] [x1]", []),
    ],
)
def test_parse_citations(answer: str, expected: list[int]) -> None:
    assert parse_citations(answer, n_sources=5) == expected


def test_map_citations_gives_document_heading_and_span() -> None:
    hits = [make_hit(1), make_hit(2), make_hit(3)]
    cited = map_citations(parse_citations("LaMDA 是 2021 年 [3]，另说 2022 年 [1][9]。", len(hits)), hits)
    assert cited == [
        Citation(n=3, doc="doc3.txt", heading="2020 > Model 3", start=300, end=316, text="text of source 3"),
        Citation(n=1, doc="doc1.txt", heading="2020 > Model 1", start=100, end=116, text="text of source 1"),
    ]


@pytest.mark.parametrize(
    "answer",
    [
        REFUSAL_ZH,
        REFUSAL_EN,
        "  资料中没有找到相关信息  ",
        "The reports do not contain this information",
        "资料中未提及 GPT-5 的参数量。",
        "根据提供的资料，无法回答这个问题。",
        "The sources do not mention when GPT-5 was released.",
        "This is not mentioned in the provided context.",
        "I don't know.",
        "There is not enough information to answer.",
    ],
)
def test_refusals_are_detected(answer: str) -> None:
    assert is_refusal(answer)


@pytest.mark.parametrize(
    "answer",
    [
        "GPT-3 有 175B 参数 [1]。",
        "资料中没有提到发布月份，但 GPT-3 有 175B 参数 [1]。",  # partly missing, still answers with a citation
        "The sources disagree: 11B [1] versus 13B [2].",
        "",  # cut off while thinking: a failure, not a refusal
    ],
)
def test_answers_are_not_refusals(answer: str) -> None:
    assert not is_refusal(answer)


def test_refusal_patterns_are_exported_as_regex_strings() -> None:
    import re

    assert all(re.compile(p) for p in REFUSAL_PATTERNS)
    assert any(re.search(p, REFUSAL_ZH) for p in REFUSAL_PATTERNS)
    assert any(re.search(p, REFUSAL_EN) for p in REFUSAL_PATTERNS)
