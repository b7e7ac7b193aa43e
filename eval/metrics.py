"""Deterministic answer, citation and retrieval metrics (no model, no I/O). Exact definitions: docs/eval.md, "Metrics".

Answers, aliases and sources are compared as values (`rag.values`) or as normalized text with word
boundaries (`eval.normalize`). `item` is any object with the attributes of `eval.qa.QAItem`: `question`,
`answers: list[list[str]]` (alias groups), `answerable: bool`, `evidence` (items with a `quote`, as mappings
or objects).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from eval.normalize import length_units, normalize, squash, strip_thinking, tokens
from rag.refusal import is_refusal
from rag.values import Value, distinct_claims, find_values, parse_value, prepare

# An answer longer than max(LENGTH_CAP_MIN_UNITS, LENGTH_CAP_FACTOR × gold units) cannot hit: pasting the
# retrieved context into the answer would otherwise contain every alias. Units: `eval.normalize.length_units`
# (a word or number is 1, a CJK character 0.65), so the same content is as long in Chinese as in English.
LENGTH_CAP_MIN_UNITS = 100
LENGTH_CAP_FACTOR = 4
# A source "overlaps" a gold quote when they share a normalized substring of at least this share of the quote.
OVERLAP_SHARE = 0.5
REFUSED_KEY = "<refused>"
# Why an answer is not grounded-correct (`SampleScore.reason`), checked in this order.
REFUSED = "refused"  # answerable, and the answer is a refusal (over-refusal)
TOO_LONG = "too long"  # longer than the length cap
NOT_HIT = "not hit"  # some alias group's value is not stated
NEGATED = "negated"  # a gold value is stated only negated ("不是 175B")
HEDGED = "hedged"  # more candidate values of the gold's kind than the gold has
NOT_CITED = "not cited"  # right, but no cited source states it (nothing cited, or the wrong source)
HALLUCINATED = "hallucinated"  # unanswerable, and the answer is not a refusal
REASONS = (REFUSED, TOO_LONG, NOT_HIT, NEGATED, HEDGED, NOT_CITED, HALLUCINATED)

# A gold value right after one of these, in the same clause and at most NEGATION_WINDOW characters back, is negated.
NEGATION_WINDOW = 12
_NEGATION = re.compile(
    r"不是|并非|而非|绝非|不为|不等于|没有|未(?!来)|不到|不足|无法"
    r"|\bnot\b|n't\b|\bnever\b|\bno\s+longer\b|\brather\s+than\b|\binstead\s+of\b|\bneither\b|\bnor\b",
    re.IGNORECASE,
)
_CLAUSE_BREAK = re.compile(
    r"[，,、。!?！？;；:：\n]|\.(?!\d)|但是|但|而是|不过|然而|\bbut\b|\bhowever\b|\byet\b|\bactually\b", re.IGNORECASE
)


@dataclass(frozen=True)
class SampleScore:
    """Scores of one generated answer to one QA item (see docs/eval.md, "Metrics", for each definition)."""

    answerable: bool
    refused: bool
    hit: bool  # every alias group's value stated, not negated, not hedged, within the length cap
    supported: bool  # hit, and every group's value is in a source the answer cites
    grounded_correct: bool
    uncited_correct: bool  # hit and not refused, but no cited source states the value
    negated: bool
    hedged: bool
    too_long: bool  # longer than the length cap, so it could not hit
    f1: float
    citation_precision: float | None  # None when nothing is cited
    citation_recall: float | None  # None when the item has no gold evidence
    hallucination: bool
    over_refusal: bool
    answer_length: float  # length_units of the visible answer
    answer_key: str  # normalized answer, or REFUSED_KEY for every refusal: what majority voting compares
    reason: str | None  # why it is not grounded-correct (one of REASONS), None when it is


@dataclass(frozen=True)
class QuestionSummary:
    """One question under one setting, over its n samples."""

    n: int
    accuracy: float  # mean grounded_correct
    majority: float  # maj@n
    agreement: float  # share of samples whose answer_key is the modal one


def _quotes(item: Any) -> list[str]:
    return [e["quote"] if isinstance(e, Mapping) else e.quote for e in item.evidence]


def _boundary_char(char: str) -> bool:
    return (char.isascii() and char.isalnum()) or char == "."


def _text_spans(text: str, alias: str) -> list[tuple[int, int]]:
    """Where the normalized text alias occurs in `text` (spans in `rag.values.prepare(text)`).

    An alias that starts (ends) with a Latin letter, digit or `.` must not continue a word or number there:
    `GPT-4` is not in `GPT-4o` or `GPT-4.1`, `T5` not in `mT5`, `175` not in `1750亿`. A trailing `*` makes
    the alias a word prefix (`fine-tun*` matches `fine-tuning`).
    """
    target = normalize(alias)
    if not target:
        raise ValueError(f"alias {alias!r} is empty after normalization; fix the QA item (use letters or digits)")
    prefix = alias.rstrip().endswith("*")
    s = squash(text)
    spans = []
    i = s.text.find(target)
    while i >= 0:
        j = i + len(target)
        start_ok = not _boundary_char(target[0]) or i == 0 or i in s.breaks or not _boundary_char(s.text[i - 1])
        end_ok = prefix or not _boundary_char(target[-1]) or j == len(s.text) or j in s.breaks or not _boundary_char(s.text[j])
        if start_ok and end_ok:
            spans.append((s.positions[i], s.positions[j - 1] + 1))
        i = s.text.find(target, i + 1)
    return spans


def alias_spans(text: str, alias: str) -> list[tuple[int, int]]:
    """Where `text` states `alias`: as a value when the alias is one (`175B` = `1750亿` = `175 billion`), else as
    normalized text with word boundaries. Spans index `rag.values.prepare(text)`."""
    value = parse_value(alias)
    if value is None:
        return _text_spans(text, alias)
    return [(v.start, v.end) for v in find_values(text) if value.matches(v)]


def contains_alias(text: str, alias: str) -> bool:
    """Whether `text` states `alias` (see `alias_spans`)."""
    return bool(alias_spans(text, alias))


def _states_group(text: str, group: Sequence[str]) -> bool:
    return any(contains_alias(text, alias) for alias in group)


def _negated(prepared: str, start: int) -> bool:
    window = prepared[max(0, start - NEGATION_WINDOW) : start]
    breaks = list(_CLAUSE_BREAK.finditer(window))
    if breaks:
        window = window[breaks[-1].end() :]
    return bool(_NEGATION.search(window))


def _gold_kinds(item: Any) -> Counter[str]:
    """Per value kind, how many alias groups give a value of that kind."""
    kinds: Counter[str] = Counter()
    for group in item.answers:
        kinds.update({v.kind for v in map(parse_value, group) if v is not None})
    return kinds


def hedged(answer_text: str, item: Any) -> bool:
    """Whether the answer offers more different values of a gold kind (size, count, date, …) than the gold has
    groups of that kind. Not counted: values the question states, negated values (`不是 13B，而是 175B`), and
    values inside a gold text alias (the `22B` of `Qwen3-235B-A22B`, the `2024` of `2024年底`)."""
    asked = {(v.kind, v.amount) for v in find_values(item.question)}
    prepared = prepare(answer_text)
    in_text_alias = [
        span for group in item.answers for alias in group if parse_value(alias) is None
        for span in _text_spans(answer_text, alias)
    ]  # fmt: skip
    offered: list[Value] = [
        v for v in find_values(answer_text)
        if (v.kind, v.amount) not in asked and not _negated(prepared, v.start)
        and not any(start <= v.start and v.end <= end for start, end in in_text_alias)
    ]  # fmt: skip
    return any(distinct_claims(offered, kind) > n for kind, n in _gold_kinds(item).items())


def _gold_units(alias: str) -> float:
    return length_units(alias.rstrip("*"))


def length_cap(item: Any) -> float:
    """Most answer units that can still hit: max(LENGTH_CAP_MIN_UNITS, LENGTH_CAP_FACTOR × gold units),
    gold units = sum over alias groups of the longest alias's length_units."""
    gold = sum(max(_gold_units(alias) for alias in group) for group in item.answers)
    return max(LENGTH_CAP_MIN_UNITS, LENGTH_CAP_FACTOR * gold)


