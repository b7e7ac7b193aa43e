"""Cleaning a report's text without losing a fact, and remembering where every character came from.

The output is Markdown: headings (`#`), paragraphs, lists, pipe tables, `===` answer separators and code
fences survive; noise goes: HTML tags and attributes (their visible text stays), `<sup>[n]</sup>` reference
tags, images, link targets (link text stays), citation stubs such as `[ANTHROPIC.COM](#)` or a bare
`EN.WIKIPEDIA.ORG`, reference-style markers `([arXiv][5])` and their `[5]: https://…` definitions,
superscript page/footnote markers (`原理³`), page-number lines, horizontal rules and YAML front matter.
Lines broken inside a sentence (PDF extraction) are joined; real paragraph, list and table boundaries stay.

Every step is a substitution that carries a per-character map to the original text, so
`CleanText.offsets[i]` is the index in the original of cleaned character `i` (characters the cleaner
inserts point at the place they replace).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Callable, Sequence, Union

from core.lexical import CJK

_CJK_CHAR = re.compile(f"[{CJK}]")
SUPERSCRIPT_DIGITS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
# A tag whose quoted attribute values may themselves contain ">" (zhihu puts HTML inside data-tooltip).
_ATTRS = r"""(?:\s(?:[^>"']|"[^"]*"|'[^']*')*)?"""
TAG = re.compile(rf"</?[A-Za-z][A-Za-z0-9-]*{_ATTRS}/?>")
# Citation stubs left by PDF/web extraction: an upper-case domain, optionally as a link to "#".
_DOMAIN = r"[A-Z0-9][A-Z0-9-]*(?:\.[A-Z0-9-]+)*\.(?:COM|ORG|NET|AI|IO|EDU|GOV|DEV|CO|CN|UK|ME|APP)"
_STUB = rf"(?:\[{_DOMAIN}\]\(#?\)|\b{_DOMAIN}\b)"
# Characters that end a sentence (after trailing quotes/brackets/bold markers are set aside).
_TERMINAL = "。！？!?；;：:…."
_CLOSERS = "”’」』）)\"'*"
# A line that starts with one of these continues the previous line.
_CONTINUATION_START = re.compile(r"[，。、；：！？）」』”’%]|[,;:!?)](?:\s|$)")
_CONTENT_START = re.compile(rf"[{CJK}A-Za-z0-9(（“\"*\[《—]")
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+]|\d{1,2}[.)、])[ \t]+")
_STRUCTURAL = ("#", "|", "```", "===", ">")
# A line shorter than this that ends without punctuation is a heading or a short note, not a line that
# PDF extraction broke inside a sentence.
MIN_BROKEN_LINE = 20
MAX_HEADING_LINE = 30
_SENTENCE_PUNCT = re.compile(r"[，。！？；：,;!?]")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?---[ \t]*(?:\n|\Z)", re.S)
_MARKDOWN_HEADING = re.compile(r"^#{1,6} ", re.M)

Piece = Union[str, int]  # literal text, or the number of a match group whose characters are kept


@dataclass(frozen=True)
class CleanText:
    """Cleaned Markdown text, its title, and the original index of every cleaned character."""

    text: str
    offsets: tuple[int, ...]
    title: str

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original [start, end) covering cleaned text[start:end] (end > start)."""
        return self.offsets[start], self.offsets[end - 1] + 1


class _Mapped:
    """Text plus, per character, its index in the original."""

    def __init__(self, text: str, offsets: list[int]):
        self.text = text
        self.offsets = offsets

    def _anchor(self, pos: int) -> int:
        if pos < len(self.offsets):
            return self.offsets[pos]
        return self.offsets[-1] + 1 if self.offsets else 0

    def sub(self, pattern: str | re.Pattern, repl: str | Callable[[re.Match], Sequence[Piece] | str | None], flags: int = 0) -> "_Mapped":
        """Like re.sub; a callable may return pieces (str literal / int group kept) or None (keep the match)."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, flags)
        out_text: list[str] = []
        out_offsets: list[int] = []
        last = 0
        for m in regex.finditer(self.text):
            pieces = repl(m) if callable(repl) else repl
            if pieces is None:
                continue
            out_text.append(self.text[last : m.start()])
            out_offsets.extend(self.offsets[last : m.start()])
            pos = m.start()  # inserted text points at the original character it stands in front of
            for piece in [pieces] if isinstance(pieces, str) else pieces:
                if isinstance(piece, int):
                    s, e = m.span(piece)
                    if s >= 0:
                        out_text.append(self.text[s:e])
                        out_offsets.extend(self.offsets[s:e])
                        pos = e
                elif piece:
                    out_text.append(piece)
                    out_offsets.extend([self._anchor(pos)] * len(piece))
            last = m.end()
        if last == 0 and not out_text:
            return self
        out_text.append(self.text[last:])
        out_offsets.extend(self.offsets[last:])
        return _Mapped("".join(out_text), out_offsets)


