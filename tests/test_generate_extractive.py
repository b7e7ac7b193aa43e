"""The extractive backend on real corpus chunks: the supporting sentence with its citation, or a refusal."""

from __future__ import annotations

import pytest

from rag.config import SamplingParams
from rag.generators.extractive import ExtractiveGenerator, extract_answer
from rag.prompt import REFUSAL_EN, REFUSAL_ZH, build_messages
from rag.sentences import MAX_SENTENCE_CHARS, split_sentences
from rag.types import Hit


@pytest.fixture(scope="module")
def corpus_chunks(corpus_dir):
    from core.corpus import iter_documents
    from ingest.chunk import chunk_document
    from ingest.clean import clean_text

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


def test_sentences_end_at_sentence_ends_and_line_ends_not_at_semicolons() -> None:
    text = "* **Llama 2（2023-07-18，论文）**：7B–70B；包含对话版 Llama 2-Chat；\n  简评：开源 chat 模型“能打”的起点之一。其后的开源模型大多沿用了这一路线。"
    assert [s.text for s in split_sentences(text)] == [
        "Llama 2（2023-07-18，论文）：7B–70B；包含对话版 Llama 2-Chat；",
        "简评：开源 chat 模型“能打”的起点之一。",
        "其后的开源模型大多沿用了这一路线。",
    ]
    assert extract_answer("LLaMA 2 有哪些尺寸？", {1: text}) == "Llama 2（2023-07-18，论文）：7B–70B；包含对话版 Llama 2-Chat [1]。"


def test_a_sentence_too_long_to_quote_is_cut_at_its_semicolons() -> None:
    clause = "这一部分说明模型的训练数据与参数规模" * 6
    parts = [s.text for s in split_sentences(f"{clause}；但是{clause}；{clause}。")]
    assert parts == [f"{clause}；", f"{clause}；", f"{clause}。"]
    assert all(len(p) <= MAX_SENTENCE_CHARS for p in parts)


@pytest.mark.parametrize(
    ("sentence", "quoted"),
    [
        ("但 GPT-3 将模型参数规模扩大至 175B。", "GPT-3 将模型参数规模扩大至 175B。"),
        ("但是，GPT-3 的训练数据达到 300B token。", "GPT-3 的训练数据达到 300B token。"),
        ("而 GPT-4 的参数规模没有公开。", "GPT-4 的参数规模没有公开。"),
        ("因此 Chinchilla 用更少的参数取得了更好的效果。", "Chinchilla 用更少的参数取得了更好的效果。"),
        ("However, the model has 175B parameters.", "The model has 175B parameters."),
        ("And it was trained on 300B tokens.", "It was trained on 300B tokens."),
        ("同时期的其他模型也在扩大规模。", "同时期的其他模型也在扩大规模。"),  # 同时期 is a word, not 同时 + 期
        ("Andromeda is not a conjunction.", "Andromeda is not a conjunction."),
    ],
)
def test_a_leading_conjunction_is_not_quoted(sentence: str, quoted: str) -> None:
    assert [s.text for s in split_sentences(sentence)] == [quoted]


def test_a_chinese_name_matches_the_name_the_source_uses() -> None:
    source = "利用旗舰模型（如Qwen3-235B-A22B MoE）生成的知识来训练较小的密集模型（如Qwen3-14B, Qwen3-32B）。"
    assert extract_answer("千问3 有哪些模型尺寸？", {1: source}) == source.rstrip("。") + " [1]。"
    assert extract_answer("千问2 有哪些模型尺寸？", {1: source}) == REFUSAL_ZH  # another version is another model


def test_aliases_the_sources_state_are_used() -> None:
    sources = {1: "Chinchilla（龙猫）是 DeepMind 发布的大语言模型，拥有 70B 的参数规模。", 2: "Gopher 有 280B 参数。"}
    assert extract_answer("龙猫有多少参数？", sources) == "Chinchilla（龙猫）是 DeepMind 发布的大语言模型，拥有 70B 的参数规模 [1]。"
    assert extract_answer("How many parameters does 龙猫 have?", {2: sources[2]}) == REFUSAL_EN
