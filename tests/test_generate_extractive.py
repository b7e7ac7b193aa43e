"""The extractive backend on real corpus chunks: the supporting sentence with its citation, or a refusal."""

from __future__ import annotations

import pytest

from rag.config import SamplingParams
from rag.generators.extractive import ExtractiveGenerator, extract_answer, split_sentences
from rag.prompt import REFUSAL_EN, REFUSAL_ZH, build_messages
from rag.types import Hit


@pytest.fixture(scope="module")
def corpus_chunks(corpus_dir):
    from ingest.chunk import chunk_document
    from ingest.clean import clean_text
    from ingest.load import iter_documents

    return [c for d in iter_documents(corpus_dir) for c in chunk_document(d.doc_id, clean_text(d.text, d.kind))]


def _chunk(chunks, *needles):
    return next(c for c in chunks if all(n in c.text for n in needles))


@pytest.fixture(scope="module")
def sources(corpus_chunks) -> list[Hit]:
    """Three real chunks: one about Chinchilla, the GPT-3 chunk, one about LLaMA; GPT-3 is second."""
    picked = [
        _chunk(corpus_chunks, "Chinchilla", "70B"),
        _chunk(corpus_chunks, "GPT-3 将模型参数规模扩大至 175B"),
        _chunk(corpus_chunks, "LLaMA", "Meta"),
    ]
    return [Hit(chunk=c, score=1.0) for c in picked]


@pytest.mark.parametrize("question", ["GPT-3 有多少参数？", "How many parameters does GPT-3 have?"])
def test_answers_with_the_supporting_sentence_and_its_citation(sources: list[Hit], question: str) -> None:
    gen = ExtractiveGenerator()
    built = build_messages(question, sources, generator=gen)
    streamed: list[str] = []
    out = gen.generate(built.messages, SamplingParams(), on_token=streamed.append)
    assert "175B" in out.answer and "GPT-3" in out.answer
    assert "[2]" in out.answer  # the GPT-3 chunk is source 2
    assert "".join(streamed) == out.answer
    assert (out.thinking, out.truncated, out.new_tokens) == (None, False, 0)


def test_refuses_when_nothing_overlaps(sources: list[Hit]) -> None:
    texts = {n: h.chunk.text for n, h in enumerate(sources, start=1)}
    assert extract_answer("谁发明了电话？", texts) == REFUSAL_ZH
    assert extract_answer("What is the capital of France?", texts) == REFUSAL_EN
    assert extract_answer("GPT-7 有多少参数？", texts) == REFUSAL_ZH  # a name no source mentions
    assert extract_answer("GPT-3 有多少参数？", {}) == REFUSAL_ZH


def test_closed_book_prompt_gets_a_refusal(sources: list[Hit]) -> None:
    built = build_messages("GPT-3 有多少参数？", sources, "closed_book")
    assert ExtractiveGenerator().generate(built.messages, SamplingParams()).answer == REFUSAL_ZH


def test_table_rows_read_as_header_value_pairs() -> None:
    table = "| 模型名称 | 发布时间 | 参数规模 |\n| --- | --- | --- |\n| GPT-3 | 2020-05 | 175B |\n| LaMDA | 2021-05 | 137B |"
    assert [s.text for s in split_sentences(table)] == [
        "模型名称: GPT-3；发布时间: 2020-05；参数规模: 175B",
        "模型名称: LaMDA；发布时间: 2021-05；参数规模: 137B",
    ]
    assert extract_answer("LaMDA 是什么时候发布的？", {1: table}) == "模型名称: LaMDA；发布时间: 2021-05 [1]。"