def _is_cjk(ch: str) -> bool:
    return bool(ch) and bool(_CJK_CHAR.match(ch))


def _glue(left: str, right: str) -> str:
    """What joins two pieces of one sentence: a space between two Latin words or numbers, else nothing."""
    return " " if left and right and left[-1].isascii() and left[-1].isalnum() and right[0].isascii() and right[0].isalnum() else ""


def _line_around(text: str, start: int, end: int) -> tuple[str, str]:
    """The text from the previous newline to `start`, and from `end` to the next newline."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    return text[line_start:start], text[end : len(text) if line_end < 0 else line_end]


def _remove_between(m: re.Match) -> str:
    """Remove a match; keep a space where it separated two words ("2. [^](url)Title" → "2. Title")."""
    before, after = _line_around(m.string, m.start(), m.end())
    if _glue(before, after):
        return " "
    spaced = m.group(0)[:1].isspace()
    return " " if spaced and before and after[:1].isalnum() and not _is_cjk(before[-1]) and not _is_cjk(after[0]) else ""


def _front_matter(doc: _Mapped) -> tuple[_Mapped, str]:
    m = _FRONT_MATTER.match(doc.text)
    if not m:
        return doc, ""
    title = re.search(r"""^title:[ \t]*["']?(.+?)["']?[ \t]*$""", m.group(1) or "", re.M)
    return doc.sub(_FRONT_MATTER, ""), (title.group(1).strip() if title else "")


def _html_to_markdown(doc: _Mapped) -> tuple[_Mapped, str]:
    title_m = re.search(r"<title[^>]*>(.*?)</title>", doc.text, re.S | re.I)
    title = html.unescape(re.sub(r"\s+", " ", title_m.group(1))).strip() if title_m else ""
    doc = doc.sub(r"<(script|style|noscript|template|head)\b.*?</\1\s*>", "", re.S | re.I)
    doc = doc.sub(r"[ \t\r\n]+", " ")  # HTML whitespace is insignificant; block tags below make the lines
    doc = doc.sub(r"<h([1-6])\b[^>]*>", lambda m: "\n\n" + "#" * int(m.group(1)) + " ", re.I)
    doc = doc.sub(r"</h[1-6]\s*>", "\n\n", re.I)
    doc = doc.sub(r"<li\b[^>]*>", "\n- ", re.I)
    doc = doc.sub(r"<tr\b[^>]*>", "\n|", re.I)
    doc = doc.sub(r"<t[hd]\b[^>]*>", " ", re.I)
    doc = doc.sub(r"</t[hd]\s*>", " |", re.I)
    doc = doc.sub(r"</li\s*>", "\n", re.I)
    doc = doc.sub(r"</(?:p|div|section|article|ul|ol|table|blockquote|pre|header|footer|main|figure|dl|dd|dt)\s*>|<(?:p|div|section|article|ul|ol|table|blockquote|pre|hr|dl)\b[^>]*>", "\n\n", re.I)
    doc = doc.sub(r"<![A-Za-z][^>]*>|<\?[^>]*\?>", "")  # <!DOCTYPE …>, <?xml …?>
    return doc, title


def _br(m: re.Match) -> str:
    before, _ = _line_around(m.string, m.start(), m.end())
    return " " if before.lstrip().startswith("|") else "\n"


def _link(m: re.Match) -> Sequence[Piece] | str:
    text, target = m.group(2).strip(), m.group(3)
    if not text or text == "^" or target in ("#", "") or re.fullmatch(rf"{_DOMAIN}|(?:https?://|www\.)\S*", text):
        return _remove_between(m)
    return [1, 2]


def _superscript(m: re.Match) -> str:
    before, after = _line_around(m.string, m.start(), m.end())
    if not before.strip() or not after.strip() or _is_cjk(before[-1]) or _is_cjk(after[0]):
        return ""
    return " " if _glue(before, after) or any(c.isspace() for c in m.group(0)) else ""


def _fence_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], None
    for m in re.finditer(r"^[ \t]*```.*$", text, re.M):
        if start is None:
            start = m.start()
        else:
            spans.append((start, m.end()))
            start = None
    if start is not None:
        spans.append((start, len(text)))
    return spans


