"""Text normalization shared by every metric: answers, aliases, chunks and quotes go through the same steps.

`normalize(text)`:
1. strip the thinking block (`strip_thinking`);
2. Unicode NFKC (full-width `１７５Ｂ` → `175B`, `［１］` → `[1]`);
3. drop citation markers (`[1]`, `[1, 2]`, `[1-3]`, `【2】`, `[来源1]`: exactly the ones `rag.citations` parses)
   so that they never glue onto numbers in the answer;
4. drop thousands separators (`1,750` → `1750`: a comma between a digit and exactly three digits);
5. lowercase;
6. remove every whitespace, punctuation, symbol and control character (Unicode categories Z*, P*, S*, C*;
   this covers Chinese punctuation such as `，。、《》（）“”`), with two exceptions that keep numbers intact:
   a `.` between two digits stays (`2.5` ≠ `25`, `GPT-3.5` → `gpt3.5`), and a removed run between two digits
   becomes one space (`March 3, 2020` → `march3 2020`, `2019-07-26` → `2019 07 26`) so that `3` and `2020`
   stay separate numbers.

`tokens(text)` for token F1 applies steps 1–5 and splits: each CJK character (Han, kana, Hangul) is one token,
every other maximal run of letters/digits (with `.` between digits kept) is one word.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from rag.citations import CITATION_MARKER

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)
_THINK_OPEN_TAIL = re.compile(r"<think>.*\Z", re.DOTALL)
_THINK_CLOSE = "</think>"
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")
_CJK = "\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
_TOKEN = re.compile(rf"[{_CJK}]|(?:[^\W_{_CJK}]|(?<=\d)\.(?=\d))+")

# Placeholders from the private-use area: never produced by NFKC input we keep, removed or restored below.
_KEEP_DOT = "\ue000"
_REMOVED = "\ue001"
_REMOVED_BETWEEN_DIGITS = re.compile(rf"(?<=\d){_REMOVED}+(?=\d)")


class _RemovalTable(dict):
    """str.translate table mapping whitespace/punctuation/symbol/control characters to `_REMOVED`, lazily."""

    def __missing__(self, codepoint: int) -> int:
        char = chr(codepoint)
        removed = char.isspace() or unicodedata.category(char)[0] in "ZPSC"
        self[codepoint] = value = ord(_REMOVED) if removed else codepoint
        return value


_REMOVAL = _RemovalTable({ord(_KEEP_DOT): ord(_KEEP_DOT)})


def strip_thinking(text: str) -> str:
    """Remove `<think>…</think>` blocks, an unclosed `<think>…` tail, and reasoning before a lone `</think>`.

    The lone closing tag happens with chat templates that put `<think>` into the prompt, so the generated text
    starts inside the reasoning.
    """
    text = _THINK_BLOCK.sub("", text)
    text = _THINK_OPEN_TAIL.sub("", text)
    if _THINK_CLOSE in text:
        text = text.rsplit(_THINK_CLOSE, 1)[1]
    return text


def _prepare(text: str) -> str:
    """Steps 1–5 of the module docstring: thinking, NFKC, citation markers, thousands separators, lowercase."""
    text = unicodedata.normalize("NFKC", strip_thinking(text))
    text = CITATION_MARKER.sub(" ", text)
    text = _THOUSANDS_COMMA.sub("", text)
    return text.lower()


@functools.lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """The comparison form of `text` (see the module docstring); answers, aliases and sources all use it."""
    text = _DECIMAL_POINT.sub(_KEEP_DOT, _prepare(text))
    text = text.translate(_REMOVAL)
    text = _REMOVED_BETWEEN_DIGITS.sub(" ", text)
    return text.replace(_REMOVED, "").replace(_KEEP_DOT, ".")


def tokens(text: str) -> list[str]:
    """Tokens for F1: one per CJK character, one per run of other letters/digits (`gpt3.5`, `175b`)."""
    return _TOKEN.findall(_prepare(text))
