"""The assistant end to end on the real corpus index: retrieval quality, citations, refusals, the tiny Qwen3."""

from __future__ import annotations

import re

import pytest

from core.config import IndexSettings
from core.errors import UserError
from rag.config import ModelSettings, RetrievalSettings, SamplingParams, Settings
from rag.pipeline import Pipeline
from rag.sentences import ZH_CONJUNCTIONS
from rag.templates import REFUSAL_EN, REFUSAL_ZH
from tests.fixtures.fake_generator import FakeGenerator


def settings_for(corpus_dir, index_dir, **model) -> Settings:
    return Settings(
        index=IndexSettings(corpus=str(corpus_dir), index=str(index_dir), embedder="minilm"),
        model=ModelSettings(**model) if model else ModelSettings(backend="extractive"),
    )


@pytest.fixture(scope="module")
def retrieval_pipeline(corpus_dir, corpus_index_dir, corpus_index):
    return Pipeline(settings_for(corpus_dir, corpus_index_dir), index=corpus_index, generation=False)


def top_texts(pipeline: Pipeline, question: str, k: int) -> list[str]:
    return [h.chunk.text for h in pipeline.retrieve(question, RetrievalSettings(k=k))]


@pytest.mark.parametrize("question", ["GPT-3 有多少参数？", "How many parameters does GPT-3 have?"])
def test_gpt3_parameter_chunk_ranks_in_top3_in_both_languages(retrieval_pipeline, question):
    texts = top_texts(retrieval_pipeline, question, 3)
    assert any("GPT-3" in t and "175B" in t for t in texts), texts


def test_english_question_finds_a_fact_stated_only_in_chinese(retrieval_pipeline):
    texts = top_texts(retrieval_pipeline, "When was Chinchilla released and how many parameters does it have?", 5)
    assert any("Chinchilla" in t and "70B" in t for t in texts), texts


QWEN3_SIZES = ("Qwen3-235B-A22B", "Qwen3-14B")  # the chunk listing Qwen3's sizes (004_…, "强对弱蒸馏")


def test_chinese_model_name_retrieves_the_qwen3_sizes(retrieval_pipeline):
    texts = top_texts(retrieval_pipeline, "千问3 有哪些模型尺寸？", 5)
    assert any(all(s in t for s in QWEN3_SIZES) for t in texts), texts


@pytest.mark.parametrize(
    ("question", "needles"),
    [
        ("What sizes does 千问3 come in?", QWEN3_SIZES),  # an English question with a Chinese name (curated table)
        ("龙猫有多少参数？", ("Chinchilla", "70B")),  # a name the reports state: "Chinchilla（龙猫）是…模型"
        ("How many parameters does 龙猫 have?", ("Chinchilla", "70B")),
        ("ERNIE Bot 是什么？", ("文心一言",)),  # a Latin name whose passage says "EENIE Bot 就是百度的文心一言" (sic)
        ("What is 文心一言?", ("文心一言", "ERNIE")),
    ],
)
def test_model_names_find_passages_written_with_their_other_names(retrieval_pipeline, question, needles):
    texts = top_texts(retrieval_pipeline, question, 5)
    assert any(all(n in t for n in needles) for t in texts), texts


def test_chinese_questions_rank_by_bm25_alone_on_an_english_only_embedder(retrieval_pipeline):
    assert retrieval_pipeline.index.manifest.embedder_id == "sentence-transformers/all-MiniLM-L6-v2"
    chinese = retrieval_pipeline.retrieve("GPT-3 有多少参数？", RetrievalSettings(k=5))
    assert chinese and all(h.dense_rank is None and h.lexical_rank is not None for h in chinese)
    english = retrieval_pipeline.retrieve("How many parameters does GPT-3 have?", RetrievalSettings(k=5))
    assert any(h.dense_rank is not None for h in english)
    candidates = retrieval_pipeline.retriever.candidates("How many parameters does GPT-3 have?", RetrievalSettings(k=5))
    rows = [h for h in candidates if h.chunk.kind == "row"]
    assert rows and all(h.dense_rank is None for h in rows)  # row records rank by BM25 only
    only_question_words = retrieval_pipeline.retrieve("是什么？", RetrievalSettings(k=5))  # no BM25 term: dense
    assert only_question_words and all(h.dense_rank is not None for h in only_question_words)


@pytest.fixture(scope="module")
def extractive_pipeline(corpus_dir, corpus_index_dir, corpus_index):
    return Pipeline(settings_for(corpus_dir, corpus_index_dir), index=corpus_index)


def test_extractive_answer_to_a_chinese_model_name_states_the_sizes(extractive_pipeline):
    answer = extractive_pipeline.ask("千问3 有哪些模型尺寸？")
    assert answer.backend == "extractive" and not answer.refused
    assert re.search(r"Qwen3-\d+B", answer.answer), answer.answer


