"""Citations a reader can check: the cited chunk as cleaned, safely rendered text with its supporting
sentence highlighted, the exact original behind "show original", the sentence previewed on the `[n]` link."""

from __future__ import annotations

import re
from html import unescape

import pytest

from rag.types import Citation
from ui import passage, render

PASSAGE = (
    "### PaLM\n"
    "PaLM 是谷歌2022年提出的 540B 参数规模的大语言模型，它采用 decoder-only 结构。这种结构对于 few-shot 更有利。\n\n"
    "PaLM 是**使用谷歌提出的 Pathways**系统训练的。\n"
    "| 模型 | 参数 |\n|---|---|\n| PaLM | 540B |"
)


def _texts(text: str, spans) -> list[str]:
    return [text[s:e] for s, e in spans]


def test_sentences_stay_within_a_line_without_markdown_prefixes_or_table_edges():
    assert _texts(PASSAGE, passage.split_sentences(PASSAGE)) == [
        "PaLM",
        "PaLM 是谷歌2022年提出的 540B 参数规模的大语言模型，它采用 decoder-only 结构。",
        "这种结构对于 few-shot 更有利。",
        "PaLM 是**使用谷歌提出的 Pathways**系统训练的。",
        "模型 | 参数",
        "PaLM | 540B",
    ]
    assert _texts("It has 175B parameters. It was released in 2020.", passage.split_sentences("It has 175B parameters. It was released in 2020.")) == [
        "It has 175B parameters.", "It was released in 2020."
    ]  # fmt: skip


def test_the_sentences_stating_the_answers_value_support_it_in_any_notation():
    spans = passage.supporting_sentences(PASSAGE, "PaLM 有 5400亿 参数[1]。")
    assert _texts(PASSAGE, spans) == ["PaLM 是谷歌2022年提出的 540B 参数规模的大语言模型，它采用 decoder-only 结构。", "PaLM | 540B"]


def test_without_a_shared_value_the_sentence_overlapping_the_answer_most_supports_it():
    assert _texts(PASSAGE, passage.supporting_sentences(PASSAGE, "它用 Pathways 系统训练[1]。")) == [
        "PaLM 是**使用谷歌提出的 Pathways**系统训练的。"
    ]
    assert passage.supporting_sentences(PASSAGE, "完全无关") == ()


def test_each_citation_is_checked_against_the_sentence_that_cites_it():
    answer = "GPT-3 有 175B 参数[1]。PaLM 有 540B 参数[2]。"
    assert passage.cited_claim(answer, 2) == "PaLM 有 540B 参数[2]。"
    assert passage.cited_claim("PaLM 有 540B 参数。[1]", 1) == "PaLM 有 540B 参数。[1]"  # marker after the sentence


def test_markdown_renders_safely_and_highlights_stay_well_nested():
    evil = 'A <img src=x onerror="alert(1)"> ![p](http://x/p.png) [l](javascript:alert(1))'
    html = passage.render_markdown(evil, [(0, len(evil))])
    assert "<img" not in html and "<a " not in html and "&lt;img" in html and html.count("<mark") == 1
    bold = "**b。c** d。"
    spans = passage.split_sentences(bold)
    assert _texts(bold, spans) == ["**b。", "c** d。"]
    # the first sentence ends inside the bold text: each text run gets its own mark, nesting stays valid
    assert '<p><strong><mark class="rag-support">b。</mark>c</strong> d。</p>' in passage.render_markdown(bold, spans[:1])
    table = passage.render_markdown(PASSAGE, passage.supporting_sentences(PASSAGE, "540B"))
    assert '<td><mark class="rag-support">PaLM</mark></td>' in table
    assert not re.search(r"</td>\s*<mark", table)  # nothing marked between cells


@pytest.fixture(scope="module")
def palm_citation(corpus_index) -> Citation:
    """The zhihu report's PaLM chunk, whose original is full of `<sup data-text=…>` reference tags."""
    chunk = next(c for c in corpus_index.chunks if "PaLM 是谷歌2022年提出的 540B" in c.text)
    return Citation(1, chunk.doc_id, chunk.heading, chunk.start, chunk.end, chunk.text)


def test_a_zhihu_citation_reads_clean_and_highlights_its_supporting_sentence(corpus_index, palm_citation):
    html = render.render_citation(palm_citation, corpus_index.original, "chat1", "PaLM 有 540B 参数[1]。")
    shown = re.search(r'<div class="rag-passage">(.*?)</div>', html, re.S).group(1)
    text = unescape(re.sub(r"<[^>]*>", "", shown))
    assert "<sup" not in text and "data-" not in text and "**" not in text and "PaLM 是使用谷歌提出的 Pathways" in text
    marked = re.findall(r'<mark class="rag-support">(.*?)</mark>', shown)
    assert marked and all("540B" in m for m in marked)
    assert any(m.startswith("PaLM 是谷歌2022年提出的 540B") for m in marked)
    original = re.search(r'<details class="rag-original">(.*?)</details>', html, re.S).group(1)
    raw = corpus_index.original(palm_citation.doc)[palm_citation.start : palm_citation.end]
    assert f"chars {palm_citation.start}–{palm_citation.end}" in original
    assert unescape(re.search(r"<mark>(.*?)</mark>", original, re.S).group(1)) == raw  # the exact characters
    assert "<sup data-text=" in raw


def test_hovering_a_citation_number_previews_its_supporting_sentence(corpus_index, palm_citation):
    previews = render.citation_previews([palm_citation], "PaLM 有 540B 参数[1]。")
    assert previews[1].startswith("PaLM 是谷歌2022年提出的 540B")
    html = render.link_citations("PaLM 有 540B 参数[1]。", "chat1", [1], previews)
    title = unescape(re.search(r'<a class="rag-cite" href="#chat1-1" title="([^"]*)"', html).group(1))
    assert title == previews[1]
