"""Reading citations out of a model's answer (refusals: `rag.refusal`).

Citation markers the models actually write are accepted: `[1]`, `[1, 2]`, `[1][3]`, `[1-3]`, full-width
`【1】`/`［1］`, `[1、2]`, and a word before the number (`[来源1]`, `[source 2]`). Numbers outside 1..n_sources
are dropped: the model invented them.
"""

from __future__ import annotations

import re
from typing import Sequence

from rag.types import Citation, Hit

_NUMBER_LIST = r"\d+(?:\s*(?:[-–—~～]|[,，、;；]|and|和)\s*\d+)*"
CITATION_MARKER = re.compile(
    r"[\[【［]\s*(?:(?:source|sources|来源|资料|文档)\s*)?(" + _NUMBER_LIST + r")\s*[\]】］]", re.IGNORECASE
)
_RANGE = re.compile(r"(\d+)\s*[-–—~～]\s*(\d+)")


def _numbers(group: str, n_sources: int) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*(?:[,，、;；]|and|和)\s*", group):
        r = _RANGE.fullmatch(part)
        if r:
            lo, hi = int(r.group(1)), int(r.group(2))
            # clamp before expanding so "[1-999999]" cannot build a huge list
            out.extend(range(max(lo, 1), min(hi, n_sources) + 1))
        elif part.isdigit():
            out.append(int(part))
    return [n for n in out if 1 <= n <= n_sources]


def parse_citations(answer: str, n_sources: int) -> list[int]:
    """The source numbers the answer cites, in order of first appearance, out-of-range ones dropped."""
    found: list[int] = []
    for m in CITATION_MARKER.finditer(answer):
        found.extend(_numbers(m.group(1), n_sources))
    return list(dict.fromkeys(found))


def strip_citations(answer: str) -> str:
    """The answer without its citation markers (they number sources of their own turn only)."""
    return re.sub(r"[ \t]+([。，；：！？.,;:!?])", r"\1", re.sub(r"\s*" + CITATION_MARKER.pattern, "", answer, flags=re.IGNORECASE)).strip()


def map_citations(numbers: Sequence[int], sources: Sequence[Hit]) -> list[Citation]:
    """Each cited number → its document, heading path, span in the original file and chunk text."""
    citations = []
    for n in numbers:
        if 1 <= n <= len(sources):
            c = sources[n - 1].chunk
            citations.append(Citation(n=n, doc=c.doc_id, heading=c.heading, start=c.start, end=c.end, text=c.text))
    return citations
