"""Sources as readable units: prose split into sentences, a table row as its "header: cell" pairs.

Prose is split at 。！？ and line ends but not at ；, so a fact and its qualifier on one line stay together;
a sentence longer than MAX_SENTENCE_CHARS is cut at ；/;, and a leading conjunction (但, However, …) is
dropped, so each unit can be quoted on its own. A table row becomes "header: cell；…" and keeps its pairs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

MIN_SENTENCE_CHARS = 10  # shorter pieces are headings or list labels, not statements
MAX_SENTENCE_CHARS = 300
_CJK_CHAR = re.compile(r"[\u3400-\u9fff]")
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=[.])\s+(?=[A-Z\"'(])")
_CLAUSE_END = re.compile(r"(?<=[；;])")  # where a sentence too long to quote is cut
# A sentence that opens with one of these leans on the one before it; the quote starts after it.
ZH_CONJUNCTIONS = frozenset("但 但是 而 并且 同时 此外 另外 因此 所以 然而 不过".split())
_EN_CONJUNCTION = re.compile(
    r"^(?:and|but|however|moreover|furthermore|also|so|thus|therefore|yet|meanwhile|besides|additionally|in addition)"
    r"\b[\s,]*",
    re.I,
)
_TABLE_SEPARATOR = re.compile(r"^\|?\s*:?-{2,}")
_MARKUP = [
    (re.compile(r"\(\[[^\]]*\]\[\d+\]\)"), ""),  # "([arXiv][1])" reference-style links
    (re.compile(r"\[([^\]]+)\]\[\d+\]"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # [text](url) → text
    (re.compile(r"\*\*|__|`"), ""),
    (re.compile(r"^\s*(?:[*\-+]|#+|\d+[.)])\s+"), ""),  # bullets, headings, numbered items
    (re.compile(r"\s+"), " "),
]


def _clean(text: str) -> str:
    for pattern, repl in _MARKUP:
        text = pattern.sub(repl, text)
    return text.strip()


def _cells(line: str) -> list[str]:
    return [_clean(c) for c in line.strip().strip("|").split("|")]


@dataclass(frozen=True)
class Sentence:
    """A readable unit of a source; a table row also keeps its "header: cell" pairs."""

    text: str
    pairs: tuple[str, ...] = ()


def split_sentences(text: str) -> list[Sentence]:
    """Readable sentences of a source: prose split at sentence ends (。！？.!? and line ends; at ；/; only when
    longer than MAX_SENTENCE_CHARS) without a leading conjunction, table rows as "header: cell；…"."""
    lines = text.splitlines()
    out: list[Sentence] = []
    header: list[str] | None = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("|"):
            if _TABLE_SEPARATOR.match(stripped.strip("|").strip()):
                continue
            cells = _cells(stripped)
            next_line = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if _TABLE_SEPARATOR.match(next_line.strip("|").strip()):
                header = cells
                continue
            if header and len(header) == len(cells):
                pairs = tuple(f"{h}: {c}" for h, c in zip(header, cells) if c and c != "-")
                out.append(Sentence("；".join(pairs), pairs))
            else:
                out.append(Sentence(" | ".join(c for c in cells if c)))
            continue
        header = None
        out.extend(Sentence(q) for piece in _SENTENCE_END.split(stripped) for q in _quotable(_clean(piece)) if q)
    return [Sentence(s.text[:MAX_SENTENCE_CHARS], s.pairs) for s in out if len(s.text) >= MIN_SENTENCE_CHARS]


def _quotable(sentence: str) -> list[str]:
    """A sentence as it can be quoted: cut at ；/; only when longer than MAX_SENTENCE_CHARS, and each part
    without a leading conjunction ("但 GPT-3 将…" → "GPT-3 将…")."""
    parts = _CLAUSE_END.split(sentence) if len(sentence) > MAX_SENTENCE_CHARS else [sentence]
    return [_without_leading_conjunction(p.strip()) for p in parts]


def _first_word(text: str) -> str:
    import jieba

    jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict" lines when this loads the dictionary
    return jieba.lcut(text)[0]


def _without_leading_conjunction(text: str) -> str:
    m = _EN_CONJUNCTION.match(text)
    if m and m.end() < len(text):
        rest = text[m.end() :]
        return rest[0].upper() + rest[1:]
    if _CJK_CHAR.match(text):
        first = _first_word(text[:8])  # a word, so 同时期 is not 同时 + 期
        if first in ZH_CONJUNCTIONS:
            return text[len(first) :].lstrip(" ，,、")
    return text