def test_extractive_answers_keep_the_fact_and_start_with_a_content_word(extractive_pipeline):
    llama = extractive_pipeline.ask("LLaMA 2 有哪些尺寸？").answer
    assert "7B" in llama and "70B" in llama, llama
    gpt3 = extractive_pipeline.ask("GPT-3 有多少参数？").answer
    assert "175B" in gpt3 and gpt3.startswith("GPT-3"), gpt3
    assert not gpt3.startswith(tuple(ZH_CONJUNCTIONS))


def test_a_chinese_model_name_is_carried_into_the_follow_up(extractive_pipeline):
    first = extractive_pipeline.ask("通义千问有哪些尺寸？")
    second = extractive_pipeline.ask("它是哪年发布的？", history=[("通义千问有哪些尺寸？", first.answer)])
    assert second.params["standalone_question"] == "通义千问是哪年发布的？"
    assert any("Qwen" in h.chunk.text for h in second.sources)


def test_retrieved_sources_are_distinct(retrieval_pipeline):
    hits = retrieval_pipeline.retrieve("GPT-3 有多少参数？", RetrievalSettings(k=8))
    ids = [h.chunk.chunk_id for h in hits]
    assert len(ids) == len(set(ids))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_dense_only_retrieval_skips_bm25(retrieval_pipeline):
    hits = retrieval_pipeline.retrieve("GPT-3 有多少参数？", RetrievalSettings(k=5, hybrid=False))
    assert hits and all(h.lexical_rank is None and h.dense_rank is not None for h in hits)


def test_citations_map_to_the_original_file_and_out_of_range_numbers_are_dropped(corpus_dir, corpus_index_dir, corpus_index):
    fake = FakeGenerator(["GPT-3 有 175B 参数 [1]，另见 [9]。"])
    pipeline = Pipeline(settings_for(corpus_dir, corpus_index_dir), index=corpus_index, generator=fake)
    answer = pipeline.ask("GPT-3 有多少参数？", retrieval=RetrievalSettings(k=3))
    assert [c.n for c in answer.citations] == [1]
    cited = answer.citations[0]
    source = answer.sources[0].chunk
    assert (cited.doc, cited.heading, cited.start, cited.end) == (source.doc_id, source.heading, source.start, source.end)
    original = corpus_index.original(cited.doc)
    assert original[cited.start : cited.end].strip()
    assert not answer.refused and answer.backend == "fake"
    system, user = fake.calls[0][0]
    assert system["role"] == "system" and "[1]" in system["content"]
    assert source.text.splitlines()[0] in user["content"]


@pytest.mark.parametrize(("question", "reply"), [("GPT-5 的参数量是多少？", REFUSAL_ZH), ("Who founded Mistral?", REFUSAL_EN)])
def test_refusal_is_reported_as_refused_without_citations(corpus_dir, corpus_index_dir, corpus_index, question, reply):
    pipeline = Pipeline(settings_for(corpus_dir, corpus_index_dir), index=corpus_index, generator=FakeGenerator([reply]))
    answer = pipeline.ask(question)
    assert answer.refused and answer.citations == []
    assert answer.to_json()["refused"] is True


@pytest.mark.parametrize(
    ("reply", "refused"),
    [("资料[1]中没有提到 GPT-5 的参数量。", True), ("资料中没有找到相关信息。不过，GPT-5 大约有 10T 参数 [1]。", False)],
)
def test_refused_field_uses_the_form_based_detector(corpus_dir, corpus_index_dir, corpus_index, reply, refused):
    """A cited refusal is a refusal; the refusal sentence followed by an invented answer is an answer."""
    pipeline = Pipeline(settings_for(corpus_dir, corpus_index_dir), index=corpus_index, generator=FakeGenerator([reply]))
    answer = pipeline.ask("GPT-5 的参数量是多少？")
    assert answer.to_json()["refused"] is refused
    assert [c.n for c in answer.citations] == [1]


def test_thinking_is_returned_apart_from_the_answer(corpus_dir, corpus_index_dir, corpus_index):
    fake = FakeGenerator(["<think>来源 [1] 提到 175B。</think>GPT-3 有 175B 参数 [1]。"])
    pipeline = Pipeline(settings_for(corpus_dir, corpus_index_dir), index=corpus_index, generator=fake)
    answer = pipeline.ask("GPT-3 有多少参数？", sampling=SamplingParams(thinking=True))
    assert answer.thinking == "来源 [1] 提到 175B。"
    assert "<think>" not in answer.answer and answer.answer.startswith("GPT-3 有 175B")


