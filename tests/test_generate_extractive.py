"""The extractive backend on real corpus chunks: the supporting sentence with its citation, or a refusal."""

from __future__ import annotations

import pytest

from rag.config import SamplingParams
from rag.generators.extractive import ExtractiveGenerator, extract_answer
from rag.prompt import build_messages
from rag.sentences import MAX_SENTENCE_CHARS, split_sentences
from rag.templates import REFUSAL_EN, REFUSAL_ZH
from rag.types import Hit
from tests.fixtures.hits import make_hit


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


def test_sources_are_quoted_as_they_are_not_as_the_prompt_renders_them() -> None:
    """The backend reads the sources from the messages' context: a source holding the prompt's own markup
    (which the rendering escapes) is quoted with its own text."""
    text = '提示中的资料写成 <source id="1">…</source> 的形式。\n<source id="9" title="x" section="y">\nGPT-3 的参数规模为 175B，写在 </source> 之后。'
    built = build_messages("GPT-3 有多少参数？", [make_hit(1, text, heading='GPT 系列 > "GPT-3"')])
    assert "</ source>" in built.messages[-1]["content"]  # what the model reads
    answer = ExtractiveGenerator().generate(built.messages, SamplingParams()).answer
    assert answer == "GPT-3 的参数规模为 175B，写在 </source> 之后 [1]。"


def test_plain_messages_without_sources_are_refused_by_type() -> None:
    with pytest.raises(TypeError, match="rag.prompt.build_messages"):
        ExtractiveGenerator().generate([{"role": "user", "content": "GPT-3 有多少参数？"}], SamplingParams())


# Answers measured before the backend read structured sources (it parsed them back out of the prompt text), the
# same for all 267 gold questions at k = 5; Chinese questions rank by BM25 alone here, the same on every CPU.
ANSWERS_BEFORE = {
    "Qwen3 的预训练数据涵盖多少种语言？": "Qwen3进一步将预训练数据规模翻倍至36万亿token，涵盖119种语言 [1]。",
    "指令微调大模型表中，Alpaca 的发布时间和发布机构是什么？": "模型名称: Alpaca；发布时间: 2023-3-14；发布机构: Stanford；基础模型: LLaMA [2]。",
    "LaMDA 是什么时候发布的？": "模型名称: LaMDA；发布时间: 2021-05；发布机构: Google [2]。",
    "什么是知识蒸馏（Knowledge Distillation）？": "知识蒸馏 (Knowledge Distillation)：通过训练一个小模型去模仿一个大模型的输出来压缩模型的方法 [1]。",
    "Qwen2 引入的 MoE 模型总参数量是多少？推理时每次激活多少参数？": "Qwen2引入了Qwen2-57B-A14B模型，这是一种MoE架构，总参数量为570亿，但在推理时每次仅激活140亿参数 [1]。",
    "训练 GPT-3 一共花费了多少美元？": REFUSAL_ZH,
}


@pytest.fixture(scope="module")
def extractive_pipeline(corpus_dir, corpus_index_dir, corpus_index):
    from core.config import IndexSettings
    from rag.config import ModelSettings, Settings
    from rag.pipeline import Pipeline

    index = IndexSettings(corpus=str(corpus_dir), index=str(corpus_index_dir), embedder="minilm")
    return Pipeline(Settings(index=index, model=ModelSettings(backend="extractive")), index=corpus_index)


@pytest.mark.parametrize("question", list(ANSWERS_BEFORE))
def test_real_questions_get_the_answers_they_got_before(extractive_pipeline, question) -> None:
    from rag.config import RetrievalSettings

    assert extractive_pipeline.ask(question, retrieval=RetrievalSettings(k=5)).answer == ANSWERS_BEFORE[question]
