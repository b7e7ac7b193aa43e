"""Named prompt templates: the wording a model is asked with, in Chinese and English, and how sources are shown.

A prompt is a system message (Chinese or English, chosen by the question's language) and one user message
holding the numbered sources and the question. Each source is rendered as
`<source id="n" title="…" section="…">text</source>`; the model is told to cite it as `[n]` and to reply with
the fixed refusal sentence when the sources do not hold the answer. Templates are named (`--prompt NAME`)
because the eval compares them; `template_hash(name)` identifies a template's exact wording in results.
Fitting a prompt into a model's context window is `rag.prompt`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass

from core.errors import UserError
from rag.types import Hit

REFUSAL_ZH = "资料中没有找到相关信息。"
REFUSAL_EN = "The reports do not contain this information."
REFUSALS = {"zh": REFUSAL_ZH, "en": REFUSAL_EN}

QUESTION_LABELS = {"zh": "问题：", "en": "Question: "}
# Added before the instruction when no source sentence or row names the question's entity with what it asks
# (rag.answerability): the model should be ready to refuse rather than answer from a neighbouring fact.
UNANSWERABLE_NOTES = {
    "zh": f"注意：以上资料中没有一句同时提到问题所问的对象和所问的内容，可能无法回答；若资料没有给出答案，请回答“{REFUSAL_ZH}”",
    "en": "Note: no sentence of the sources above names both what the question is about and what it asks, so they may "
    f'not answer it; if they do not state the answer, reply "{REFUSAL_EN}"',
}
SOURCES_LABELS = {"zh": "资料：", "en": "Sources:"}

_RULES_ZH = (
    "规则：\n"
    "1. 只使用资料中的信息，不要补充资料以外的知识。\n"
    "2. 在所依据的句子后用方括号标注资料编号，例如 [1] 或 [1][3]。\n"
    "3. 用中文回答{length}。\n"
    "4. 如果不同资料的说法不一致，要指出分歧，并分别标注各自的编号。\n"
    f"5. 如果资料中没有答案，只回复这一句：{REFUSAL_ZH}"
)
_RULES_EN = (
    "Rules:\n"
    "1. Use only information from the sources; add nothing from your own knowledge.\n"
    "2. After each statement, cite the sources it rests on in square brackets, e.g. [1] or [1][3].\n"
    "3. Answer in English{length}.\n"
    "4. If the sources disagree, say so and cite each side.\n"
    f"5. If the sources do not contain the answer, reply with exactly this sentence: {REFUSAL_EN}"
)
_INTRO_ZH = "你是一个严谨的问答助手，回答关于大语言模型发展历史的问题。用户会给出编号的资料（<source id=\"n\">…</source>），你只能依据这些资料回答。\n"
_INTRO_EN = (
    "You are a careful assistant answering questions about the history of large language models. The user "
    'gives numbered sources (<source id="n">…</source>); answer only from them.\n'
)


# A worked example for `cite_example`, about invented models so that no fact of it can leak into an answer.
_EXAMPLE_EN = (
    "Example.\nSources:\n"
    '<source id="1" title="example.txt" section="Model A">\nModel A was released by Lab One in 2019.\n</source>\n\n'
    '<source id="2" title="example.txt" section="Model B">\nModel B has 7 billion parameters and was trained on 1 trillion tokens.\n</source>\n'
    "Question: How many parameters does Model B have?\n"
    "Answer: Model B has 7 billion parameters [2]."
)
_EXAMPLE_ZH = (
    "示例。\n资料：\n"
    '<source id="1" title="example.txt" section="模型 A">\n模型 A 由第一实验室于 2019 年发布。\n</source>\n\n'
    '<source id="2" title="example.txt" section="模型 B">\n模型 B 有 70 亿参数，训练数据为 1 万亿词元。\n</source>\n'
    "问题：模型 B 有多少参数？\n"
    "回答：模型 B 有 70 亿参数 [2]。"
)

@dataclass(frozen=True)
class PromptTemplate:
    """One way of asking: system prompts and the instruction line before the question, per language."""

    name: str
    description: str
    system: dict[str, str]
    instruction: dict[str, str]
    use_sources: bool = True  # False: closed book, the model sees only the question


PROMPTS: dict[str, PromptTemplate] = {
    t.name: t
    for t in (
        PromptTemplate(
            name="default",
            description="answer from the numbered sources with [n] citations, short, refusal sentence if absent",
            system={
                "zh": _INTRO_ZH + _RULES_ZH.format(length="，简洁直接，一般一到三句话"),
                "en": _INTRO_EN + _RULES_EN.format(length=", briefly and directly, usually in one to three sentences"),
            },
            instruction={
                "zh": "请只根据上面的资料回答，并标注资料编号。",
                "en": "Answer only from the sources above and cite their numbers.",
            },
        ),
        PromptTemplate(
            name="concise",
            description="as default, but one sentence with the key fact and its citation",
            system={
                "zh": _INTRO_ZH + _RULES_ZH.format(length="，只用一句话给出关键事实（如数字、日期、名称）"),
                "en": _INTRO_EN + _RULES_EN.format(length=", in a single sentence giving the key fact (number, date or name)"),
            },
            instruction={
                "zh": "请用一句话回答，并标注资料编号。",
                "en": "Answer in one sentence and cite the source numbers.",
            },
        ),
        PromptTemplate(
            name="strict",
            description="as default, but every sentence must carry a citation and any doubt means refusing",
            system={
                "zh": _INTRO_ZH
                + _RULES_ZH.format(length="，简洁直接")
                + "\n6. 每一句话都必须带有资料编号；没有资料支持的句子不要写。\n7. 如果资料只是提到相关内容但没有直接给出答案，也按第 5 条回复。",
                "en": _INTRO_EN
                + _RULES_EN.format(length=", briefly and directly")
                + "\n6. Every sentence must carry a citation; leave out anything the sources do not support."
                + "\n7. If the sources mention the topic but do not directly answer the question, follow rule 5.",
            },
            instruction={
                "zh": "请只根据上面的资料回答，每句话都要标注资料编号。",
                "en": "Answer only from the sources above; every sentence needs a citation.",
            },
        ),
        PromptTemplate(
            name="cite_example",
            description="as default, plus one worked example of a cited answer (small models that do not cite from rules alone)",
            system={
                "zh": _INTRO_ZH + _RULES_ZH.format(length="，简洁直接，一般一到三句话") + "\n\n" + _EXAMPLE_ZH,
                "en": _INTRO_EN + _RULES_EN.format(length=", briefly and directly, usually in one to three sentences") + "\n\n" + _EXAMPLE_EN,
            },
            instruction={
                "zh": "请只根据上面的资料回答，并像示例那样在句末标注资料编号。",
                "en": "Answer only from the sources above and, as in the example, end each statement with its source number.",
            },
        ),
        PromptTemplate(
            name="closed_book",
            description="control for the eval: no sources, the model answers from its own knowledge",
            system={
                "zh": "你是一个问答助手，回答关于大语言模型发展历史的问题。用中文简洁回答，一般一到三句话。"
                f"如果你不知道答案，只回复这一句：{REFUSAL_ZH}",
                "en": "You are an assistant answering questions about the history of large language models. Answer "
                f"in English, briefly, usually in one to three sentences. If you do not know, reply with exactly: {REFUSAL_EN}",
            },
            instruction={"zh": "请简洁回答。", "en": "Answer briefly."},
            use_sources=False,
        ),
    )
}

CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")


def detect_language(text: str) -> str:
    """ "zh" when the text is mostly Chinese, else "en".

    A Chinese word is about two characters, so Chinese wins when CJK characters / 2 outnumber latin words:
    "GPT-3 有多少参数？" is zh, "What is 通义千问?" is en.
    """
    cjk = len(CJK_CHAR.findall(text))
    return "zh" if cjk / 2 > len(_LATIN_WORD.findall(text)) else "en"


def template_hash(name: str) -> str:
    """A short hash of the template's exact wording (stable across processes and machines)."""
    template = get_template(name)
    data = json.dumps(asdict(template), ensure_ascii=False, sort_keys=True)
    data += json.dumps([REFUSALS, QUESTION_LABELS, SOURCES_LABELS, UNANSWERABLE_NOTES], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:12]


def get_template(name: str) -> PromptTemplate:
    if name not in PROMPTS:
        raise UserError(f"unknown prompt template {name!r}; choose one of {', '.join(PROMPTS)}")
    return PROMPTS[name]


def _attr(value: str) -> str:
    return value.replace('"', "'").replace("\n", " ")


def render_source(n: int, hit: Hit, text: str | None = None) -> str:
    """One numbered source block as the model sees it."""
    c = hit.chunk
    body = (c.text if text is None else text).replace("</source>", "</ source>")
    return f'<source id="{n}" title="{_attr(c.title)}" section="{_attr(c.heading)}">\n{body}\n</source>'


def user_message(template: PromptTemplate, lang: str, blocks: list[str], question: str, note: str = "") -> str:
    parts = [SOURCES_LABELS[lang] + "\n" + "\n\n".join(blocks)] if template.use_sources else []
    if note:
        parts.append(note)
    parts.append(f"{template.instruction[lang]}\n{QUESTION_LABELS[lang]}{question}")
    return "\n\n".join(parts)
