"""A cited passage as a reader checks it: the chunk's cleaned Markdown rendered safely, the sentences that
support the answer highlighted, the rest dimmed (CSS).

Sentences never cross a line, so a highlight never spans two Markdown blocks. A sentence supports a claim
when it states one of the claim's values (`rag.values`, so `540B` in the answer finds `5400亿`); when no
sentence does, the one whose tokens overlap the claim most (token F1, `eval.normalize.tokens`) supports it.
"""

from __future__ import annotations

import functools
import re
from collections import Counter

from eval.normalize import tokens
from rag.citations import CITATION_MARKER, parse_citations
from rag.values import find_values

Span = tuple[int, int]  # [start, end) in the passage text

# A sentence ends after one of these (and any closing quotes/brackets/emphasis), or at the end of its line.
_SENTENCE = re.compile(r"[^\n]*?(?:[。！？!?；;]+[”’」』）)\"'*]*|\.(?=\s)|$)", re.M)
# Markdown at the start of a line that is not part of the sentence (heading, list, quote, table edge).
_LINE_PREFIX = re.compile(r"[ \t]*(?:#{1,6}[ \t]+|[-*+][ \t]+|\d{1,2}[.)][ \t]+|>[ \t]*|\|[ \t]*)?")
_TABLE_SEPARATOR = re.compile(r"[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$")
_ON, _OFF = "\ue010", "\ue011"  # private-use sentinels around highlights while the Markdown is rendered
_TAG = re.compile(r"(<[^>]*>)")


def split_sentences(text: str) -> list[Span]:
    """Sentence spans of `text`, each within one line, without the line's Markdown prefix or a table's edge
    pipe; a table row is one sentence, a table's `---` separator none."""
    spans: list[Span] = []
    line_start = 0
    for line in text.split("\n"):
        offset, line_start = line_start, line_start + len(line) + 1
        if _TABLE_SEPARATOR.match(line):
            continue
        begin = _LINE_PREFIX.match(line).end()
        if line.lstrip().startswith("|"):  # a table row: one sentence, without the closing pipe
            end = len(line.rstrip().rstrip("|").rstrip())
            if end > begin:
                spans.append((offset + begin, offset + end))
            continue
        for m in _SENTENCE.finditer(line, begin):
            s, e = m.start(), m.end()
            while s < e and line[s].isspace():
                s += 1
            if e > s:
                spans.append((offset + s, offset + e))
    return spans


def cited_claim(answer: str, n: int) -> str:
    """What the answer says with source `n`: its sentences whose citation markers include `n` (markers right after
    a sentence end count for that sentence), or the whole answer when no sentence cites it."""
    parts: list[str] = []
    for s, e in split_sentences(answer):
        if parts and not CITATION_MARKER.sub("", answer[s:e]).strip(" 。.，,"):
            parts[-1] += answer[s:e]  # markers written after the sentence end belong to that sentence
        else:
            parts.append(answer[s:e])
    citing = [p for p in parts if n in parse_citations(p, n)]
    return " ".join(citing) if citing else answer


def _claim_values(claim: str) -> list:
    return [v for v in find_values(claim) if v.claim]


def _f1(a: Counter, b: Counter) -> float:
    common = sum((a & b).values())
    return 0.0 if common == 0 else 2 * common / (sum(a.values()) + sum(b.values()))


@functools.lru_cache(maxsize=1024)
def supporting_sentences(passage: str, claim: str) -> tuple[Span, ...]:
    """The spans of `passage` that support `claim`: every sentence stating one of its values, else the sentence
    overlapping it most (none when nothing overlaps)."""
    sentences = split_sentences(passage)
    wanted = _claim_values(CITATION_MARKER.sub(" ", claim))
    if wanted:
        stating = tuple(
            (s, e) for s, e in sentences if any(w.matches(found) for found in find_values(passage[s:e]) for w in wanted)
        )
        if stating:
            return stating
    claim_tokens = Counter(tokens(claim))
    scored = [(_f1(Counter(tokens(passage[s:e])), claim_tokens), (s, e)) for s, e in sentences]
    best = max(scored, key=lambda x: x[0], default=(0.0, None))
    return (best[1],) if best[0] > 0 else ()


@functools.lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt

    # Raw HTML in the text is escaped (html off); images and links become their text, so a passage loads
    # nothing and links nowhere.
    md = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable("table")
    return md.disable(["image", "link", "autolink"])


def render_markdown(text: str, highlights: tuple[Span, ...] | list[Span] = ()) -> str:
    """`text` (cleaned Markdown) as safe HTML, each highlight span wrapped in `<mark class="rag-support">`.

    The spans are marked with sentinels before rendering; afterwards every text run between two tags gets its
    own <mark>, so the markup stays well nested even where a highlight crosses an emphasis or a table cell.
    """
    text = text.replace(_ON, "").replace(_OFF, "")
    pieces, last = [], 0
    for s, e in sorted(highlights):
        pieces += [text[last:s], _ON, text[s:e], _OFF]
        last = e
    pieces.append(text[last:])
    rendered = _markdown().render("".join(pieces))
    out, on = [], False
    for part in _TAG.split(rendered):
        if part.startswith("<"):
            out.append(part)
            continue
        for run in re.split(f"([{_ON}{_OFF}])", part):
            if run == _ON:
                on = True
            elif run == _OFF:
                on = False
            elif run:
                out.append(f'<mark class="rag-support">{run}</mark>' if on and run.strip() else run)
    return "".join(out)


def preview(passage: str, spans: tuple[Span, ...], limit: int = 300) -> str:
    """The supporting sentences as one line of plain text (a hover preview); the passage's start if none."""
    text = " … ".join(passage[s:e] for s, e in spans) if spans else passage
    text = re.sub(r"\s+", " ", re.sub(r"\*\*|__|`|^#+\s*", "", text)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
