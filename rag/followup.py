"""Follow-up questions rewritten into standalone ones, without a model.

In a conversation, "GPT-3 有多少参数？" then "它是哪年发布的？" must retrieve for "GPT-3是哪年发布的？". The names of
the latest earlier question that has any are carried into a follow-up that has none: pronouns are replaced,
ellipses ("那 GPT-4 呢？", "what about its release date?") repeat the earlier question. Names are Latin-letter
model names and the names in an `rag.aliases.Aliases` table (Chinese names such as 通义千问).
"""

from __future__ import annotations

import re
from typing import Sequence

from rag.aliases import Aliases
from rag.glossary import CURATED_ALIASES
from rag.templates import detect_language

_NAME_TOKEN = re.compile(r"(?<![0-9])[A-Za-z][A-Za-z0-9]*(?:[-.+][A-Za-z0-9]+)*")  # not the B of 175B
_STOP_WORDS = {"i", "and", "or", "the", "a", "an", "it", "its", "what", "how", "when", "who", "which"}
_ZH_PRONOUN = re.compile(r"这个模型|那个模型|该模型|此模型|这款模型|这些模型|那些模型|它们|它")
_EN_PRONOUN = re.compile(r"\b(this model|that model|these models|those models|the model|its|it|they|them|their)\b", re.I)
_ZH_ELLIPSIS = re.compile(r"^(?:那么?|还有)?\s*(.+?)\s*呢\s*[？?]?\s*$")
_EN_ELLIPSIS = re.compile(r"^(?:and|what about|how about)\s+(.+?)\s*\??\s*$", re.I)
_EN_POSSESSIVE = re.compile(r"^(?:its|their)\s+", re.I)


def model_names(text: str, aliases: Aliases = CURATED_ALIASES) -> list[str]:
    """Model and entity names in a question, in order of appearance.

    Latin tokens with a digit or two capitals (GPT-3, LLaMA, Qwen2.5-7B), or one leading capital (Chinchilla)
    unless the token starts an English sentence ("How", "Give"); plus the names in `aliases` (Chinese names
    such as 通义千问 or 千问3, and listed Latin names written in lower case), as written.
    """
    english = detect_language(text) == "en"
    found: list[tuple[int, str]] = []
    for m in _NAME_TOKEN.finditer(text):
        word = m.group(0)
        has_digit = any(ch.isdigit() for ch in word)
        capitals = sum(ch.isupper() for ch in word)
        if has_digit or capitals >= 2:
            found.append((m.start(), word))
        elif capitals == 1 and word[0].isupper() and word.lower() not in _STOP_WORDS:
            starts_sentence = not text[: m.start()].strip() or text[: m.start()].rstrip()[-1] in ".?!"
            if not (english and starts_sentence):
                found.append((m.start(), word))
    starts = {start for start, _ in found}
    found.extend((m.start, text[m.start : m.end]) for m in aliases.find(text) if m.start not in starts)
    return list(dict.fromkeys(word for _, word in sorted(found)))


def _previous_question(item) -> str:
    return item if isinstance(item, str) else item[0]


def rewrite_followup(history: Sequence[tuple[str, str] | str], question: str, aliases: Aliases = CURATED_ALIASES) -> str:
    """A standalone version of `question` for retrieval, given the earlier turns (no model involved).

    `history` holds earlier (question, answer) pairs or questions, oldest first. Earlier questions are resolved
    the same way in turn; the names of the latest one that has any (see `model_names`) are carried over:
    - a pronoun (它, 它们, 这个模型, 该模型, it, its, they, their, this model…) is replaced by those names:
      "GPT-3 有多少参数？" then "它是哪年发布的？" → "GPT-3是哪年发布的？";
    - "那 X 呢？" / "what about X?" with a new name X repeats the previous question about X:
      "GPT-3 有多少参数？" then "那 GPT-4 呢？" → "GPT-4 有多少参数？";
    - "那参数量呢？" / "what about the release date?" (no name) asks it of the previous names.
    A question with names of its own, or with no earlier names to carry, is returned unchanged. Chinese names
    count as names (see `model_names`): "通义千问有哪些尺寸？" then "它是哪年发布的？" → "通义千问是哪年发布的？".
    """
    question = question.strip()
    names: list[str] = []
    previous = ""
    for item in history:
        previous = _resolve(names, previous, _previous_question(item).strip(), aliases)
        names = model_names(previous, aliases) or names
    return _resolve(names, previous, question, aliases)


def _joined(names: list[str], lang: str) -> str:
    return (" 和 " if lang == "zh" else " and ").join(names)


def _resolve(names: list[str], previous: str, question: str, aliases: Aliases) -> str:
    """Resolve `question` against the names carried from the previous standalone question."""
    if not names or not question:
        return question
    own = model_names(question, aliases)
    zh_ellipsis, en_ellipsis = _ZH_ELLIPSIS.match(question), _EN_ELLIPSIS.match(question)
    if zh_ellipsis or en_ellipsis:
        if own:
            if names[0] not in previous:
                return question
            return previous.replace(names[0], _joined(own, detect_language(previous)))
        if zh_ellipsis:
            return f"{_joined(names, 'zh')} 的{zh_ellipsis.group(1)}？"
        return f"{_EN_POSSESSIVE.sub('the ', en_ellipsis.group(1))} of {_joined(names, 'en')}?"
    if own:
        return question
    if detect_language(question) == "zh":
        return _ZH_PRONOUN.sub(lambda m: _joined(names, "zh"), question)

    def english(m: re.Match) -> str:
        word = m.group(1).lower()
        return _joined(names, "en") + ("'s" if word in ("its", "their") else "")

    return _EN_PRONOUN.sub(english, question)
