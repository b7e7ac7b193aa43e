"""Question analysis: what a question asks about (its entities), what it asks for (the answer type and the
attribute words), in Chinese and English.

`analyze("GPT-3 有多少参数？")` → entities ("GPT-3",), answer type "size", asked ("参数",). The answer type
comes from the question words (多少/几/how many → count, with a size word such as 参数/parameters → size;
何时/哪一年/when → date; 什么是/what is → definition; 谁/哪家/which/who → name); the asked words are the noun
a count question counts (`多少块 GPU` → GPU, `How many Transformer layers` → layers, 层) and, for every
type, the question's other content words with the Chinese words for its English domain terms
(`rag.glossary`). Entities are the model and term names of the question (`rag.followup.model_names`, which
knows the aliases), without the counted noun (`GPUs` in "How many GPUs…" is what is counted, not the subject)
and without architecture words (`rag.glossary.GENERIC_TERMS`: Transformer, Decoder) when it names anything else.
`question_parts` splits a question that asks two things ("When was X released, and how many tokens…?").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.aliases import Aliases
from rag.glossary import CURATED_ALIASES, EN_TO_ZH, GENERIC_TERMS, QUESTION_WORDS

ANSWER_TYPES = ("size", "date", "count", "name", "definition", "other")

_DATE = re.compile(
    r"何时|什么时候|哪一?年|哪个月|哪一天|哪天|几月|几年|发布时间|日期|\bwhen\b|\bwhat (?:year|month|date)\b"
    r"|\bwhich (?:year|month)\b|\bwhat is the (?:release )?date\b",
    re.I,
)
_HOW_MANY = re.compile(r"多少|几|多大|多长|多高|\bhow (?:many|much|large|big|long)\b|\bnumber of\b", re.I)
_SIZE_WORD = re.compile(r"参数|规模|尺寸|大小|多大|\bparameters?\b|\bsizes?\b|\bhow (?:large|big)\b", re.I)
_DEFINITION = re.compile(
    r"什么是|是什么(?:意思)?[？?]?$|指什么|含义|定义|意思|的全称|\bwhat (?:is|are|was|were) (?!the (?:number|size|date))"
    r"|\bwhat does .* (?:mean|stand for)\b|\bdefine\b|\bmeaning of\b",
    re.I,
)
_NAME = re.compile(r"谁|哪[一二两三四五六七八九十几]?[家位款种]|哪个|哪些|哪款|哪一|什么(?:公司|机构|团队|方法|模型|技术|机制|架构)|\bwho\b|\bwhich\b|\bwhat (?:company|method|model|technique|mechanism|architecture|kind)\b", re.I)

_KIND_OF = re.compile(r"\bwhat (?:kind|type|sort)s? of\b|什么(?:类型|种类)|哪(?:种|一种|类)类型", re.I)
# A question that asks two things: split where a clause opening with a question word follows a comma or "and".
_PART_BREAK = re.compile(
    r"(?:[，,;；]\s*(?:and\s+|以及|并且|还有|另外)?|\s+and\s+)(?=(?:how|what|when|which|who|where|why)\b|[^，,;；]*(?:多少|什么|哪|何时|几))",
    re.I,
)
_ASKS = re.compile(r"\b(?:how|what|when|which|who|where|why)\b|多少|什么|哪|何时|几", re.I)

# Words that frame a question or point at the reports rather than name what is asked.
FRAMING_WORDS = frozenset(
    "表 表中 总表 汇总 汇总表 报告 提到 模型 分别 一共 总共 大约 哪天 哪一年 哪一 时候 一下 中 在 对 之前 其中 根据 所示 列出 标注 "
    "according table tables listed list lists report reports say says said mention mentioned model models article "
    "answer paper give name named called roughly approximately exactly total use used uses using can could up once "
    "kind type basic reach reached 数量 使用 采用 选用 取得 获得 达到 拥有 具有 包含 包括 进行 提供"
    .split()
)
_WHICH = re.compile(r"哪些|哪几|哪个|\bwhich\b|\bwhat\b", re.I)
# The Chinese words for what an English count question counts (the reports state most counts in Chinese).
COUNTED_ZH: dict[str, tuple[str, ...]] = {
    "language": ("语言",), "document": ("文档",), "task": ("任务", "项"), "book": ("书", "本"), "gpu": ("gpu", "显卡"),
    "layer": ("层",), "head": ("头",), "token": ("token", "词元"), "parameter": ("参数",), "category": ("类",),
    "time": ("倍",), "day": ("天",), "hour": ("小时",), "dollar": ("美元", "$"), "labeler": ("标注",),
    "word": ("词",), "sample": ("样本", "条"), "example": ("示例", "样本", "条"), "benchmark": ("基准", "评测"),
    "stage": ("阶段",), "version": ("版本",), "expert": ("专家",), "dataset": ("数据集",), "subject": ("学科",),
}  # fmt: skip
# Words that only name the kind of value asked for: a value of that kind states them (`有哪些尺寸` → `7B–70B`).
KIND_WORDS = {
    "size": {"尺寸", "大小", "规模", "参数量", "size", "sizes"},
    "date": {"时间", "日期", "年份", "date", "year", "month"},
    "count": {"数量", "number"},
}
_MEASURE_WORDS = frozenset("个 块 道 名 位 种 项 次 条 张 台 家 款 篇 部".split())
_ZH_COUNTED = re.compile(r"(?<!哪)(?:多少|几)\s*([A-Za-z][A-Za-z0-9\-]*|[\u4e00-\u9fff]{1,6})")
_EN_COUNTED = re.compile(r"\bhow many\s+((?:[A-Za-z][\w\-]*\s+){0,2}?[A-Za-z][\w\-]*)\s+(?=(?:do|does|did|is|are|was|were|has|have|had|can|could|will|would|in|of|for|on|at|were|to)\b|[?？]|$)", re.I)
_EN_VERB_END = re.compile(r"\b(?:do|does|did|is|are|was|were|has|have|had)\b.*", re.I)


@dataclass(frozen=True)
class QueryAnalysis:
    """What a question is about and what it asks for (see the module doc)."""

    question: str
    answer_type: str  # one of ANSWER_TYPES
    entities: tuple[str, ...]  # names as written in the question
    counted: tuple[str, ...]  # the noun a count question counts, with its other-language words (lower case)
    attributes: tuple[tuple[str, ...], ...]  # the question's other content words, each with its other-language forms

    @property
    def asks_value(self) -> bool:
        """Whether the answer is a size, a count or a date: a value `rag.values` can find."""
        return self.answer_type in ("size", "count", "date")


def answer_type(question: str) -> str:
    """The kind of answer a question asks for, one of ANSWER_TYPES, in either language."""
    if _KIND_OF.search(question):  # "what kind of parameter": a category, not a size
        return "other"
    if _DATE.search(question):
        return "date"
    if _HOW_MANY.search(question):
        return "size" if _SIZE_WORD.search(question) else "count"
    if _SIZE_WORD.search(question) and _WHICH.search(question):  # 有哪些参数规模 / which sizes
        return "size"
    if _DEFINITION.search(question.strip()):
        return "definition"
    if _NAME.search(question):
        return "name"
    return "other"


def counted_noun(question: str) -> tuple[str, ...]:
    """The noun a count question counts (`多少块 GPU` → gpu; `How many human labelers` → labelers), lower case,
    with the Chinese words for an English domain term (layers → 层); () when there is none."""
    word = ""
    m = _ZH_COUNTED.search(question)
    if m:
        word = _first_zh_word(m.group(1))
        if word in _MEASURE_WORDS:  # 多少块 GPU: the noun follows the measure word
            rest = question[m.start(1) + len(word) :].lstrip()
            n = _ZH_COUNTED.match("几" + rest)
            word = _first_zh_word(n.group(1)) if n else ""
    else:
        e = _EN_COUNTED.search(question)
        if e:
            word = e.group(1).split()[-1]
    if len(word) > 1 and word[0] in _MEASURE_WORDS and re.match(r"[\u4e00-\u9fff]", word):
        word = word[1:]  # 多少道题 → 题
    word = word.lower()
    if not word or word in QUESTION_WORDS:
        return ()
    singular = _singular(word)
    forms = dict.fromkeys([word, singular, *EN_TO_ZH.get(word, ()), *EN_TO_ZH.get(singular, ()), *COUNTED_ZH.get(singular, ())])
    return tuple(forms)


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def _first_zh_word(text: str) -> str:
    if not re.match(r"[\u4e00-\u9fff]", text):
        return text
    import jieba

    return jieba.lcut(text)[0]


def _with_versions(question: str, names: list[str]) -> list[str]:
    """Names joined with the version numbers and names that follow them in the question: `Llama 3.1`,
    `ERNIE 3.0 Titan`, `Claude 3.5 Sonnet` (a sentence about `Claude 3.5` does not name the asked model)."""
    if not names:
        return []
    name_alt = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    joined = re.compile(rf"(?:{name_alt})(?:[ \t]+(?:\d+(?:[.×x]\d+)*[A-Za-z]?(?![\w.])|(?:{name_alt})(?![\w])))*")
    out: list[str] = []
    for m in joined.finditer(question):
        out.append(m.group(0))
    return list(dict.fromkeys(out)) or names


def analyze(question: str, aliases: Aliases = CURATED_ALIASES) -> QueryAnalysis:
    """Entities, answer type, counted noun and attribute words of `question`."""
    from rag.followup import model_names

    counted = counted_noun(question)
    found = [
        n for n in model_names(question, aliases) if len(n) > 1 and n.lower() not in counted and _singular(n.lower()) not in counted
    ]
    names = _with_versions(question, [n for n in found if n.lower() not in GENERIC_TERMS] or found)
    rest = question
    for name in sorted(names, key=len, reverse=True):
        rest = rest.replace(name, " ")
    kind = answer_type(question)
    return QueryAnalysis(
        question=question,
        answer_type=kind,
        entities=tuple(names),
        counted=counted,
        attributes=attribute_words(rest, set(counted)),
    )


def attribute_words(text: str, skip: set[str] = frozenset()) -> tuple[tuple[str, ...], ...]:
    """The content words of `text` (jieba words for Chinese, lower-cased words for English), without question
    and framing words, each with its forms: an English word's singular and its Chinese words (`rag.glossary`)."""
    import jieba

    words: list[tuple[str, ...]] = []
    for m in re.finditer(r"[\u4e00-\u9fff]+|[A-Za-z][A-Za-z\-]*", text):
        piece = m.group(0)
        if re.match(r"[A-Za-z]", piece):
            w = piece.lower()
            singular = _singular(w)
            forms = (w, singular, *EN_TO_ZH.get(w, ()), *EN_TO_ZH.get(singular, ()))
            candidates = [tuple(dict.fromkeys(forms))]
        else:
            candidates = [(w,) for w in jieba.lcut(piece)]
        for forms in candidates:
            head = forms[0]
            if head in QUESTION_WORDS or head in FRAMING_WORDS or head in skip or len(head) < 2:
                continue
            words.append(forms)
    return tuple(dict.fromkeys(words))


def question_parts(question: str) -> list[str]:
    """The questions a question asks: "When was X released, and how many tokens…?" is two; a part must hold a
    question word of its own ("GPT-3 和 GPT-4 有多少参数？" is one)."""
    parts: list[str] = []
    start = 0
    for m in _PART_BREAK.finditer(question):
        head = question[start : m.start()]
        if _ASKS.search(head) and _ASKS.search(question[m.end() :]):
            parts.append(head)
            start = m.end()
    parts.append(question[start:])
    return [p.strip() for p in parts if p.strip()]
