"""Reading citations and refusals out of a model's answer.

Citation markers the models actually write are accepted: `[1]`, `[1, 2]`, `[1][3]`, `[1-3]`, full-width
`【1】`/`［1］`, `[1、2]`, and a word before the number (`[来源1]`, `[source 2]`). Numbers outside 1..n_sources
are dropped: the model invented them.
"""

from __future__ import annotations

import re
from typing import Sequence

from rag.prompt import REFUSAL_EN, REFUSAL_ZH
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


# How models phrase "the sources do not say" when they do not use the exact sentence. Matched
# case-insensitively against an answer that carries no citation (an answer that cites a source is
# answering, even if it also says something is missing).
REFUSAL_PATTERNS: tuple[str, ...] = (
    re.escape(REFUSAL_ZH.rstrip("。")),
    re.escape(REFUSAL_EN.rstrip(".")),
    r"(资料|来源|文档|报告|上下文)(中|里)?(并)?(没有|未|无)(找到|提到|提及|包含|涉及|给出|说明)",
    r"(没有|未能?)(找到|提供)(相关|有关|这方面的?)?(信息|资料|内容)",
    r"无法(根据|从)(所给|提供的|给定的|这些)?(资料|来源|文档|信息)",
    r"(无法|不能)(回答|确定|得知)",
    r"(sources?|reports?|documents?|context|passages?)\s+(do|does|did)\s*(not|n't)\s+(contain|mention|say|provide|include|state)",
    r"not\s+(mentioned|provided|found|stated|given)\s+in\s+the\s+(provided\s+|given\s+)?(sources?|reports?|documents?|context)",
    r"\b(no|not enough|insufficient)\s+information\b",
    r"\b(cannot|can't|can\s+not|unable\s+to)\s+(answer|determine|find|tell)\b",
    r"\bi\s+(do\s+not|don't)\s+know\b",
)
_REFUSAL = re.compile("|".join(f"(?:{p})" for p in REFUSAL_PATTERNS), re.IGNORECASE)


def is_refusal(answer: str) -> bool:
    """Whether the answer declines to answer: it starts with a fixed refusal sentence, or matches
    REFUSAL_PATTERNS and cites nothing. An empty answer (cut off while thinking) is a failure, not a refusal."""
    text = answer.strip()
    if not text:
        return False
    if text.startswith((REFUSAL_ZH.rstrip("。"), REFUSAL_EN.rstrip("."))):
        return True
    return not CITATION_MARKER.search(text) and bool(_REFUSAL.search(text))
