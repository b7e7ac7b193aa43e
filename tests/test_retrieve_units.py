"""Hand-computed cases for the pieces of hybrid retrieval: fusion, near-duplicates, neighbour merging."""

from __future__ import annotations

import pytest

from core.types import Chunk
from rag.glossary import expand_query, lexical_terms
from rag.retrieve import is_near_duplicate, merge_adjacent, reciprocal_rank_fusion
from rag.sentences import split_sentences
from rag.types import Hit


def chunk(i: int, text: str, doc: str = "a.md", heading: str = "H", start: int = 0) -> Chunk:
    return Chunk(f"{doc}#{i:04d}", doc, "T", heading, text, start, start + len(text), 1.0)


def test_rrf_sums_reciprocal_ranks():
    scores = reciprocal_rank_fusion([[7, 3], [3, 9]], rrf_k=60)
    assert scores[3] == pytest.approx(1 / 62 + 1 / 61)
    assert scores[7] == pytest.approx(1 / 61)
    assert scores[9] == pytest.approx(1 / 62)
    assert max(scores, key=scores.get) == 3  # found by both lists beats first place in one


def test_near_duplicate_detects_repeated_fact_not_different_fact():
    fact = "GPT-3（2020-05-28，论文）：175B；论文覆盖多类 NLP 基准与 few-shot 评测"
    assert is_near_duplicate(fact, "补充：" + fact + "。")
    assert not is_near_duplicate(fact, "Gopher（2021-12-08，论文）：280B；广泛下游任务")


def test_adjacent_chunks_of_one_section_merge_without_repeating_the_overlap():
    a = chunk(1, "第一句话。第二句话。", start=0)
    b = chunk(2, "第二句话。第三句话。", start=5)
    other = chunk(3, "别的章节。", heading="Other", start=40)
    merged = merge_adjacent([Hit(b, 0.5), Hit(other, 0.4), Hit(a, 0.3)])
    assert [h.chunk.text for h in merged] == ["第一句话。第二句话。第三句话。", "别的章节。"]
    assert merged[0].score == 0.5  # the better-ranked hit's score and position are kept
    assert (merged[0].chunk.start, merged[0].chunk.end) == (0, b.end)


def test_non_adjacent_or_other_document_chunks_stay_apart():
    hits = [Hit(chunk(1, "x。"), 0.3), Hit(chunk(3, "y。"), 0.2), Hit(chunk(2, "z。", doc="b.md"), 0.1)]
    assert len(merge_adjacent(hits)) == 3


def test_english_domain_terms_gain_their_chinese_words():
    expanded = expand_query("When was Chinchilla released and how many parameters does it have?")
    assert expanded.startswith("When was Chinchilla")
    assert "发布" in expanded and "参数" in expanded
    assert expand_query("Chinchilla?") == "Chinchilla?"


def test_lexical_terms_drop_question_words_and_keep_names_and_numbers():
    terms = lexical_terms("How many parameters does GPT-3 have?")
    assert "gpt-3" in terms and "参数" in terms
    assert not {"how", "many", "does", "have"} & set(terms)
    assert "多少" not in lexical_terms("GPT-3 有多少参数？")


def test_adjacent_table_chunks_merge_into_one_table_with_one_header():
    header = "| 模型 | 参数量 |\n| --- | --- |\n"
    a = chunk(1, header + "| Chinchilla | 70B |", start=0)
    b = chunk(2, header + "| PaLM | 540B |", start=len(a.text) + 1)
    merged = merge_adjacent([Hit(b, 0.5), Hit(a, 0.3)])
    assert merged[0].chunk.text == header + "| Chinchilla | 70B |\n| PaLM | 540B |"
    rows = [s.text for s in split_sentences(merged[0].chunk.text)]
    assert rows == ["模型: Chinchilla；参数量: 70B", "模型: PaLM；参数量: 540B"]
