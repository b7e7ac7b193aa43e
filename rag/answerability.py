"""Whether retrieved sources can answer a question: one decision shared by every backend.

A source unit (a sentence, or a table row read as "header: cell" pairs, `rag.sentences`) supports the
question when, in that unit,
- one of the question's entities is named (under any of its names, `rag.aliases`; a name with a version,
  `Llama 3.1`, is not matched by `Llama 3` or `Llama 3.1 405B`'s neighbours);
- the noun a count question counts is there (`多少美元` needs 美元, `How many GPUs` needs GPU);
- a value question (size, count, date, `rag.query`) finds a value of that kind (`rag.values`);
- at least MIN_ATTRIBUTE_SHARE of the question's other content words are there.
The sources can answer when one unit supports the question. The extractive backend then quotes a supporting
unit and otherwise answers with the fixed refusal; LLM backends get a note in the prompt that the sources
may not contain the answer. The thresholds were chosen on the development split of the gold set (README,
"What a sweep finds").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from rag.aliases import Aliases
from rag.glossary import CURATED_ALIASES
from rag.query import KIND_WORDS, QueryAnalysis, analyze
from rag.sentences import Sentence, split_sentences
from rag.values import find_values

MIN_ATTRIBUTE_SHARE = 0.2  # share of the question's content words a supporting unit must contain
VALUE_ATTRIBUTE_SHARE = 0.1  # the same for a value question (the value and the counted noun already narrow it)
ENTITY_WINDOW = 1  # the entity may be named this many units before the supporting one, in the same source
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORDS = re.compile(r"[a-z]{3,}(?:\s+[a-z]{3,}){2}")  # English prose, not a name in a Chinese sentence
_ZH_NUMERAL_COUNT = re.compile(r"[一二两三四五六七八九十百千万]+\s*(?:个|种|项|层|次|块|名|位|条|倍|类|本|天|阶段)")
VALUE_KINDS = {"date": ("date",), "size": ("size", "count", "bytes", "percent"), "count": ("count", "size", "percent", "ratio", "bytes", "fraction")}


@dataclass(frozen=True)
class Support:
    """A unit of a numbered source that supports the question."""

    n: int
    sentence: Sentence


@dataclass(frozen=True)
class Verdict:
    """The decision: `answerable`, and the supporting units (empty when not answerable)."""

    answerable: bool
    supports: tuple[Support, ...]
    analysis: QueryAnalysis


def _name_pattern(name: str) -> str:
    # "GPT-3" must not match inside "GPT-3.5" or "InstructGPT-3"; "Llama 3.1" also matches "Llama3.1"
    body = r"\s*".join(re.escape(part) for part in name.split())
    return r"(?<![A-Za-z0-9])" + body + r"(?![A-Za-z0-9]|\.\d)"


def entity_patterns(analysis: QueryAnalysis, aliases: Aliases) -> list[re.Pattern]:
    """One pattern per entity of the question, matching any of its names."""
    return [re.compile("|".join(_name_pattern(v) for v in aliases.variants(name)), re.I) for name in analysis.entities]


def supports(
    sentence: str, analysis: QueryAnalysis, names: list[re.Pattern], named: bool | None = None, table_row: bool = False
) -> bool:
    """Whether one unit of text supports the question (see the module doc); `named`: whether the entity is
    named in the unit's window (None: look in the unit)."""
    if named is None:
        named = _named(sentence, names)
    if not named:
        return False
    lowered = sentence.lower()
    if analysis.counted and not any(_has_word(lowered, w) for w in analysis.counted):
        return False
    if analysis.asks_value and not _has_value(sentence, analysis.answer_type):
        return False
    if table_row:
        return True  # the asked attribute is a column's header, which a row read without its header lacks
    readable = [forms for forms in analysis.attributes if _readable(forms, lowered)]
    if readable:
        stated = KIND_WORDS.get(analysis.answer_type, set()) if analysis.asks_value else set()  # the value checked above
        share = sum(forms[0] in stated or any(_has_word(lowered, w) for w in forms) for forms in readable) / len(readable)
        if share < (VALUE_ATTRIBUTE_SHARE if analysis.asks_value else MIN_ATTRIBUTE_SHARE):
            return False
    return True


def _named(text: str, names: list[re.Pattern]) -> bool:
    return not names or any(p.search(text) for p in names)  # any: measured better on dev than the first or all


def _has_value(sentence: str, answer_type: str) -> bool:
    kinds = VALUE_KINDS[answer_type]
    if any(v.claim and v.kind in kinds for v in find_values(sentence)):
        return True
    return answer_type != "date" and _ZH_NUMERAL_COUNT.search(sentence) is not None


def _readable(forms: tuple[str, ...], lowered: str) -> bool:
    """Whether a unit could state a word at all: an English word with no Chinese form cannot be looked for in
    a Chinese sentence."""
    return any(not w.isascii() for w in forms) or not _CJK.search(lowered) or bool(_LATIN_WORDS.search(lowered))


def _has_word(lowered: str, word: str) -> bool:
    if re.match(r"[a-z0-9]", word):
        return re.search(r"(?<![a-z0-9])" + re.escape(word), lowered) is not None
    return word in lowered


def judge(question: str, sources: dict[int, str] | Iterable[str], aliases: Aliases | None = None) -> Verdict:
    """Whether `sources` (numbered texts, or texts numbered from 1) can answer `question`."""
    numbered = sources if isinstance(sources, dict) else dict(enumerate(sources, start=1))
    if aliases is None:
        from rag.aliases import learn_aliases

        aliases = CURATED_ALIASES.with_pairs(learn_aliases((str(n), t) for n, t in numbered.items()))
    analysis = analyze(question, aliases)
    names = entity_patterns(analysis, aliases)
    found = []
    for n, text in sorted(numbered.items()):
        units = split_sentences(text)
        named = [_named(u.text, names) for u in units]
        for i, unit in enumerate(units):
            window = any(named[max(0, i - ENTITY_WINDOW) : i + 1])
            if supports(unit.text, analysis, names, window, table_row=not unit.pairs and unit.text.count(" | ") >= 2):
                found.append(Support(n, unit))
    found = tuple(found)
    return Verdict(answerable=bool(found), supports=found, analysis=analysis)