def _in_spans(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(s <= pos < e for s, e in spans)


def _is_list_item(line: str) -> bool:
    return bool(_LIST_ITEM.match(line))


def _is_structural(line: str) -> bool:
    return line.lstrip().startswith(_STRUCTURAL)


def _heading_like(line: str) -> bool:
    s = line.strip()
    return 0 < len(s) <= MAX_HEADING_LINE and not _SENTENCE_PUNCT.search(s) and not _is_list_item(line) and not _is_structural(line)


def _ends_sentence(line: str) -> bool:
    s = line.rstrip().rstrip(_CLOSERS)
    return not s or s[-1] in _TERMINAL


def _join_break(m: re.Match, fences: list[tuple[int, int]], markdown: bool) -> Sequence[Piece] | None:
    """Decide one line break: None keeps it; otherwise the text that replaces it (and any list marker)."""
    text = m.string
    if _in_spans(m.start(), fences):
        return None
    prev, _ = _line_around(text, m.start(), m.start())
    nxt_start = m.end()
    _, nxt = _line_around(text, nxt_start, nxt_start)
    marker = m.group(1) or ""
    blank = m.group(0).count("\n") > 1
    if not prev.strip() or not nxt.strip() or _is_structural(prev) or _is_structural(marker + nxt):
        return None
    if not marker and _CONTINUATION_START.match(nxt):
        return [""]
    if not blank or markdown or _ends_sentence(prev) or len(prev.strip()) < MIN_BROKEN_LINE:
        return None
    if not (_is_cjk(prev[-1]) or prev[-1].isalnum() or prev[-1] in "，、（(“—-/"):
        return None
    after_next = text[nxt_start + len(nxt) : nxt_start + len(nxt) + 2]
    standalone_next = after_next.startswith("\n\n") or after_next in ("", "\n")
    if marker:
        # A list marker PDF extraction put in front of a sentence's continuation ("…在2024年" / "- 4月…").
        if _is_list_item(prev) or not (_is_cjk(nxt[:1]) or nxt[:1].isdigit()) or not _is_cjk(prev[-1]):
            return None
        return [_glue(prev, nxt)]
    if not _CONTENT_START.match(nxt) or (standalone_next and _heading_like(nxt)):
        return None
    return [_glue(prev, nxt)]


def _promote_pdf_headings(doc: _Mapped) -> _Mapped:
    """Mark short standalone title lines of plain text (no Markdown headings) as headings (`#`/`##`).

    PDF exports put a footnote/line marker (`技术细节介绍³`) after their section titles; when a document has
    such markers, only marked lines qualify. A heading is followed by a list or a paragraph of 40+ characters.
    """
    text = doc.text
    marked = bool(re.search(f"[{SUPERSCRIPT_DIGITS}]", text))
    first = re.search(r"\S", text)

    def promote(m: re.Match) -> Sequence[Piece] | None:
        line, is_first = m.group(2), bool(first) and m.start(2) == first.start()
        following = re.match(r"\n*([^\n]*)", text[m.end() :]).group(1)
        if not _heading_like(line) or (marked and not m.group(3)):
            return None
        if not (is_first or _is_list_item(following) or len(following.strip()) >= 40):
            return None
        return [1, "# " if is_first else "## ", 2, 3]

    return doc.sub(re.compile(rf"(\A\s*|\n\n)([^\n]+?)([{SUPERSCRIPT_DIGITS}]+)?[ \t]*(?=\n\n|\Z)"), promote)


_ENTITY_AFTER = re.compile(r"#?[A-Za-z0-9]+;")


def _entity(m: re.Match) -> str:
    """An HTML entity as its character, except where that character would be markup: `<` and `>` stay
    `&lt;`/`&gt;` (escaped text such as `&lt;script&gt;` must not become a tag in chunk text handed to
    CLI/JSON consumers), and `&amp;` stays when decoding it would make a new entity (`&amp;lt;`)."""
    char = html.unescape(m.group(0))
    if char in ("<", ">"):
        return "&lt;" if char == "<" else "&gt;"
    if char == "&" and _ENTITY_AFTER.match(m.string, m.end()):
        return "&amp;"
    return char


def clean_text(text: str, kind: str = "markdown") -> CleanText:
    """Clean one document's decoded text (`kind` "markdown" for .md/.txt, "html" for .html/.htm)."""
    doc = _Mapped(text, list(range(len(text))))
    doc = doc.sub(r"\r\n?", "\n")
    doc = doc.sub(r"[\u200b\u200c\u200d\u2060\ufeff]", "")
    # Control characters (ESC sequences would reach terminals raw); tabs and line breaks stay.
    doc = doc.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", "")
    doc = doc.sub(r"[\u00a0\u3000]", " ")
    doc, title = _front_matter(doc)
    doc = doc.sub(r"<!--.*?-->", "", re.S)
    if kind == "html":
        doc, html_title = _html_to_markdown(doc)
        title = title or html_title
    # Reference markers: <sup …><a …>[12]</a></sup> (zhihu), and other superscript footnote tags.
    doc = doc.sub(rf"[ \t]*<sup{_ATTRS}>\s*(?:<a{_ATTRS}>)?\s*\[?\d+\]?\s*(?:</a>)?\s*</sup>", "", re.I)
    doc = doc.sub(r"<br\s*/?>", _br, re.I)
    doc = doc.sub(TAG, "")
    doc = doc.sub(r"&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);", _entity)
    doc = doc.sub(r"!\[[^\]\n]*\]\([^)\n]*\)", "")
    doc = doc.sub(r"\[\[([^\]\n]+)\]\]", [1])
    doc = doc.sub(r"\\([\[\]])", [1])
    doc = doc.sub(r"^[ \t]*\d+\.[ \t]*\[\^\]\([^)\n]*\)[^\n]*$", "", re.M)  # 1. [^](#ref_1_0)title (footnote list)
    doc = doc.sub(r"""([ \t]*)\[([^\]\n]*)\]\(([^)\s]*)(?:[ \t]+"[^"\n]*")?\)""", _link)
    doc = doc.sub(r"[ \t]*\(\[[^\]\n]+\]\[\d+\]\)", "")
    doc = doc.sub(r"\[([^\]\n]+)\]\[\d+\]", [1])
    doc = doc.sub(r"^[ \t]*\[[^\]\n]+\]:[ \t]*\S+[^\n]*$", "", re.M)  # [5]: https://… "title"
    doc = doc.sub(r"\]?\((?:https?://|www\.)[^)\s]*\)", "")
    doc = doc.sub(rf"[ \t]*{_STUB}(?:[ \t]*{_STUB})*[ \t]*", _remove_between)
    doc = doc.sub(r"[ \t]+$", "", re.M)
    doc = doc.sub(r"\n{3,}", "\n\n")
    # In Markdown a blank line ends a paragraph; only in plain text (PDF extraction) can it be a page break.
    markdown = bool(_MARKDOWN_HEADING.search(doc.text))
    if not markdown:
        doc = _promote_pdf_headings(doc)
    doc = doc.sub(rf"[ \t]*(?<![A-Za-z0-9])[{SUPERSCRIPT_DIGITS}]+[ \t]*", _superscript)
    doc = doc.sub(r"^[ \t]*\d{1,3}[ \t]*$", "", re.M)  # page numbers
    doc = doc.sub(r"(?:\A|(?<=\n\n))[ \t]*(?:-[ \t]*){3,}$|^[ \t]*(?:(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$", "", re.M)
    doc = doc.sub(r"^[ \t]*(={3})=*[ \t]*$", [1], re.M)
    doc = doc.sub(r"^[ \t]+(?=\|)|(?<=[|\s:])(---)-+(?=[\s|:][^\n]*\|[ \t]*$)", [1], re.M)
    doc = doc.sub(r"[ \t]+$", "", re.M)
    fences = _fence_spans(doc.text)
    doc = doc.sub(r"(?<=\S)[ \t]{2,}(?=\S)", lambda m: None if _in_spans(m.start(), fences) else " ")
    doc = doc.sub(r"(?<=[，。！？；：、（「『“])[ \t]+|[ \t]+(?=[，。！？；：、）」』”])", "")
    doc = doc.sub(r"\n{3,}", "\n\n")
    fences = _fence_spans(doc.text)
    doc = doc.sub(re.compile(r"\n+(?:(?<=\n\n)([ \t]*(?:[-*+]|\d{1,2}[.)、])[ \t]+))?"), lambda m: _join_break(m, fences, markdown))
    doc = doc.sub(r"\A\s+|\s+\Z", "")
    return CleanText(doc.text, tuple(doc.offsets), title or _first_line_title(doc.text))


def _first_line_title(text: str, limit: int = 60) -> str:
    for line in text.splitlines():
        line = re.sub(r"^#+\s*|\*\*", "", line).strip().rstrip("：:")
        if line and line != "===":
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def heading_text(line: str) -> str:
    """A Markdown heading line's words without `#`, emphasis or trailing colon."""
    return re.sub(r"^#+\s*|\*\*|__", "", line).strip().rstrip("：:").strip()
