"""Text normalization shared by every metric: answers, aliases, chunks and quotes go through the same steps.

`normalize(text)`:
1. strip the thinking block (`strip_thinking`);
2. Unicode NFKC (full-width `１７５Ｂ` → `175B`, `［１］` → `[1]`), except that the full-width comma `，` stays
   a comma of its own and never becomes a thousands separator (`70，175和540` stays three numbers);
3. drop citation markers (`[1]`, `[1, 2]`, `[1-3]`, `【2】`, `[来源1]`: exactly the ones `rag.citations` parses)
   so that they never glue onto numbers in the answer;
4. drop thousands separators (`1,750` → `1750`: an ASCII comma between a digit and exactly three digits);
5. lowercase;
6. remove every whitespace, punctuation, symbol and control character (Unicode categories Z*, P*, S*, C*;
   this covers Chinese punctuation such as `，。、《》（）“”`), with two exceptions that keep numbers intact:
   a `.` between two digits stays (`2.5` ≠ `25`, `GPT-3.5` → `gpt3.5`), and a removed run between two digits
   becomes one space (`March 3, 2020` → `march3 2020`, `2019-07-26` → `2019 07 26`) so that `3` and `2020`
   stay separate numbers.

`squash(text)` is the same string plus, for each character, its position in `rag.values.clean(text)` and
whether something was removed just before it: text aliases are matched on it with word boundaries.

`tokens(text)` for token F1 applies steps 1–5 and splits: each CJK character (Han, kana, Hangul) is one token,
every other maximal run of letters/digits (with `.` between digits kept) is one word.

`length_units(text)`: the answer length the length cap counts, the same for the same content in Chinese and
English: one unit per word or number, `CJK_CHAR_UNITS` per CJK character.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from rag.values import clean

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)
_THINK_OPEN_TAIL = re.compile(r"<think>.*\Z", re.DOTALL)
_THINK_CLOSE = "</think>"
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_CJK = "\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
_CJK_CHAR = re.compile(rf"[{_CJK}]")
_TOKEN = re.compile(rf"[{_CJK}]|(?:[^\W_{_CJK}]|(?<=\d)\.(?=\d))+")
# English words per Chinese character in paired answers of the same content: 0.54–0.89, 0.65 over the ten
# pairs of tests/test_metrics.py (translators' rule of thumb: 1,000 characters ≈ 600–700 words).
CJK_CHAR_UNITS = 0.65


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


def _removed(char: str) -> bool:
    return char.isspace() or unicodedata.category(char)[0] in "ZPSC"


@dataclass(frozen=True)
class Squashed:
    """`normalize(text)` with, per character, its index in `rag.values.clean(strip_thinking(text))` and the
    indices of characters that had something removed right before them."""

    text: str
    positions: tuple[int, ...]
    breaks: frozenset[int]


@functools.lru_cache(maxsize=65536)
def squash(text: str) -> Squashed:
    """Steps 1–6 of the module docstring, keeping where each character came from (see `Squashed`)."""
    base = clean(strip_thinking(text))
    thousands = {m.start() for m in _THOUSANDS_COMMA.finditer(base)}
    out: list[str] = []
    positions: list[int] = []
    breaks: set[int] = set()
    pending = False
    for i, char in enumerate(base):
        if i in thousands:
            continue
        decimal_point = char == "." and 0 < i < len(base) - 1 and base[i - 1].isdigit() and base[i + 1].isdigit()
        if not decimal_point and _removed(char):
            pending = True
            continue
        if pending and out:
            if out[-1].isdigit() and char.isdigit():
                out.append(" ")
                positions.append(i - 1)
            breaks.add(len(out))
        pending = False
        for lower in char.lower():
            out.append(lower)
            positions.append(i)
    return Squashed("".join(out), tuple(positions), frozenset(breaks))


def normalize(text: str) -> str:
    """The comparison form of `text` (see the module docstring); answers, aliases and sources all use it."""
    return squash(text).text


def _prepare(text: str) -> str:
    """Steps 1–5 of the module docstring: thinking, NFKC, citation markers, thousands separators, lowercase."""
    return _THOUSANDS_COMMA.sub("", clean(strip_thinking(text))).lower()


def tokens(text: str) -> list[str]:
    """Tokens for F1: one per CJK character, one per run of other letters/digits (`gpt3.5`, `175b`)."""
    return _TOKEN.findall(_prepare(text))


def length_units(text: str) -> float:
    """Answer length for the length cap: 1 per word or number, CJK_CHAR_UNITS per CJK character."""
    found = tokens(text)
    cjk = sum(1 for t in found if _CJK_CHAR.fullmatch(t))
    return round(len(found) - cjk + CJK_CHAR_UNITS * cjk, 2)
