"""Whether an answer is a refusal, judged on its form: at least one refusal sentence and no factual claim.

The one detector behind the `refused` field of `rag.ask`/`Pipeline` answers and the eval's scores.

The answer is read as `rag.values.clean` gives it (NFKC, curly apostrophes straight, citation markers removed,
so `资料[1]中没有提到…` is a refusal like `资料中没有提到…`), Markdown emphasis dropped, and split into
sentences at `。！？；!?;`, line breaks and `. `. Each sentence is
- a **refusal sentence** when it matches one of `REFUSAL_PATTERNS`; it still carries a claim when one of its
  clauses (split at commas and at 但/不过/however/but …) is not itself a refusal and either states a value
  (`rag.values`: `GPT-3 有 175B 参数，但无法确定层数`), asserts something (a verb such as 是/有/发布/is/has/
  released, and no mention of the sources), or follows a refusal after a contrast word (`…，但 GPT-7 大概
  是 OpenAI 做的`); a clause that only names the topic (`关于 GPT-7 的参数量，…`) or talks about the
  sources (`资料[1]介绍了 GPT-3，但没有提到层数`) is not a claim;
- **filler** when it is an apology, a pointer elsewhere (`建议查阅官方文档`, `please check …`), a label
  (`回答：`), a question, or has fewer than three letters;
- otherwise a **claim**.

Refused = at least one refusal sentence, no claim anywhere. So the refusal sentence followed by an invented
answer is an answer, and an empty answer (cut off while thinking) is a failure, not a refusal.
"""

from __future__ import annotations

import re

from rag.templates import REFUSAL_EN, REFUSAL_ZH
from rag.values import clean, find_values

_SOURCES_ZH = r"(?:资料|来源|文档|报告|上下文|文中|原文|文本|材料|文章|参考资料|所给信息|提供的信息|现有信息|信息|内容)"
_SOURCES_EN = r"(?:sources?|reports?|documents?|context|passages?|texts?|materials?|articles?|excerpts?)"
_INFO_VERBS_ZH = r"(?:找到|提到|提及|包含|涉及|给出|说明|记载|描述|介绍|列出|披露|显示|明确|指出|讨论|透露|具体说明)"
_INFO_VERBS_EN = (
    r"(?:mention|specify|state|say|provide|give|list|discuss|cover|address|indicate|describe|reveal|disclose"
    r"|detail|report|include|contain|tell|show|offer|identify)"
)
_ADVERB = r"(?:explicitly\s+|directly\s+|specifically\s+|clearly\s+)"

# Refusal phrasings (case-insensitive), matched after citation markers are removed and apostrophes straightened.
REFUSAL_PATTERNS: tuple[str, ...] = (
    re.escape(REFUSAL_ZH.rstrip("。")),
    re.escape(REFUSAL_EN.rstrip(".")),
    rf"{_SOURCES_ZH}\s*(?:中|里|内|当中|之中)?\s*(?:并|均|都|也)?\s*(?:没有|未|无|没)(?:有)?\s*(?:直接|明确|具体)?\s*{_INFO_VERBS_ZH}",
    r"(?:没有|未能?|并未|并没有|均未|无)\s*(?:直接|明确|具体)?\s*(?:提到|提及|说明|给出|披露|记载|列出|涉及|找到|检索到|提供)",
    r"(?:没有|没|无|未找到|缺少|缺乏|暂无)(?:任何)?(?:相关|有关|这方面的?|具体的?|明确的?|关于[^，。]{0,20}的)(?:信息|资料|内容|数据|说明|记录|描述)",
    r"无法(?:根据|从|在|依据)",
    r"(?:无法|不能|没法|难以|未能)(?:回答|确定|得知|判断|给出|提供|找到|确认|知道|得出|获知)",
    r"(?:我|本助手)?(?:并|也|实在)?不(?:知道|清楚|了解)",
    rf"\b{_SOURCES_EN}\s+(?:\w+\s+)?(?:do|does|did)\s*(?:not|n't)\s+{_ADVERB}?{_INFO_VERBS_EN}",
    rf"\b(?:do|does|did)\s*(?:not|n't)\s+{_ADVERB}?(?:mention|specify|state|say|disclose|reveal|indicate|list|detail|report)\b",
    r"(?:\bnot|n't)\s+(?:\w+\s+)?(?:mentioned|provided|found|stated|given|specified|included|covered|listed|available"
    r"|disclosed|described|reported|addressed|discussed|indicated|known)\b",
    r"\bthere\s+(?:is|are|was|were)\s+no\s+(?:\w+\s+)?(?:mention|information|data|details?|records?|reference|indication|evidence)",
    r"\bno\s+(?:\w+\s+)?(?:information|mention|data|details?)\s+(?:about|on|regarding|of|is|are|was|in|for|available|given|provided)",
    r"\b(?:not\s+enough|insufficient|no)\s+information\b",
    r"\b(?:cannot|can't|can\s+not|unable\s+to|could\s+not|couldn't)\s+(?:\w+\s+)?(?:answer|determine|find|tell|provide|say|confirm|identify|locate|know)\b",
    r"\bi\s+(?:do\s+not|don't|did\s+not|didn't)\s+(?:know|have\s+(?:that|this|the|any|enough|such)?\s*(?:information|data|details?))",
    r"\bi(?:'m|\s+am)\s+not\s+(?:sure|aware|able)\b",
    r"\b(?:does\s+not|doesn't|do\s+not|don't)\s+appear\s+in\b",
)
_REFUSAL = re.compile("|".join(f"(?:{p})" for p in REFUSAL_PATTERNS), re.IGNORECASE)

