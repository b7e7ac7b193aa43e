"""BM25 tokens: Chinese words via jieba, model names searchable whole and by their parts."""

from __future__ import annotations

import pytest

from core.lexical import tokenize


@pytest.mark.parametrize(
    "query, document",
    [
        ("GPT-3", "| GPT-3 | 2020-05 | OpenAI | 英 | 175B | 300B |"),
        ("gpt3 的参数", "GPT-3 将模型参数规模扩大至 175B"),
        ("Qwen 2.5", "Qwen2.5（2024-12，论文/发布集合）"),
        ("qwen2.5", "**Qwen2.5** (Qwen/阿里)"),
        ("mt-nlg", "Megatron-Turing NLG (MT-NLG) 是由 Microsoft 和 NVIDIA 共同研发"),
        ("175b", "GPT-3 175B"),
        ("ＧＰＴ－４", "GPT-4 是 OpenAI 继 ChatGPT 之后发布的"),
        ("2020年5月", "| GPT-3 | 2020-05 | OpenAI |"),
    ],
)
def test_queries_share_tokens_with_the_text_that_answers_them(query, document):
    assert set(tokenize(query)) & set(tokenize(document)) - {"的"}


def test_model_names_are_kept_whole_and_split():
    tokens = tokenize("GPT-3 有 175B 参数，Qwen2.5 和 MT-NLG")
    for token in ("gpt-3", "gpt", "3", "175b", "175", "qwen2.5", "qwen", "2.5", "mt-nlg", "mt", "nlg", "参数"):
        assert token in tokens
    assert "有" not in tokens and "，" not in tokens


def test_chinese_is_segmented_into_words():
    tokens = tokenize("混合专家模型通过门控网络路由到不同专家")
    assert {"混合", "专家", "模型", "门控", "网络"} <= set(tokens)
    assert all(len(t) < 8 for t in tokens)


def test_punctuation_only_gives_no_tokens():
    assert tokenize("，。！？ --- ***") == []


def test_the_bigram_channel_finds_a_term_jieba_splits_differently_in_the_report(corpus_index):
    from core.lexical import char_bigrams

    assert char_bigrams("通义千问（Qwen）") == ["通义", "义千", "千问"]
    row = next(r for r, c in enumerate(corpus_index.chunks) if "模型对长文本的处理能力" in c.text)
    assert "长" in tokenize("长文本") and "长" not in corpus_index.tokens[row]  # the report is cut 对长 / 文本
    assert row in [r for r, _ in corpus_index.bigram_search("长文本", 5)]
    assert row not in [r for r, _ in corpus_index.lexical_search("长文本", 5)]
