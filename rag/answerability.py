"""Whether retrieved sources can answer a question: one decision shared by every backend.

A source unit (a sentence, or a table row read as "header: cell" pairs, `rag.sentences`) supports the
question when, in that unit,
- one of the question's entities is named (under any of its names, `rag.aliases`; a name with a version,
  `Llama 3.1`, is not matched by `Llama 3` or `Llama 3.1 405B`'s neighbours; `GPT1` is `GPT-1`), or the unit
  is about it: it follows the unit naming it, a label line naming it (`GPT1（2018）：`) or sits under a
  heading naming it, and does not open with another model's name;
- the noun a count question counts is there (`多少美元` needs 美元, `How many GPUs` needs GPU);
- a value question (size, count, date, `rag.query`) finds a value of that kind (`rag.values`);
- at least MIN_ATTRIBUTE_SHARE of the question's other content words are there.
A question asking two things (`rag.query.question_parts`) is judged part by part. The sources can answer
when every part is supported by a unit. The extractive backend then quotes a supporting unit and otherwise
answers with the fixed refusal; LLM backends get a note in the prompt that the sources may not contain the
answer. The rules and thresholds were chosen on the development split of the gold set (docs/usage.md,
"Answerability").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable, Iterable

from rag.aliases import Aliases
from rag.glossary import CURATED_ALIASES
from rag.query import KIND_WORDS, QueryAnalysis, analyze, question_parts
from rag.sentences import Sentence, split_sentences
from rag.values import find_values

MIN_ATTRIBUTE_SHARE = 0.2  # share of the question's content words a supporting unit must contain
VALUE_ATTRIBUTE_SHARE = 0.1  # the same for a value question (the value and the counted noun already narrow it)
ENTITY_WINDOW = 1  # the entity may be named this many units before the supporting one, in the same source
SUBJECT_CHARS = 12  # a name this close to a unit's start is its subject (also the extractive backend's rule)
UNLIMITED = 1 << 30  # a carry that lasts to the end of the source
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORDS = re.compile(r"[a-z]{3,}(?:\s+[a-z]{3,}){2}")  # English prose, not a name in a Chinese sentence
_ZH_NUMERAL_COUNT = re.compile(r"[一二两三四五六七八九十百千万]+\s*(?:个|种|项|层|次|块|名|位|条|倍|类|本|天|阶段)")
_NUMBER_OR_MEASURE = frozenset("零一二两三四五六七八九十百千万亿个块道名位种项次条张台家款篇部")
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
    # "GPT-3" must not match inside "GPT-3.5" or "InstructGPT-3"; "GPT-3", "GPT3" and "GPT 3" match each other,
    # as "Llama 3.1" and "Llama3.1" do: a hyphen or space between letters and digits is optional
    parts = [p for p in re.split(r"[\s\-]+|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z]{2})", name) if p]
    body = r"[\s\-]?".join(re.escape(part) for part in parts)
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
    if len(word) == 1 and _CJK.match(word):  # 类 is counted in "38 类" and 1.3万条, not in 人类
        import jieba

        return word in lowered and any(
            word in token and all(ch in _NUMBER_OR_MEASURE for ch in token.replace(word, "", 1))
            for token in jieba.lcut(lowered)
        )
    return word in lowered


def _label(unit: Sentence) -> str | None:
    """A table row's first cell, which says what the row is about (`GPT-1` in `模型: GPT-1；层数: 12`); None
    for prose."""
    if unit.pairs:
        return unit.pairs[0].partition(": ")[2]
    return unit.text.split(" | ", 1)[0] if _is_plain_row(unit) else None


def _is_plain_row(unit: Sentence) -> bool:
    """A table row read without its header (`rag.sentences`: cells joined by " | ")."""
    return not unit.pairs and unit.text.count(" | ") >= 2


def _about(
    units: list[Sentence], names: list[re.Pattern], others: Callable[[str], bool], labels_other: Callable[[str], bool],
    heading_named: bool,
) -> list[bool]:  # fmt: skip
    """Per unit: whether it is about one of the question's entities. A table row is about the model its first
    cell names (`labels_other`: the cell names another one), whatever its other cells say; a unit naming one
    of the entities is; a unit naming only other models is not; any other unit is about what the unit before
    it was about, for ENTITY_WINDOW units, and without limit after a label line naming the entity
    (`GPT1（2018）：`) or under a heading naming it."""
    about: list[bool] = []
    carry = 0
    for unit in units:
        label = _label(unit)
        if label is not None and not _named(label, names) and labels_other(label):
            about.append(False)
            carry = 0
        elif _named(unit.text, names):
            about.append(True)
            carry = UNLIMITED if unit.text.rstrip().endswith((":", "：")) else ENTITY_WINDOW
        elif others(unit.text):
            about.append(False)
            carry = 0
        else:
            about.append(heading_named or carry > 0)
            carry -= 1
    return about


def judge(
    question: str,
    sources: dict[int, str] | Iterable[str],
    aliases: Aliases | None = None,
    headings: dict[int, str] | None = None,
) -> Verdict:
    """Whether `sources` (numbered texts, or texts numbered from 1) can answer `question`; `headings`: the
    sources' heading paths by number, when known."""
    numbered = sources if isinstance(sources, dict) else dict(enumerate(sources, start=1))
    if aliases is None:
        from rag.aliases import learn_aliases

        aliases = CURATED_ALIASES.with_pairs(learn_aliases((str(n), t) for n, t in numbered.items()))
    whole = analyze(question, aliases)
    units = {n: split_sentences(text) for n, text in sorted(numbered.items())}
    found: dict[tuple[int, str], Support] = {}
    supported_parts = 0
    parts = question_parts(question)
    for part in parts:
        analysis = analyze(part, aliases) if part != question else whole
        if not analysis.entities:  # "…, and how long is its context window?": the question's subject
            analysis = replace(analysis, entities=whole.entities)
        part_supports = _part_supports(analysis, units, aliases, headings or {})
        supported_parts += bool(part_supports)
        found.update({(s.n, s.sentence.text): s for s in part_supports})
    answerable = supported_parts == len(parts)  # "any part" measured the same on dev; a half answer is wrong
    return Verdict(answerable=answerable, supports=tuple(found.values()) if answerable else (), analysis=whole)


