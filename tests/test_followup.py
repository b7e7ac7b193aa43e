"""Follow-up questions rewritten into standalone ones, and the names that are carried."""

from __future__ import annotations

import pytest

from rag.aliases import Alias
from rag.followup import model_names, rewrite_followup
from rag.glossary import CURATED_ALIASES


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("GPT-3 和 PaLM 谁更大？", ["GPT-3", "PaLM"]),
        ("How many parameters does Chinchilla have?", ["Chinchilla"]),
        ("千问3 有哪些模型尺寸？", ["千问3"]),
        ("通义千问2.5-7B 和 Qwen3 哪个新？", ["通义千问2.5-7B", "Qwen3"]),
        ("文心一言和文心 4.0 有什么区别？", ["文心一言", "文心 4.0"]),
        ("what is kimi?", ["kimi"]),  # a listed name counts in lower case too
        ("How many parameters does 混元 have?", ["混元"]),
        ("谁提出了注意力机制？", []),
    ],
)
def test_model_names(text: str, names: list[str]) -> None:
    assert model_names(text) == names


def test_learned_aliases_are_names_when_given() -> None:
    learned = CURATED_ALIASES.with_pairs([Alias("Chinchilla", "龙猫", "002_6ac13b971160b9c7.txt#0017")])
    assert model_names("龙猫有多少参数？") == []
    assert model_names("龙猫有多少参数？", learned) == ["龙猫"]
    assert rewrite_followup([("龙猫有多少参数？", "")], "它是哪年发布的？", learned) == "龙猫是哪年发布的？"


@pytest.mark.parametrize(
    ("history", "question", "standalone"),
    [
        ([("GPT-3 有多少参数？", "175B [1]")], "它是哪年发布的？", "GPT-3是哪年发布的？"),
        ([("GPT-3 有多少参数？", "175B [1]")], "这个模型是谁开发的？", "GPT-3是谁开发的？"),
        ([("GPT-3 有多少参数？", "175B [1]")], "那 GPT-4 呢？", "GPT-4 有多少参数？"),
        ([("GPT-3 有多少参数？", "175B [1]")], "那参数量呢？", "GPT-3 的参数量？"),
        (["GPT-3 和 PaLM 谁更大？"], "它们是哪年发布的？", "GPT-3 和 PaLM是哪年发布的？"),
        ([("How many parameters does GPT-3 have?", "175B [1]")], "When was it released?", "When was GPT-3 released?"),
        ([("How many parameters does GPT-3 have?", "")], "What about PaLM?", "How many parameters does PaLM have?"),
        ([("How many parameters does GPT-3 have?", "")], "what about its release date?", "the release date of GPT-3?"),
        ([("GPT-3 有多少参数？", ""), ("它是哪年发布的？", "")], "它的作者是谁？", "GPT-3的作者是谁？"),
        # unchanged: names of its own, nothing to carry, or no history
        ([("GPT-3 有多少参数？", "")], "LaMDA 是哪年发布的？", "LaMDA 是哪年发布的？"),
        ([("谁提出了注意力机制？", "")], "它是哪年提出的？", "它是哪年提出的？"),
        ([], "它是哪年发布的？", "它是哪年发布的？"),
        # Chinese names are names: they are carried, and they count as the follow-up's own names
        ([("通义千问有哪些尺寸？", "")], "它是哪年发布的？", "通义千问是哪年发布的？"),
        ([("千问3 有哪些模型尺寸？", "")], "它是谁开发的？", "千问3是谁开发的？"),
        ([("GPT-3 有多少参数？", "")], "那文心一言呢？", "文心一言 有多少参数？"),
        ([("文心一言是什么？", "")], "那混元呢？", "混元是什么？"),
        ([("How many parameters does 混元 have?", "")], "When was it released?", "When was 混元 released?"),
        ([("GPT-3 有多少参数？", "")], "月之暗面发布了什么？", "月之暗面发布了什么？"),
    ],
)
def test_rewrite_followup(history: list, question: str, standalone: str) -> None:
    assert rewrite_followup(history, question) == standalone
