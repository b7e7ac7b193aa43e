"""Answers without a language model: the source sentences that best match the question, with citations.

This is the honest fallback when no chat model can be loaded. Each source is split into sentences, at 。！？
and line ends but not at ；, so a fact and its qualifier on one line stay together (a table row becomes
"header: cell; …" so it reads on its own), and a leading conjunction (但, However, …) is not quoted. A sentence
scores the IDF-weighted question terms it contains, where model names (GPT-3, LLaMA) weigh 3, numbers 2 and
other words 1, plus a bonus when the question asks how many / how large and the sentence holds a size (175B,
1750亿), or asks when and it holds a year. A model name matches under its other names (千问3 → Qwen3: the
curated table and the pairs the sources state, rag.aliases); English questions also match the Chinese words
for domain terms (rag.glossary), since most facts are stated only in Chinese. With no meaningful overlap — a
name the question asks about is absent from every sentence, or less than half the question's weight matches —
the answer is the refusal sentence. Sentences are quoted in the sources' own language.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from rag.answerability import Verdict, judge
from rag.aliases import Aliases, learn_aliases
from rag.config import SamplingParams
from rag.followup import model_names
from rag.glossary import CURATED_ALIASES, expand_query
from rag.prompt import DEFAULT_CONTEXT_WINDOW, estimate_tokens
from rag.templates import REFUSALS, detect_language
from rag.sentences import Sentence, split_sentences
from rag.types import Generation
from rag.values import find_values

NAME_WEIGHT = 3.0
NUMBER_WEIGHT = 2.0
WORD_WEIGHT = 1.0
ANSWER_TYPE_BONUS = 1.5  # × when the question asks how many/when and the sentence holds a size/year
SECOND_SENTENCE_RATIO = 0.8  # a second sentence is added when it scores at least this share of the best
CONFLICT_RATIO = 0.5  # …or when it states another value of the asked kind and scores at least this share
SUBJECT_BONUS = 1.5  # × when a named model opens the sentence: the sentence is about it

STOP_WORDS = frozenset(
    "的 了 是 有 在 和 与 及 或 吗 呢 吧 啊 什么 多少 哪 哪个 哪些 哪一 怎么 怎样 如何 为什么 请 一下 一个 这个 那个 它 它们 "
    "其 中 上 被 把 对 也 都 还 就 个 几 是否 能 会 可以 么 呀 "
    "a an the of to in on for and or is are was were be been do does did have has had how what when which who "
    "whom where why many much it its they their them this that these those with by from as at about tell me please "
    "there any".split()
)  # fmt: skip

_ASKS_SIZE = re.compile(r"多少|多大|几|参数量|参数规模|规模|尺寸|大小|how many|how much|how large|how big|size|parameters", re.I)
_ASKS_TIME = re.compile(r"何时|什么时候|哪一?年|哪个月|时间|日期|\bwhen\b|what year|which year|\bdate\b", re.I)
_SIZE = re.compile(r"\d+(?:\.\d+)?\s*(?:[BMKT]\b|亿|万|billion|million|trillion)", re.I)
_YEAR = re.compile(r"(?:19|20)\d\d")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_CJK_CHAR = re.compile(r"[\u3400-\u9fff]")

@dataclass(frozen=True)
class _Candidate:
    n: int
    sentence: Sentence
    score: float


def _terms(text: str) -> set[str]:
    from core.lexical import tokenize

    return {t for t in tokenize(text) if t.strip() and t not in STOP_WORDS}


def _name_pattern(name: str) -> re.Pattern:
    # "GPT-3" must not match inside "GPT-3.5" or "InstructGPT-3"
    return re.compile(r"(?<![A-Za-z0-9])" + re.escape(name) + r"(?![A-Za-z0-9]|\.\d)", re.I)


@dataclass(frozen=True)
class _Question:
    """What a sentence is scored against."""

    names: dict[str, re.Pattern]
    words: frozenset[str]
    asks_size: bool
    asks_time: bool

    @classmethod
    def parse(cls, question: str, aliases: Aliases) -> "_Question":
        """A name matches under any of its names: 千问3 also matches "Qwen3"."""
        variants = {name: aliases.variants(name) for name in model_names(question, aliases)}
        names = {name: re.compile("|".join(_name_pattern(v).pattern for v in vs), re.I) for name, vs in variants.items()}
        name_tokens = {t for vs in variants.values() for v in vs for t in _terms(v)}
        return cls(
            names=names,
            words=frozenset(_terms(expand_query(question, aliases)) - name_tokens),
            asks_size=bool(_ASKS_SIZE.search(question)),
            asks_time=bool(_ASKS_TIME.search(question)),
        )

    def matches(self, text: str, terms: set[str] | None = None) -> set[str]:
        found = {name for name, p in self.names.items() if p.search(text)}
        return found | (self.words & (_terms(text) if terms is None else terms))

    def wanted_value(self, text: str) -> bool:
        return bool((self.asks_size and _SIZE.search(text)) or (self.asks_time and _YEAR.search(text)))


def extract_answer(
    question: str, sources: dict[int, str], headings: dict[int, str] | None = None, verdict: Verdict | None = None
) -> str:
    """The best supporting sentence(s) with [n] citations, or the refusal sentence (see the module doc).
    `verdict`: the decision already taken on these sources (`rag.prompt.build_messages`), else it is taken
    here (`rag.answerability.judge`)."""
    lang = detect_language(question)
    aliases = CURATED_ALIASES.with_pairs(learn_aliases((str(n), text) for n, text in sources.items()))
    if verdict is None:
        verdict = judge(question, sources, aliases, headings)
    if not verdict.answerable:
        return REFUSALS[lang]
    supporting = {(s.n, s.sentence.text) for s in verdict.supports}
    q = _Question.parse(question, aliases)
    sentences = [(n, s) for n, text in sorted(sources.items()) for s in split_sentences(text)]
    sentence_terms = [_terms(s.text) for _, s in sentences]
    total = len(sentences)

    def idf(present: int) -> float:
        return math.log(1 + total / (1 + present))

    weights = {name: NAME_WEIGHT * idf(sum(bool(p.search(s.text)) for _, s in sentences)) for name, p in q.names.items()}
    for word in q.words:
        base = NUMBER_WEIGHT if _NUMBER.match(word) else WORD_WEIGHT
        weights[word] = base * idf(sum(word in terms for terms in sentence_terms))
    wanted = sum(weights.values()) or 1.0

    candidates = []
    for (n, sentence), terms in zip(sentences, sentence_terms):
        text = sentence.text
        if (n, text) not in supporting:
            continue  # names another entity, or lacks the asked attribute or a value of the asked kind
        matched = q.matches(text, terms)
        score = sum(weights[t] for t in matched) + 0.01 * wanted  # a supporting unit stays a candidate
        if q.wanted_value(text):
            score *= ANSWER_TYPE_BONUS
        if any(m.start() <= max(12, len(text) // 5) for p in q.names.values() for m in p.finditer(text)):
            score *= SUBJECT_BONUS
        score /= 1 + len(_shorten(sentence, q)) / 400  # prefer the concise statement of the same fact
        candidates.append(_Candidate(n, sentence, score))
    if not candidates:
        return REFUSALS[lang]
    candidates.sort(key=lambda c: -c.score)
    chosen = [candidates[0]]
    for c in candidates[1:]:
        if c.score < SECOND_SENTENCE_RATIO * chosen[0].score:
            break
        if c.n != chosen[0].n:
            chosen.append(c)
            break
    if len(chosen) == 1 and verdict.analysis.asks_value:
        conflict = _conflicting(chosen[0], candidates, verdict.analysis.answer_type, q)
        if conflict is not None:
            chosen.append(conflict)
    return " ".join(_cite(_shorten(c.sentence, q), c.n) for c in chosen)


def _conflicting(best: _Candidate, candidates: list[_Candidate], answer_type: str, q: _Question) -> _Candidate | None:
    """The best candidate from another source that states a different value of the asked kind than `best`
    (the reports disagree: both are quoted), or None."""
    kinds = {"date": ("date",)}.get(answer_type, ("size", "count"))

    def values(c: _Candidate) -> set:
        return {v.amount for v in find_values(_shorten(c.sentence, q)) if v.claim and v.kind in kinds}

    mine = values(best)
    for c in candidates[1:]:
        if c.n != best.n and c.score >= CONFLICT_RATIO * best.score:
            theirs = values(c)
            if mine and theirs and not (mine & theirs):
                return c
    return None


def _shorten(sentence: Sentence, q: _Question) -> str:
    """A table row keeps its first cell (what the row is about) and the cells the question asks for."""
    if not sentence.pairs:
        return sentence.text
    keep = [sentence.pairs[0]] + [p for p in sentence.pairs[1:] if q.matches(p.split(":")[0]) or q.wanted_value(p)]
    return "；".join(keep) if len(keep) > 1 else sentence.text


def _cite(sentence: str, n: int) -> str:
    body = sentence.rstrip("。.；;，, ")
    return f"{body} [{n}]。" if _CJK_CHAR.search(body) else f"{body} [{n}]."


class ExtractiveGenerator:
    """A Generator without a model: quotes the best matching source sentences (see `extract_answer`)."""

    backend = "extractive"
    ignores_sampling = True  # quotes its sources: no sampling parameter changes the answer
    name = "extractive"
    device = "cpu"
    context_window = DEFAULT_CONTEXT_WINDOW

    @property
    def revision(self) -> str:
        """The "model" is this extraction code: a hash of this file (first 12 hex digits)."""
        return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]

    @property
    def info(self) -> dict[str, str]:
        return {"engine": "extractive (no language model)", "dtype": "none", "device": "cpu"}

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def generate_many(self, messages: list[dict[str, str]], rows: Sequence[SamplingParams]) -> list[Generation]:
        """Sampling does not apply: one extraction serves every row (its time counted once, over all rows)."""
        if not rows:
            return []
        g = self.generate(messages, rows[0])
        return [dataclasses.replace(g, batch_rows=len(rows))] * len(rows)

    def generate(
        self,
        messages: list[dict[str, str]],
        params: SamplingParams,
        on_token: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Generation:
        """Answer from the context of messages built by `rag.prompt.build_messages` (`rag.context`: the question,
        the shown sources and the decision on them); sampling does not apply."""
        context = getattr(messages, "context", None)
        if context is None:
            raise TypeError("the extractive backend answers from the sources of rag.prompt.build_messages; these messages carry none")
        t0 = time.perf_counter()
        answer = extract_answer(
            context.question, {s.n: s.text for s in context.sources}, {s.n: s.heading for s in context.sources}, context.verdict
        )
        elapsed = (time.perf_counter() - t0) * 1000
        if on_token:
            on_token(answer)
        return Generation(answer=answer, thinking=None, truncated=False, new_tokens=0, ttft_ms=elapsed, generate_ms=elapsed)
