"""Named prompt templates and the context budget (follow-up rewriting is in `rag.followup`).

A prompt is a system message (Chinese or English, chosen by the question's language) and one user message
holding the numbered sources and the question. Each source is rendered as
`<source id="n" title="…" section="…">text</source>`; the model is told to cite it as `[n]` and to reply with
the fixed refusal sentence when the sources do not hold the answer. Templates are named (`--prompt NAME`)
because the eval compares them; `template_hash(name)` identifies a template's exact wording in results.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

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

# A chat template adds a few tokens per message (role markers, separators); a margin covers the rest.
CHAT_OVERHEAD_TOKENS = 32
MIN_SOURCE_TOKENS = 64  # a source cut shorter than this is dropped instead of shortened
MIN_QUESTION_TOKENS = 32
DEFAULT_CONTEXT_WINDOW = 32768  # Qwen2.5/Qwen3 native window; used when no generator says otherwise

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")


def detect_language(text: str) -> str:
    """ "zh" when the text is mostly Chinese, else "en".

    A Chinese word is about two characters, so Chinese wins when CJK characters / 2 outnumber latin words:
    "GPT-3 有多少参数？" is zh, "What is 通义千问?" is en.
    """
    cjk = len(_CJK.findall(text))
    return "zh" if cjk / 2 > len(_LATIN_WORD.findall(text)) else "en"


def estimate_tokens(text: str) -> int:
    """A conservative token count without a tokenizer: one per CJK character, one per 3 other characters."""
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 3)


def template_hash(name: str) -> str:
    """A short hash of the template's exact wording (stable across processes and machines)."""
    template = _template(name)
    data = json.dumps(asdict(template), ensure_ascii=False, sort_keys=True)
    data += json.dumps([REFUSALS, QUESTION_LABELS, SOURCES_LABELS, UNANSWERABLE_NOTES], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:12]


def _template(name: str) -> PromptTemplate:
    if name not in PROMPTS:
        raise UserError(f"unknown prompt template {name!r}; choose one of {', '.join(PROMPTS)}")
    return PROMPTS[name]


@dataclass(frozen=True)
class BuiltPrompt:
    """Chat messages ready for a generator, and what had to give way to fit the context window."""

    messages: list[dict[str, str]]
    sources: list[Hit]  # the hits actually shown, numbered 1..len(sources) in this order
    notices: list[str] = field(default_factory=list)
    language: str = "en"
    template: str = "default"
    answerable: bool | None = None  # rag.answerability's decision on the shown sources (None: no sources used)


def _attr(value: str) -> str:
    return value.replace('"', "'").replace("\n", " ")


def render_source(n: int, hit: Hit, text: str | None = None) -> str:
    """One numbered source block as the model sees it."""
    c = hit.chunk
    body = (c.text if text is None else text).replace("</source>", "</ source>")
    return f'<source id="{n}" title="{_attr(c.title)}" section="{_attr(c.heading)}">\n{body}\n</source>'


def _user_message(template: PromptTemplate, lang: str, blocks: list[str], question: str, note: str = "") -> str:
    parts = [SOURCES_LABELS[lang] + "\n" + "\n\n".join(blocks)] if template.use_sources else []
    if note:
        parts.append(note)
    parts.append(f"{template.instruction[lang]}\n{QUESTION_LABELS[lang]}{question}")
    return "\n\n".join(parts)