_SENTENCE_END = re.compile(r"(?<=[。！？；!?;\n])|(?<=\.)(?=\s)")
_CLAUSE = re.compile(r"[，,、:：()（）]|(?=但是|但|不过|然而|可是|只是)|\b(?=but\b|however\b|although\b|though\b|while\b|whereas\b|yet\b)", re.IGNORECASE)
_CONTRAST = re.compile(r"^\s*(?:但是|但|不过|然而|可是|只是|(?:but|however|although|though|yet)\b)", re.IGNORECASE)
_FILLER = re.compile(
    r"抱歉|对不起|很遗憾|遗憾的是|sorry|apologi[sz]e|unfortunately|建议|请(?:查阅|参考|咨询|查看|参阅|访问)|可以(?:查阅|参考|查看|参阅)"
    r"|如果您|如需|希望|\byou\s+(?:may|might|could|can|should)\b|\bplease\b|\bi\s+(?:recommend|suggest)|\bconsider\b"
    r"|\bif\s+you\b|\bhope\b|^\s*(?:答案|回答|答|回复|answer|response|sources?|references?|来源|参考|资料)\s*$",
    re.IGNORECASE,
)
_TOPIC = re.compile(
    r"^\s*(?:关于|对于|至于|针对|(?:regarding|about|as\s+for|as\s+to|concerning|with\s+regard\s+to|on\s+whether|for)\b)",
    re.IGNORECASE,
)
_MENTIONS_SOURCES = re.compile(rf"{_SOURCES_ZH}|\b{_SOURCES_EN}\b|\b(?:they|it)\s+(?:mention|describe|discuss|cover)", re.IGNORECASE)
_ASSERTS = re.compile(
    r"(?<![但还于可就否只总倒凡要若])是(?!否)|为|(?<![没无未])有(?!关)|拥有|采用|使用|发布|推出|开发|提出|基于|包括|属于|达到"
    r"|\b(?:is|was|are|were|has|have|had|uses|used|released|developed|introduced|contains|consists|includes|reaches|reached|trained)\b",
    re.IGNORECASE,
)
_MARKDOWN = re.compile(r"\*\*|__|`|^#+\s*|^\s*[-*>]\s+", re.MULTILINE)
_LETTERS = re.compile(r"[^\W_]")


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s.strip()]


def _states_value(text: str) -> bool:
    return any(v.claim for v in find_values(text))


def _clause_claims(clause: str, after_refusal: bool) -> bool:
    if len(_LETTERS.findall(clause)) < 2 or _FILLER.search(clause):
        return False
    if _states_value(clause):
        return True
    if _MENTIONS_SOURCES.search(clause) or _TOPIC.match(clause):
        return False
    return (after_refusal and bool(_CONTRAST.match(clause))) or bool(_ASSERTS.search(clause))


def _refusal_sentence_claims(sentence: str) -> bool:
    """Whether a sentence holding a refusal phrase also states something (see the module docstring)."""
    after_refusal = False
    for clause in _CLAUSE.split(sentence):
        if _REFUSAL.search(clause):
            after_refusal = True
        elif _clause_claims(clause, after_refusal):
            return True
    return False


def _is_filler(sentence: str) -> bool:
    stripped = sentence.strip()
    return len(_LETTERS.findall(stripped)) < 3 or stripped.endswith(("?", "？")) or bool(_FILLER.search(stripped))


def is_refusal(answer: str) -> bool:
    """Whether the answer declines to answer: a refusal sentence and no factual claim (module docstring)."""
    text = _MARKDOWN.sub(" ", clean(answer))
    refused = False
    for sentence in _sentences(text):
        if _REFUSAL.search(sentence):
            if _refusal_sentence_claims(sentence):
                return False
            refused = True
        elif not _is_filler(sentence):
            return False
    return refused
