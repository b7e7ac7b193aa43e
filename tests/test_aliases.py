"""Model-name aliases: the pairs learned from the reports (and where), the curated table, query expansion."""

from __future__ import annotations

import pytest

from rag.aliases import Alias, Aliases, learn_aliases
from rag.glossary import CURATED_ALIASES, NAME_ALIASES, expand_query, lexical_terms


def test_the_reports_state_these_model_aliases(corpus_index) -> None:
    learned = learn_aliases((c.chunk_id, c.text) for c in corpus_index.chunks)
    text_of = {c.chunk_id: c.text for c in corpus_index.chunks}
    assert {(a.name, a.alias, a.source.split("#")[0]) for a in learned} == {
        ("Chinchilla", "龙猫", "002_6ac13b971160b9c7.txt"),  # "Chinchilla（龙猫）是 DeepMind 发布的大语言模型"
        ("Alpaca", "羊驼", "002_6ac13b971160b9c7.txt"),  # "Alpaca（羊驼）模型是斯坦福大学…"
        ("Chinese-Vicuna", "小羊驼", "002_6ac13b971160b9c7.txt"),  # "Chinese-Vicuna （小羊驼）模型"
        ("EENIE Bot", "文心一言", "002_6ac13b971160b9c7.txt"),  # "EENIE Bot 就是百度的文心一言，…的对话模型" (sic)
    }
    for a in learned:
        assert a.evidence in text_of[a.source] and a.name in a.evidence and a.alias in a.evidence


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("通义千问（Qwen）是阿里巴巴发布的大语言模型。", ("Qwen", "通义千问")),
        ("Qwen（通义千问）模型由阿里云推出。", ("Qwen", "通义千问")),
        ("Hunyuan (混元) is Tencent's large language model.", ("Hunyuan", "混元")),
        ("ERNIE Bot，即文心一言，是百度的对话模型。", ("ERNIE Bot", "文心一言")),
        ("文心一言即 ERNIE Bot，百度推出的对话模型。", ("ERNIE Bot", "文心一言")),
        ("Kimi 又称月之暗面助手，是一个长上下文模型。", ("Kimi", "月之暗面助手")),
    ],
)
def test_stated_pairs_are_learned(text: str, pair: tuple[str, str]) -> None:
    learned = learn_aliases([("doc.txt#0000", text)])
    assert [(a.name, a.alias, a.source) for a in learned] == [(*pair, "doc.txt#0000")]


@pytest.mark.parametrize(
    "text",
    [
        "在位置编码方面，选择了RoPE（旋转位置编码）以处理变长序列，并提升模型的长度外推。",  # a term gloss
        "抓取Reddit上获得至少3个Karma（点赞）的出站链接。",  # not said to be a model
        "以及 Luotuo（骆驼）: Chinese-alpaca-lora。",  # a model, but the sentence does not say so
        "in-context learning（上下文学习）是大模型的能力。",  # lower case: not a name
        "GPT-4 就是一种多模态模型，它是 OpenAI 的模型。",  # a description, not a name
        "利用GRPO（分组相对策略优化）来优化模型在主观任务上的表现。",  # "模型" but no definition
    ],
)
def test_glosses_and_descriptions_are_not_learned(text: str) -> None:
    assert learn_aliases([("doc.txt#0000", text)]) == []


@pytest.mark.parametrize(("latin", "chinese"), [(k, zh) for k, v in NAME_ALIASES.items() for zh in v])
def test_every_table_entry_expands_both_ways(latin: str, chinese: str) -> None:
    assert latin in CURATED_ALIASES.expansions(f"{chinese} 是什么？")
    assert chinese in CURATED_ALIASES.expansions(f"What is {latin}?")


@pytest.mark.parametrize(
    ("question", "expansions"),
    [
        ("千问3 有哪些模型尺寸？", ["Qwen3", "通义千问3"]),  # the version carries over
        ("通义千问2.5-7B 的上下文长度", ["Qwen2.5-7B", "千问2.5-7B"]),
        ("qwen3 有多大？", ["通义千问3", "千问3"]),  # Latin names match in any case
        ("文心一言是什么？", ["ERNIE Bot"]),  # the longest name wins: not 文心 → ERNIE
        ("文心 3.0 的参数", ["ERNIE 3.0"]),
        ("ChatGLM 是谁做的？", ["智谱清言"]),  # GLM inside ChatGLM is not GLM
        ("What is the Qwenlike model?", []),  # nor Qwen inside a longer word
        ("月之暗面发布了什么？", ["Kimi", "Moonshot AI"]),  # two names of one maker merge into one group
        ("GPT-3 有多少参数？", []),
    ],
)
def test_table_expansions(question: str, expansions: list[str]) -> None:
    assert CURATED_ALIASES.expansions(question) == expansions


def test_learned_pairs_merge_with_the_table() -> None:
    aliases = CURATED_ALIASES.with_pairs([Alias("EENIE Bot", "文心一言", "002_6ac13b971160b9c7.txt#0044")])
    assert aliases.expansions("ERNIE Bot 是什么？") == ["文心一言", "EENIE Bot"]
    assert aliases.variants("千问3") == ["千问3", "Qwen3", "通义千问3"]
    assert aliases.variants("GPT-3") == ["GPT-3"]
    assert Aliases().expansions("千问3") == []


def test_bm25_terms_gain_the_other_names() -> None:
    assert expand_query("千问3 有哪些模型尺寸？") == "千问3 有哪些模型尺寸？ Qwen3 通义千问3"
    terms = lexical_terms("千问3 有哪些模型尺寸？")
    assert "qwen3" in terms and "哪些" not in terms
    learned = CURATED_ALIASES.with_pairs([Alias("Chinchilla", "龙猫", "t")])
    assert "chinchilla" in lexical_terms("How many parameters does 龙猫 have?", learned)
    assert "chinchilla" not in lexical_terms("How many parameters does 龙猫 have?")