def _truncate_to_tokens(text: str, limit: int, count: Callable[[str], int]) -> str:
    """The longest prefix of `text` that counts at most `limit` tokens (binary search over characters)."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def build_messages(
    question: str,
    sources: Sequence[Hit],
    template: str = "default",
    *,
    generator=None,
    max_new_tokens: int = 256,
    count_tokens: Callable[[str], int] | None = None,
    context_window: int | None = None,
    history: Sequence[tuple[str, str]] = (),
) -> BuiltPrompt:
    """System message, earlier turns, then the user message with `question` over `sources`, within the budget.

    The budget is the context window minus `max_new_tokens` minus the system prompt, the question and the
    chat-template overhead. Tokens are counted with `count_tokens`, else `generator.count_tokens`, else
    `estimate_tokens`; the window is `context_window`, else `generator.context_window`, else 32768. A question
    longer than half the room is cut. `history` holds earlier (question, answer) turns, oldest first: the most
    recent ones that fit in a quarter of what is left are kept whole, as plain user/assistant messages before
    the sources (sources outrank old turns). Sources are kept in rank order while they fit (the last one may
    be shortened). Whatever gives way comes back as a notice. A `max_new_tokens` that leaves no room raises
    UserError.
    """
    tmpl = _template(template)
    lang = detect_language(question)
    count = count_tokens or getattr(generator, "count_tokens", None) or estimate_tokens
    window = context_window or getattr(generator, "context_window", None) or DEFAULT_CONTEXT_WINDOW
    system = tmpl.system[lang]
    note_room = count(UNANSWERABLE_NOTES[lang]) + 2 if tmpl.use_sources else 0  # the note may be added
    fixed = count(system) + count(_user_message(tmpl, lang, [], "")) + CHAT_OVERHEAD_TOKENS + note_room
    room = window - max_new_tokens - fixed
    if room < MIN_QUESTION_TOKENS:
        raise UserError(
            f"max_new_tokens={max_new_tokens} leaves only {max(room, 0)} tokens of the model's {window}-token "
            f"context window for the prompt; lower --max-new-tokens"
        )
    notices: list[str] = []
    q_tokens = count(question)
    q_limit = room // 2 if tmpl.use_sources else room
    if q_tokens > q_limit:
        question = _truncate_to_tokens(question, q_limit, count)
        notices.append(
            f"the question is {q_tokens} tokens long; only its first {q_limit} tokens were used "
            f"(context window {window}, max_new_tokens {max_new_tokens})"
        )
        q_tokens = count(question)
    turns = _recent_turns(history, (room - q_tokens) // 4, count)
    if len(turns) < len(history):
        notices.append(
            f"only the last {len(turns)} of {len(history)} earlier turns fit the context window ({window} tokens)"
        )
    turn_messages = [
        {"role": role, "content": text} for q, a in turns for role, text in (("user", q), ("assistant", a))
    ]
    blocks: list[str] = []
    kept: list[Hit] = []
    if tmpl.use_sources:
        left = room - q_tokens - sum(count(m["content"]) + CHAT_OVERHEAD_TOKENS // 4 for m in turn_messages)
        for n, hit in enumerate(sources, start=1):
            block = render_source(n, hit)
            cost = count(block) + 2  # the blank line between blocks
            if cost <= left:
                blocks.append(block)
                kept.append(hit)
                left -= cost
                continue
            frame = count(render_source(n, hit, "")) + 2
            if left - frame >= MIN_SOURCE_TOKENS:
                blocks.append(render_source(n, hit, _truncate_to_tokens(hit.chunk.text, left - frame, count)))
                kept.append(hit)
                notices.append(f"source [{n}] was shortened to fit the context window ({window} tokens)")
            break
        if len(kept) < len(sources):
            notices.append(
                f"only {len(kept)} of {len(sources)} sources fit the context window ({window} tokens, "
                f"max_new_tokens {max_new_tokens})"
            )
    answerable = None
    if tmpl.use_sources:
        from rag.answerability import judge

        answerable = judge(question, [h.chunk.text for h in kept]).answerable
    note = UNANSWERABLE_NOTES[lang] if answerable is False else ""
    messages = [
        {"role": "system", "content": system},
        *turn_messages,
        {"role": "user", "content": _user_message(tmpl, lang, blocks, question, note)},
    ]
    return BuiltPrompt(
        messages=messages, sources=kept, notices=notices, language=lang, template=tmpl.name, answerable=answerable
    )


def _recent_turns(history: Sequence[tuple[str, str]], limit: int, count: Callable[[str], int]) -> list[tuple[str, str]]:
    """The most recent whole turns whose messages fit in `limit` tokens, oldest first."""
    kept: list[tuple[str, str]] = []
    for q, a in reversed(history):
        cost = count(q) + count(a) + CHAT_OVERHEAD_TOKENS // 2
        if cost > limit:
            break
        kept.append((q, a))
        limit -= cost
    return kept[::-1]


_SOURCE_BLOCK = re.compile(r'<source id="(\d+)"(?: \w+="[^"\n]*")*>\n(.*?)\n</source>', re.DOTALL)


@dataclass(frozen=True)
class PromptParts:
    """What `build_messages` put into the user message, read back (for generators without a model)."""

    question: str
    sources: dict[int, str]  # source number → text
    language: str


def read_prompt(messages: Sequence[dict[str, str]]) -> PromptParts:
    """The question and numbered source texts of a prompt made by `build_messages`."""
    user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    sources = {int(m.group(1)): m.group(2) for m in _SOURCE_BLOCK.finditer(user)}
    tail_start = max((m.end() for m in _SOURCE_BLOCK.finditer(user)), default=0)
    tail = user[tail_start:]
    question = tail.strip()
    for label in QUESTION_LABELS.values():
        head, found, rest = tail.partition(label)
        if found:
            question = rest.strip()
            break
    return PromptParts(question=question, sources=sources, language=detect_language(question))
