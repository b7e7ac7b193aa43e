"""Deterministic answer, citation and retrieval metrics (no model, no I/O). Exact definitions: README "Metrics".

Every comparison goes through `eval.normalize.normalize`. `item` is any object with the attributes of
`eval.qa.QAItem`: `answers: list[list[str]]` (alias groups), `answerable: bool`, `evidence` (items with a
`quote`, as mappings or objects).
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

from eval.normalize import normalize, strip_thinking, tokens

# An answer longer than max(LENGTH_CAP_MIN_TOKENS, LENGTH_CAP_FACTOR × gold tokens) cannot hit: pasting the
# retrieved context into the answer would otherwise contain every alias.
LENGTH_CAP_MIN_TOKENS = 100
LENGTH_CAP_FACTOR = 4
# A source "overlaps" a gold quote when they share a normalized substring of at least this share of the quote.
OVERLAP_SHARE = 0.5
REFUSED_KEY = "<refused>"


@dataclass(frozen=True)
class SampleScore:
    """Scores of one generated answer to one QA item (see README "Metrics" for each definition)."""

    answerable: bool
    hit: bool
    refused: bool
    supported: bool
    grounded_correct: bool
    f1: float
    citation_precision: float | None  # None when nothing is cited
    citation_recall: float | None  # None when the item has no gold evidence
    hallucination: bool
    over_refusal: bool
    too_long: bool  # longer than the length cap, so it could not hit
    answer_tokens: int
    answer_key: str  # normalized answer, or REFUSED_KEY for every refusal: what majority voting compares


@dataclass(frozen=True)
class QuestionSummary:
    """One question under one setting, over its n samples."""

    n: int
    accuracy: float  # mean grounded_correct
    majority: float  # maj@n
    agreement: float  # share of samples whose answer_key is the modal one


def _quotes(item: Any) -> list[str]:
    return [e["quote"] if isinstance(e, Mapping) else e.quote for e in item.evidence]


@functools.lru_cache(maxsize=4096)
def _alias_pattern(norm_alias: str) -> re.Pattern[str]:
    # A number in an alias must not match part of a longer number: `175` is not in `1750亿`, `3` not in `3.5`.
    head = r"(?<![\d.])" if norm_alias[0].isdigit() else ""
    tail = r"(?![\d.])" if norm_alias[-1].isdigit() else ""
    return re.compile(head + re.escape(norm_alias) + tail)


def contains_alias(text: str, alias: str) -> bool:
    """Whether `alias` occurs in `text` after normalization, numbers matching only whole numbers."""
    norm_alias = normalize(alias)
    if not norm_alias:
        raise ValueError(f"alias {alias!r} is empty after normalization; fix the QA item (use letters or digits)")
    norm_text = normalize(text)
    return norm_alias in norm_text and _alias_pattern(norm_alias).search(norm_text) is not None


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


def length_cap(item: Any) -> int:
    """Most answer tokens that can still hit: max(LENGTH_CAP_MIN_TOKENS, LENGTH_CAP_FACTOR × gold tokens),
    gold tokens = sum over alias groups of the longest alias's token count."""
    gold = sum(max(len(tokens(alias)) for alias in group) for group in item.answers)
    return max(LENGTH_CAP_MIN_TOKENS, LENGTH_CAP_FACTOR * gold)


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
    groups = [[tokens(alias) for alias in group] for group in item.answers]
    return max(_f1(pred, Counter(itertools.chain.from_iterable(choice))) for choice in itertools.product(*groups))


def _is_refusal(text: str) -> bool:
    from rag.citations import is_refusal  # the single refusal pattern list lives with the prompt's refusal

    return is_refusal(text)


def score_sample(
    answer_text: str,
    item: Any,
    cited_texts: Sequence[str] = (),
    retrieved_texts: Sequence[str] = (),
    *,
    refused: bool | None = None,
) -> SampleScore:
    """Score one answer to `item`.

    `cited_texts`: the texts of the sources the answer cites; `retrieved_texts`: every source shown to the model
    (used for `supported` when nothing is cited). `refused`: pass the pipeline's verdict, or None to detect it
    with `rag.citations.is_refusal`.
    """
    visible = strip_thinking(answer_text)
    answerable = bool(item.answerable)
    if refused is None:
        refused = _is_refusal(visible)
    answer_tokens = len(tokens(visible))
    too_long = answerable and answer_tokens > length_cap(item)
    hit = answerable and not too_long and all(
        any(contains_alias(visible, alias) for alias in group) for group in item.answers
    )
    sources = list(cited_texts) or list(retrieved_texts)
    # The aliases of a group are one answer written several ways (`175B`, `1750亿`), so a source written in
    # the other language or notation still supports the matched group.
    supported = hit and all(any(contains_alias(s, a) for a in group for s in sources) for group in item.answers)

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

    return SampleScore(
        answerable=answerable,
        hit=hit,
        refused=refused,
        supported=supported,
        grounded_correct=(hit and supported and not refused) if answerable else refused,
        f1=token_f1(visible, item, refused),
        citation_precision=citation_precision,
        citation_recall=citation_recall,
        hallucination=not refused and (not hit if answerable else True),
        over_refusal=answerable and refused,
        too_long=too_long,
        answer_tokens=answer_tokens,
        answer_key=REFUSED_KEY if refused else normalize(visible),
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
