"""The scorer against a table of adversarial and ordinary answers, in Chinese and English, with the verdict
each must get: guess lists, uncited values, values found only in an uncited source, negations, refusal then an
answer, cited refusals, hedges, numbers in every spelling, GPT-4 vs GPT-4o.

Each answer cites sources as `[n]` = `sources[n - 1]`, exactly as `python -m eval.score` and the report read
them. The expected verdict is `SampleScore.reason`: None for grounded-correct, else why it failed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from eval.metrics import HALLUCINATED, HEDGED, NEGATED, NOT_CITED, NOT_HIT, REFUSED, TOO_LONG, score_sample
from eval.qa import Evidence, QAItem
from rag.citations import parse_citations
from rag.templates import REFUSAL_EN, REFUSAL_ZH

DOC = "002_6ac13b971160b9c7.txt"


def _item(qid: str, question: str, answers: list[list[str]], quote: str = "") -> QAItem:
    answerable = bool(answers)
    return QAItem(
        id=qid, lang="zh", question=question, answers=tuple(tuple(g) for g in answers), answerable=answerable,
        type="fact" if answerable else "unanswerable", evidence=(Evidence(DOC, quote),) if answerable else (),
    )  # fmt: skip


GPT3_SRC = "GPT-3（2020-05）将模型参数规模扩大至 1750亿，是 GPT-2 的 100 倍。"
OPT_SRC = "OPT 是 Meta 发布的一系列模型，规模从 125M 到 175B（125M–175B）。"
OTHER_SRC = "Transformer 于 2017 年提出，采用自注意力机制。"
GPT3 = _item("gpt3-params", "GPT-3 有多少参数？", [["175B", "1750亿", "175 billion"]], "将模型参数规模扩大至 1750亿")
GPT3_LAYERS = _item("gpt3-layers", "GPT-3 有多少层？", [])
LLAMA33_SRC = "| Llama 3.3 | 2024-12 | Meta | 英 | 70B |"
LLAMA33 = _item("llama33", "Llama 3.3 是什么时候发布的？", [["2024-12", "2024年12月", "December 2024", "Dec 2024"]], "2024-12")
GPT3_DATE_SRCS = ("| GPT-3 | 2020-05 | OpenAI | 英 | 175B |", "GPT-3（2020-07，论文）：175B 参数")
GPT3_DATE = _item(
    "gpt3-date", "GPT-3 是什么时候发布的？",
    [["2020-05", "2020年5月", "May 2020"], ["2020-07", "2020年7月", "July 2020"]], "2020-05",
)  # fmt: skip
RBRM_SRC = "| GPT-4 | RLHF + RBRM | 多模态 |"
RBRM = _item("rbrm", "对比表中哪个模型用 RLHF 加基于规则的奖励模型对齐？", [["GPT-4"]], "RLHF + RBRM")
QWEN_SRC = "| Qwen | 3T tokens | 中英 |"
QWEN = _item("qwen-tokens", "对比表中 Qwen 的预训练规模是多少？", [["3T", "3万亿", "3 trillion"]], "3T tokens")
LLAMA_SRC = "LLaMA 提供 7B、13B、33B、65B 四种规模。"
LLAMA = _item("llama-smallest", "LLaMA 最小的模型有多少参数？", [["7B", "70亿"]], "7B、13B")
RULE_SRC = "引入基于规则的奖励模型后，GPT-4 响应违规内容的倾向比 GPT-3.5 降低了 82%。"
RULE = _item("rbrm-drop", "GPT-4 响应违规内容的倾向比 GPT-3.5 降低了多少？", [["82%"]], "降低了 82%")
CHINCHILLA_SRC = "| Chinchilla | 2022-04 | DeepMind | 英 | 70B | 1.4T |"
CHINCHILLA = _item(
    "chinchilla-tokens", "Chinchilla 的训练 Tokens 规模是多少？", [["1.4T", "1.4万亿", "1.4 trillion", "14000亿"]], "1.4T"
)  # fmt: skip
LIST_SRC = "三个规模：70，175 和 540。"
LIST = _item("three-numbers", "这三个规模分别是多少？", [["70"], ["175"], ["540"]], "70，175 和 540")


@dataclass(frozen=True)
class Case:
    item: QAItem
    answer: str
    sources: tuple[str, ...]
    reason: str | None  # expected SampleScore.reason; None = grounded-correct


S = (GPT3_SRC, OPT_SRC, OTHER_SRC)
CASES = [
    # ordinary right answers, the value in every spelling, cited
    Case(GPT3, "GPT-3 有 1750 亿参数 [1]。", S, None),
    Case(GPT3, "GPT-3 has 175 billion parameters [1].", S, None),
    Case(GPT3, "GPT-3 的参数量为 1.75千亿 [1]。", S, None),
    Case(GPT3, "GPT-3 has 175B parameters [1].", S, None),
    Case(GPT3, "１７５Ｂ［１］", S, None),
    Case(GPT3, "GPT-3 的参数量是 1,750 亿【1】。", S, None),
    Case(GPT3, "<think>也许是 13B？</think>GPT-3 有 175B 参数 [1]。", S, None),  # thinking is not scored
    Case(GPT3, "GPT-3 有 175B 参数 [1][2][3]。", S, None),  # extra citations lower citation precision only
    Case(GPT3, "GPT-3 有 175B 参数 [1]，但无法确定层数。", S, None),  # a hedge inside an answer is no refusal
    Case(GPT3, "GPT-3 的参数不是 13B，而是 175B [1]。", S, None),  # a rejected value is not a candidate
    Case(GPT3, "It is not 13B but 175B [1].", S, None),
    # uncited values, and values found only in a source the answer does not cite
    Case(GPT3, "GPT-3 有 175B 参数。", S, NOT_CITED),
    Case(GPT3, "GPT-3 has 175 billion parameters.", S, NOT_CITED),
    Case(GPT3, "GPT-3 有 175B 参数 [3]。", S, NOT_CITED),  # cites an unrelated source
    Case(GPT3, "175B [1]", (OTHER_SRC, GPT3_SRC), NOT_CITED),  # the value is only in source 2
    Case(GPT3, "GPT-3 有 175B 参数。", (OPT_SRC,), NOT_CITED),  # OPT's "125M–175B" shown, nothing cited
    # guess lists and hedged answers
    Case(GPT3, "7B、13B、70B、125M、175B、540B [1][2][3]", S, HEDGED),
    Case(GPT3, "GPT-3 可能有 13B 或 175B 参数 [1]。", S, HEDGED),
    Case(GPT3, "Either 175B or 1.3B [1].", S, HEDGED),
    Case(GPT3, "GPT-3 有 175B 参数 [1]，GPT-2 只有 1.5B。", S, HEDGED),  # another size of the same kind counts
    # negations
    Case(GPT3, "GPT-3 不是 175B [1]。", S, NEGATED),
    Case(GPT3, "GPT-3 的参数量并非 1750 亿 [1]。", S, NEGATED),
    Case(GPT3, "GPT-3 does not have 175B parameters [1].", S, NEGATED),
    Case(GPT3, "GPT-3 isn’t 175 billion [1].", S, NEGATED),
    # wrong values
    Case(GPT3, "GPT-3 有 17.5B 参数 [1]。", S, NOT_HIT),
    Case(GPT3, "GPT-3 有 175 亿参数 [1]。", S, NOT_HIT),  # 17.5 billion
    Case(GPT3, "GPT-3 有 1750 个参数 [1]。", S, NOT_HIT),
    Case(GPT3, "", S, NOT_HIT),  # cut off while thinking
    # refusals on an answerable question, and context dumping
    Case(GPT3, REFUSAL_ZH, S, REFUSED),
    Case(GPT3, "资料[1]中没有提到 GPT-3 的参数量。", S, REFUSED),
    Case(GPT3, "I don’t know.", S, REFUSED),
    Case(GPT3, " ".join([GPT3_SRC + " [1]"] * 12), S, TOO_LONG),
    Case(GPT3, " ".join(["GPT-3 has 175 billion parameters and was released by OpenAI [1]."] * 10), S, TOO_LONG),
    # unanswerable: refusals in every form are right, anything else is a hallucination
    Case(GPT3_LAYERS, REFUSAL_ZH, S, None),
    Case(GPT3_LAYERS, REFUSAL_EN, S, None),
    Case(GPT3_LAYERS, "资料[1]中没有提到 GPT-3 的层数。", S, None),
    Case(GPT3_LAYERS, "资料【1】只介绍了 GPT-3 的发布，没有提到层数。", S, None),
    Case(GPT3_LAYERS, "I don’t know.", S, None),
    Case(GPT3_LAYERS, "抱歉，我不知道", S, None),
    Case(GPT3_LAYERS, "文中未提及该信息", S, None),
    Case(GPT3_LAYERS, "没有相关信息", S, None),
    Case(GPT3_LAYERS, "There is no mention of the number of layers [1].", S, None),
    Case(GPT3_LAYERS, "The sources do not specify how many layers GPT-3 has [1].", S, None),
    Case(GPT3_LAYERS, "I don't have that information.", S, None),
    Case(GPT3_LAYERS, "资料中没有找到相关信息。不过 GPT-3 大约有 96 层。", S, HALLUCINATED),
    Case(GPT3_LAYERS, "The reports do not contain this information. However, GPT-3 has 96 layers.", S, HALLUCINATED),
    Case(GPT3_LAYERS, "资料中没有找到相关信息，但 GPT-3 可能是 OpenAI 最深的模型。", S, HALLUCINATED),
    Case(GPT3_LAYERS, "GPT-3 有 96 层 [1]。", S, HALLUCINATED),
    Case(GPT3_LAYERS, "GPT-3 有 175B 参数 [1]，但无法确定层数。", S, HALLUCINATED),
    Case(GPT3_LAYERS, "", S, HALLUCINATED),
    # dates in every form, at the gold's precision
    Case(LLAMA33, "Llama 3.3 于 2024 年 12 月发布 [1]。", (LLAMA33_SRC,), None),
    Case(LLAMA33, "Llama 3.3 was released in December 2024 [1].", (LLAMA33_SRC,), None),
    Case(LLAMA33, "2024-12 [1]", (LLAMA33_SRC,), None),
    Case(LLAMA33, "2024.12 [1]", (LLAMA33_SRC,), None),
    Case(LLAMA33, "Dec 2024 [1]", (LLAMA33_SRC,), None),
    Case(LLAMA33, "Llama 3.3 发布于 2024年12月6日 [1]。", (LLAMA33_SRC,), None),  # more precise, consistent
    Case(LLAMA33, "Llama 3.3 于 2024 年发布 [1]。", (LLAMA33_SRC,), NOT_HIT),  # less precise
    Case(LLAMA33, "2024年9月或2024年12月 [1]", (LLAMA33_SRC,), HEDGED),
    # two gold values (the reports disagree): both needed, each from a cited source
    Case(GPT3_DATE, "一份资料说 2020年5月 [1]，另一份说 2020年7月 [2]。", GPT3_DATE_SRCS, None),
    Case(GPT3_DATE, "May 2020 [1] or July 2020 [2].", GPT3_DATE_SRCS, None),
    Case(GPT3_DATE, "2020年5月 [1]", GPT3_DATE_SRCS, NOT_HIT),
    Case(GPT3_DATE, "2020年5月 [1]，2020年7月。", GPT3_DATE_SRCS, NOT_CITED),
    Case(GPT3_DATE, "2020年5月 [1]、2020年7月 [2] 或 2020年9月。", GPT3_DATE_SRCS, HEDGED),
    # names: GPT-4 is not GPT-4o or GPT-4.1
    Case(RBRM, "GPT-4 [1]", (RBRM_SRC,), None),
    Case(RBRM, "是 GPT-4 [1]。", (RBRM_SRC,), None),
    Case(RBRM, "GPT-4o [1]", (RBRM_SRC,), NOT_HIT),
    Case(RBRM, "GPT-4.1 [1]", (RBRM_SRC,), NOT_HIT),
    # 3T is not "3 times", 7B is not "7 bits"
    Case(QWEN, "3T tokens [1]", (QWEN_SRC,), None),
    Case(QWEN, "约 3万亿 token [1]。", (QWEN_SRC,), None),
    Case(QWEN, "3 trillion tokens [1].", (QWEN_SRC,), None),
    Case(QWEN, "About 3 times more data than before [1].", (QWEN_SRC,), NOT_HIT),
    Case(LLAMA, "7B [1]", (LLAMA_SRC,), None),
    Case(LLAMA, "最小的是 70 亿参数的版本 [1]。", (LLAMA_SRC,), None),
    Case(LLAMA, "7 bits [1]", (LLAMA_SRC,), NOT_HIT),
    Case(LLAMA, "7B、13B [1]", (LLAMA_SRC,), HEDGED),
    # percentages, ratios, token counts
    Case(RULE, "降低了 82% [1]。", (RULE_SRC,), None),
    Case(RULE, "降低了百分之82 [1]。", (RULE_SRC,), None),
    Case(RULE, "It fell by 82 percent [1].", (RULE_SRC,), None),
    Case(RULE, "降低了 28% [1]。", (RULE_SRC,), NOT_HIT),
    Case(RULE, "降低了 82 倍 [1]。", (RULE_SRC,), NOT_HIT),
    Case(CHINCHILLA, "1.4 万亿 token [1]", (CHINCHILLA_SRC,), None),
    Case(CHINCHILLA, "14000亿 [1]", (CHINCHILLA_SRC,), None),
    Case(CHINCHILLA, "1.4 trillion tokens [1].", (CHINCHILLA_SRC,), None),
    Case(CHINCHILLA, "14T [1]", (CHINCHILLA_SRC,), NOT_HIT),
    # the full-width comma separates a list; it is never a thousands separator
    Case(LIST, "70，175和540 [1]", (LIST_SRC,), None),
    Case(LIST, "70175和540 [1]", (LIST_SRC,), NOT_HIT),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{i:02d}-{c.item.id}" for i, c in enumerate(CASES)])
def test_verdict(case: Case) -> None:
    cited = [case.sources[n - 1] for n in parse_citations(case.answer, len(case.sources))]
    score = score_sample(case.answer, case.item, cited)
    assert score.reason == case.reason, (case.answer, score)
    assert score.grounded_correct == (case.reason is None)
    assert score.refused == (case.reason == REFUSED or (not case.item.answerable and case.reason is None))
    assert score.uncited_correct == (case.reason == NOT_CITED)


def test_the_table_is_large_and_covers_both_languages_and_every_reason() -> None:
    assert len(CASES) >= 60
    assert {c.reason for c in CASES} == {None, REFUSED, TOO_LONG, NOT_HIT, NEGATED, HEDGED, NOT_CITED, HALLUCINATED}
    latin = sum(1 for c in CASES if c.answer.isascii())
    assert latin >= 15 and len(CASES) - latin >= 30