def test_follow_up_is_rewritten_before_retrieval(corpus_dir, corpus_index_dir, corpus_index):
    fake = FakeGenerator(["175B [1]", "2020-05 [1]"])
    pipeline = Pipeline(settings_for(corpus_dir, corpus_index_dir), index=corpus_index, generator=fake)
    first = pipeline.ask("GPT-3 有多少参数？")
    second = pipeline.ask("它是什么时候发布的？", history=[("GPT-3 有多少参数？", first.answer)])
    assert "GPT-3" in second.params["standalone_question"]


def test_empty_question_and_unknown_prompt_are_user_errors(corpus_dir, corpus_index_dir, corpus_index):
    pipeline = Pipeline(settings_for(corpus_dir, corpus_index_dir), index=corpus_index, generator=FakeGenerator([]))
    with pytest.raises(UserError, match="empty"):
        pipeline.ask("   ")
    with pytest.raises(UserError, match="prompt template"):
        pipeline.ask("GPT-3?", prompt="no-such-template")


@pytest.fixture(scope="module")
def tiny_pipeline(corpus_dir, corpus_index_dir, corpus_index, tiny_qwen_dir):
    settings = settings_for(corpus_dir, corpus_index_dir, model=str(tiny_qwen_dir), dtype="float32")
    return Pipeline(settings, index=corpus_index)


def test_tiny_qwen_answers_are_reproducible_under_a_seed(tiny_pipeline):
    params = SamplingParams(seed=7, max_new_tokens=12)
    a = tiny_pipeline.ask("GPT-3 有多少参数？", sampling=params)
    b = tiny_pipeline.ask("GPT-3 有多少参数？", sampling=params)
    assert a.backend == "transformers" and not tiny_pipeline.notices
    assert a.answer == b.answer
    assert 1 <= a.timings["new_tokens"] <= 12
    assert a.params["sampling"]["seed"] == 7


def test_tiny_qwen_streams_the_answer_it_returns(tiny_pipeline):
    pieces: list[str] = []
    answer = tiny_pipeline.ask("How many parameters does GPT-3 have?", sampling=SamplingParams(seed=1, max_new_tokens=16), on_token=pieces.append)
    assert "".join(pieces).strip() == answer.answer.strip()


def test_missing_model_falls_back_to_extractive_answers_with_a_notice(corpus_dir, corpus_index_dir, corpus_index, tmp_path):
    missing = tmp_path / "no-such-model"
    pipeline = Pipeline(settings_for(corpus_dir, corpus_index_dir, model=str(missing)), index=corpus_index)
    assert pipeline.generator.backend == "extractive"
    assert len(pipeline.notices) == 1 and str(missing) in pipeline.notices[0]
    answer = pipeline.ask("GPT-3 有多少参数？")
    assert "175" in answer.answer and answer.citations


def test_status_names_model_backend_and_index(retrieval_pipeline):
    status = retrieval_pipeline.status()
    assert status["index"]["documents"] == 5 and status["index"]["chunks"] > 100
    assert status["index"]["embedder"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert status["index"]["built_at"].startswith("20")


@pytest.fixture(scope="module")
def tiny_reranker(tmp_path_factory) -> str:
    """A random-weight one-layer BERT cross-encoder (the bundled MiniLM's tokenizer), saved as a local folder."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from core.embed import bundled_model_path

    folder = tmp_path_factory.mktemp("tiny-reranker")
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=1)  # fmt: skip
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_reranking_orders_sources_by_the_cross_encoder(retrieval_pipeline, tiny_reranker):
    hits = retrieval_pipeline.retrieve("GPT-3 有多少参数？", RetrievalSettings(k=5, rerank=True, reranker=tiny_reranker))
    scores = [h.rerank_score for h in hits]
    assert len(hits) >= 3 and all(s is not None for s in scores)
    assert scores == sorted(scores, reverse=True)  # a merged source keeps its better-ranked part's score


def test_unavailable_reranker_turns_reranking_off_with_a_notice(corpus_dir, corpus_index_dir, corpus_index, tmp_path, capsys):
    pipeline = Pipeline(settings_for(corpus_dir, corpus_index_dir), index=corpus_index)
    retrieval = RetrievalSettings(rerank=True, reranker=str(tmp_path / "no-reranker-here"))
    answer = pipeline.ask("GPT-3 有多少参数？", retrieval=retrieval)
    assert answer.sources and all(h.rerank_score is None for h in answer.sources)
    assert any(n.startswith("reranking is off") and "no-reranker-here" in n for n in answer.notices)
    assert capsys.readouterr().err.count("warning: reranking is off") == 1
    assert not any("reranking" in n for n in pipeline.ask("GPT-3 有多少参数？").notices)  # not asked: no notice
