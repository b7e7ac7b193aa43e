"""Chunking the real corpus: sizes, heading paths, tables under their header, spans into the original."""

from __future__ import annotations

import re

import pytest

from core.corpus import iter_documents
from ingest.chunk import chunk_document, embedding_text, zh_ratio
from ingest.clean import clean_text

SIZE, OVERLAP = 500, 80


@pytest.fixture(scope="module")
def corpus_chunks(corpus_dir):
    """{doc_id: (original text, chunks)} for the real corpus at the default size/overlap."""
    out = {}
    for doc in iter_documents(corpus_dir):
        out[doc.doc_id] = (doc.text, chunk_document(doc.doc_id, clean_text(doc.text, doc.kind), SIZE, OVERLAP))
    return out


def _table_header(text: str) -> list[str]:
    lines = text.splitlines()
    return lines[:2] if len(lines) > 1 and re.fullmatch(r"[|\s:-]+", lines[1]) else lines[:1]


def _squeeze(text: str) -> str:
    return re.sub(r"\s", "", text)


def _is_subsequence(needle: str, haystack: str) -> bool:
    it = iter(haystack)
    return all(ch in it for ch in needle)


def test_chunks_are_ordered_sized_and_numbered(corpus_chunks):
    for doc_id, (_, chunks) in corpus_chunks.items():
        assert chunks, doc_id
        assert [c.chunk_id for c in chunks] == [f"{doc_id}#{i:04d}" for i in range(len(chunks))]
        for c in chunks:
            assert c.text.strip() and c.doc_id == doc_id and c.title
            assert 0 <= c.start < c.end
            long_rows = c.text.startswith("|") and any(len(row) > SIZE // 2 for row in c.text.splitlines())
            assert len(c.text) <= SIZE or long_rows, (c.chunk_id, len(c.text))
        starts = [c.start for c in chunks]
        assert starts == sorted(starts), doc_id


def test_every_table_chunk_starts_with_its_header_and_holds_whole_rows(corpus_chunks):
    _, chunks = corpus_chunks["002_6ac13b971160b9c7.txt"]
    model_table = [c for c in chunks if c.text.startswith("| 模型名称 | 发布时间 | 发布机构 |")]
    assert len(model_table) >= 3  # the big table spans several chunks, each with the header row
    gpt3 = [c for c in chunks if "| GPT-3 | 2020-05 | OpenAI | 英 | 175B | 300B |" in c.text and c.kind == "table"]
    assert len(gpt3) == 1 and gpt3[0] in model_table
    assert gpt3[0].heading == "一. Basic Language Model"
    table_chunks = [c for _, cs in corpus_chunks.values() for c in cs if c.text.startswith("|")]
    assert len(table_chunks) >= 10
    for c in table_chunks:
        rows = c.text.splitlines()
        assert all(r.startswith("|") and r.rstrip().endswith("|") for r in rows), c.chunk_id  # no row cut in half
        assert len(rows) > len(_table_header(c.text)), c.chunk_id


def test_every_table_row_is_a_record_whose_span_is_that_row_in_the_original_file(corpus_chunks):
    rows = 0
    for doc_id, (original, chunks) in corpus_chunks.items():
        for c in [c for c in chunks if c.kind == "row"]:
            line_start = original.rfind("\n", 0, c.start) + 1
            line_end = original.find("\n", c.end) if "\n" in original[c.end :] else len(original)
            assert original[c.start : c.end] == original[line_start:line_end].strip(), c.chunk_id  # exactly one row
            header, separator, row = c.text.split("\n")
            assert header.startswith("|") and re.fullmatch(r"[|\s:-]+", separator) and row.startswith("|")
            rows += 1
    assert rows > 100
    _, chunks = corpus_chunks["002_6ac13b971160b9c7.txt"]
    (palm,) = [c for c in chunks if c.kind == "row" and c.text.endswith("| PaLM | 2022-04 | Google | 多语言 | 540B | 780B | | Decoder | × |")]
    assert palm.heading == "一. Basic Language Model"
    assert embedding_text(palm) == (
        "一. Basic Language Model\n模型名称: PaLM；发布时间: 2022-04；发布机构: Google；语言: 多语言；参数规模: 540B；"
        "Tokens规模: 780B；模型结构: Decoder；是否开源: ×"
    )  # the empty column is left out


def test_heading_paths_follow_the_markdown_structure(corpus_chunks):
    headings = {c.heading for _, cs in corpus_chunks.values() for c in cs}
    assert "2. Qwen系列：开源生态的效率革命与推理进阶 > 2.3 Qwen2.5：数据规模的胜利与强化学习的深化 > 2.3.1 18万亿Token的预训练语料" in headings
    assert "大语言模型科普报告 > 技术细节介绍" in headings  # PDF title lines promoted to headings
    _, chunks = corpus_chunks["000_5c59a6dee0bffb0d.txt"]
    assert chunks[0].heading == "" and chunks[0].text.startswith("Q: 请列出")
    v2 = [c for c in chunks if "**DeepSeek-V2（2024-05，论文）**" in c.text]
    assert v2 and v2[0].heading.startswith("2024：多模态 + 长上下文 + MoE 扩大化")
    assert not any("===" in c.text for c in chunks)  # answer separators are boundaries, not content


def test_spans_point_at_the_chunk_text_in_the_original_file(corpus_chunks):
    checked = 0
    for doc_id, (original, chunks) in corpus_chunks.items():
        for c in chunks:
            body, span = c.text, original[c.start : c.end]
            if body.startswith("|") and not _squeeze(span).startswith(_squeeze(body.splitlines()[0])):
                body = "\n".join(body.splitlines()[len(_table_header(body)) :])  # a repeated header is not in the span
            # The chunk's characters appear, in order, in its span; the span starts and ends on chunk text.
            assert _is_subsequence(_squeeze(body), _squeeze(span)), c.chunk_id
            assert span.lstrip()[:1] == body.lstrip()[:1] and span.rstrip()[-1:] == body.rstrip()[-1:], c.chunk_id
            checked += 1
    assert checked > 150


def test_spans_of_noisy_chunks_cover_the_removed_noise(corpus_chunks):
    original, chunks = corpus_chunks["002_6ac13b971160b9c7.txt"]
    (gpt3,) = [c for c in chunks if c.heading.endswith("> GPT-3") and "175B" in c.text][:1]
    assert "<sup" not in gpt3.text
    assert "175B" in original[gpt3.start : gpt3.end]
    original, chunks = corpus_chunks["001_44e77a6d940667f4.txt"]
    joined = [c for c in chunks if "通过人与反馈强化学习 (RLHF)" in c.text]
    assert joined and "通过人与反馈强\n\n化学习 (RLHF)" in original[joined[0].start : joined[0].end]


def test_prose_chunks_overlap_and_end_on_sentence_boundaries(corpus_chunks):
    prose = [[c for c in cs if not c.text.startswith("|")] for _, cs in corpus_chunks.values()]
    pairs = [(a, b) for cs in prose for a, b in zip(cs, cs[1:]) if a.heading == b.heading]
    overlapping = [(a, b) for a, b in pairs if b.start < a.end]
    assert len(overlapping) >= 5, "neighbouring chunks of one long section share text"
    for a, b in overlapping:
        assert b.text[:15] in a.text, (a.chunk_id, b.chunk_id)
    ends = [c.text.rstrip()[-1] for cs in prose for c in cs]
    assert sum(e in "。！？；：.!?）)" for e in ends) / len(ends) > 0.7


def test_language_mix():
    assert zh_ratio("大语言模型") == 1.0
    assert zh_ratio("GPT-3 175B") == 0.0
    assert zh_ratio("模型 model") == pytest.approx(2 / 7, abs=1e-3)
    assert zh_ratio("2020-05") == 0.0


def test_smaller_chunks_with_more_overlap(corpus_dir):
    doc = next(d for d in iter_documents(corpus_dir) if d.doc_id.startswith("004"))
    clean = clean_text(doc.text)
    small = chunk_document(doc.doc_id, clean, 200, 50)
    default = chunk_document(doc.doc_id, clean, SIZE, OVERLAP)
    assert len(small) > len(default)
    assert all(len(c.text) <= 200 or c.text.startswith("|") for c in small)



def test_overlap_is_shared_text_between_neighbours_and_bounded(corpus_dir):
    docs = [(d.doc_id, clean_text(d.text)) for d in iter_documents(corpus_dir)]

    def shared(overlap: int) -> list[int]:
        """Characters each 200-char prose chunk shares with the next one of the same section, over the corpus."""
        out = []
        for doc_id, clean in docs:
            chunks = chunk_document(doc_id, clean, 200, overlap)
            prose = [c for c in chunks if c.kind == "text"]  # a table's row records lie inside its chunks
            out += [max(0, a.end - b.start) for a, b in zip(prose, prose[1:]) if a.heading == b.heading]
        return out

    assert sum(shared(0)) == 0
    with_overlap = shared(50)
    assert sum(1 for n in with_overlap if n > 0) >= 20
    assert max(with_overlap) <= 50 + 20  # the overlap, widened at most to a word or sentence start