def _part_supports(
    analysis: QueryAnalysis, units: dict[int, list[Sentence]], aliases: Aliases, headings: dict[int, str]
) -> list[Support]:
    names = entity_patterns(analysis, aliases)
    others = _other_models(names, analysis, aliases)
    labels_other = _names_another(names, aliases)
    found = []
    for n, source_units in units.items():
        about = _about(source_units, names, others, labels_other, bool(names) and _named(headings.get(n, ""), names))
        for unit, is_about in zip(source_units, about):
            if supports(unit.text, analysis, names, is_about, table_row=_is_plain_row(unit)):
                found.append(Support(n, unit))
    return found


def _other_models(names: list[re.Pattern], analysis: QueryAnalysis, aliases: Aliases) -> Callable[[str], bool]:
    """Whether a text opens with (names in its first fifth, or first SUBJECT_CHARS characters: its subject) a
    model other than the question's entities: a name with a digit (GLM-130B), with
    a capital after a small letter (LLaMA, InstructGPT) or in Chinese (the aliases table: 文心一言); not an
    acronym such as RLHF or MMLU, nor capitalised English words (a paper's title, Pre-Training)."""
    from rag.followup import model_names

    skip = {w.lower() for w in analysis.counted}

    def model_like(name: str) -> bool:
        if any(ch.isdigit() for ch in name) or not name.isascii():
            return True
        return re.search(r"[a-z][A-Z]", name) is not None

    def others(text: str) -> bool:
        opening = text[: max(SUBJECT_CHARS, len(text) // 5)]
        for name in model_names(opening, aliases):
            if name.lower() in skip or not model_like(name):
                continue
            if not any(p.fullmatch(name) or p.search(name) for p in names):
                return True
        return False

    return others


def _names_another(names: list[re.Pattern], aliases: Aliases) -> Callable[[str], bool]:
    """Whether a row's first cell names a model (any name `model_names` finds: Chinchilla, GPT-1) other than
    the question's entities."""
    from rag.followup import model_names

    def names_another(cell: str) -> bool:
        return any(not any(p.search(name) for p in names) for name in model_names(cell, aliases))

    return names_another
