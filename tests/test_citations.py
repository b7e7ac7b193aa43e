"""Citation parsing and mapping on hand-written model outputs."""

from __future__ import annotations

import pytest

from rag.citations import map_citations, parse_citations
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