def covers(chunk: str, quote: str) -> bool:
    """Retrieval coverage: the normalized quote is contained in the normalized chunk."""
    return normalize(quote) in normalize(chunk)


@functools.lru_cache(maxsize=65536)  # every sample of a question cites from the same few chunks
def overlaps(source: str, quote: str) -> bool:
    """Citation overlap: source and quote share a normalized substring of ≥ OVERLAP_SHARE of the quote.

    Looser than `covers` because a cited chunk may cut a quote at its boundary.
    """
    a, b = normalize(source), normalize(quote)
    if not a or not b:
        return False
    if b in a:
        return True
    match = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return match.size >= OVERLAP_SHARE * len(b)


def _f1(pred: Counter[str], gold: Counter[str]) -> float:
    common = sum((pred & gold).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(pred.values()), common / sum(gold.values())
    return 2 * precision * recall / (precision + recall)


def token_f1(answer_text: str, item: Any, refused: bool) -> float:
    """Token F1; for answerable items the best over every choice of one alias per group (tokens joined).

    Unanswerable items score 1.0 when refused, else 0.0.
    """
    if not item.answerable:
        return 1.0 if refused else 0.0
    pred = Counter(tokens(answer_text))
    groups = [[tokens(alias.rstrip("*")) for alias in group] for group in item.answers]
    return max(_f1(pred, Counter(itertools.chain.from_iterable(choice))) for choice in itertools.product(*groups))


def _answer_checks(visible: str, item: Any) -> tuple[bool, bool, bool]:
    """(states every group, some group stated only negated, hedged) for an answerable item."""
    prepared = prepare(visible)
    states, negated = True, False
    for group in item.answers:
        spans = [span for alias in group for span in alias_spans(visible, alias)]
        if not spans:
            states = False
        elif all(_negated(prepared, start) for start, _ in spans):
            negated = True
    return states, negated, hedged(visible, item)


def score_sample(answer_text: str, item: Any, cited_texts: Sequence[str] = (), *, refused: bool | None = None) -> SampleScore:
    """Score one answer to `item` (any object with the attributes of `eval.qa.QAItem`).

    `cited_texts`: the texts of the sources the answer cites (only they can ground it). `refused`: pass a
    verdict, or None to detect it with `rag.refusal.is_refusal` (what the pipeline's `refused` field uses).
    """
    visible = strip_thinking(answer_text)
    answerable = bool(item.answerable)
    if refused is None:
        refused = is_refusal(visible)
    answer_length = length_units(visible)
    too_long = answerable and answer_length > length_cap(item)
    states = negated = is_hedged = False
    if answerable:
        states, negated, is_hedged = _answer_checks(visible, item)
    hit = states and not negated and not is_hedged and not too_long
    # The aliases of a group are one answer written several ways (`175B`, `1750亿`), so a source written in
    # the other language or notation still supports the matched group.
    supported = hit and all(any(_states_group(s, group) for s in cited_texts) for group in item.answers)

    quotes = _quotes(item)
    citation_precision = None
    if cited_texts:
        aliases = [alias for group in item.answers for alias in group]
        useful = [
            any(contains_alias(s, a) for a in aliases) or any(overlaps(s, q) for q in quotes) for s in cited_texts
        ]
        citation_precision = sum(useful) / len(useful)
    citation_recall = None
    if quotes:
        citation_recall = sum(any(overlaps(s, q) for s in cited_texts) for q in quotes) / len(quotes)

    grounded_correct = (hit and supported and not refused) if answerable else refused
    if grounded_correct:
        reason = None
    elif not answerable:
        reason = HALLUCINATED
    else:
        reason = next(r for r, failed in (
            (REFUSED, refused), (TOO_LONG, too_long), (NOT_HIT, not states), (NEGATED, negated), (HEDGED, is_hedged),
            (NOT_CITED, True),
        ) if failed)  # fmt: skip
    return SampleScore(
        answerable=answerable,
        refused=refused,
        hit=hit,
        supported=supported,
        grounded_correct=grounded_correct,
        uncited_correct=hit and not refused and not supported,
        negated=negated,
        hedged=is_hedged,
        too_long=too_long,
        f1=token_f1(visible, item, refused),
        citation_precision=citation_precision,
        citation_recall=citation_recall,
        hallucination=not refused and (not hit if answerable else True),
        over_refusal=answerable and refused,
        answer_length=answer_length,
        answer_key=REFUSED_KEY if refused else normalize(visible),
        reason=reason,
    )


def evidence_recall_at_k(chunk_texts: Sequence[str], quotes: Sequence[str], k: int) -> float | None:
    """Share of gold quotes covered by at least one of the first k chunks; None when there are no quotes."""
    if not quotes:
        return None
    top = chunk_texts[:k]
    return sum(any(covers(c, q) for c in top) for q in quotes) / len(quotes)


def mrr(chunk_texts: Sequence[str], quotes: Sequence[str], k: int | None = None) -> float | None:
    """1 / rank of the first chunk (within the first k) covering any gold quote, 0.0 if none; None without quotes."""
    if not quotes:
        return None
    for rank, chunk in enumerate(chunk_texts[:k], start=1):
        if any(covers(chunk, q) for q in quotes):
            return 1.0 / rank
    return 0.0


def summarize_question(scores: Sequence[SampleScore]) -> QuestionSummary:
    """Mean grounded accuracy, maj@n and agreement over the n samples of one question under one setting.

    The modal answers are the answer_keys with the highest count. maj@n is the mean grounded_correct over the
    samples whose key is modal: 0/1 when one answer wins and its samples agree, and the expected correctness of a
    uniformly random tie-break when several answers tie (or identical answers differ in support).
    """
    if not scores:
        raise ValueError("summarize_question needs at least one sample")
    counts = Counter(s.answer_key for s in scores)
    top = max(counts.values())
    modal = [s for s in scores if counts[s.answer_key] == top]
    return QuestionSummary(
        n=len(scores),
        accuracy=sum(s.grounded_correct for s in scores) / len(scores),
        majority=sum(s.grounded_correct for s in modal) / len(modal),
        agreement=top / len(scores),
    )
