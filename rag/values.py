"""Values stated in a text — sizes, counts, percentages, ratios, byte sizes, fractions, dates — parsed into
canonical form, so that `175B`, `1750亿`, `1.75千亿` and `175 billion` are one value and `2020-05`,
`2020年5月`, `May 2020` and `2020.05` one date.

The eval compares answers with gold aliases through these values, and refusal detection uses them to tell a
factual claim from a refusal; both live here because `rag` must not import `eval`.

Rules (docs/eval.md, "Values"):
- text is read after Unicode NFKC, with the full-width comma `，` kept apart: only an ASCII comma between a
  digit and exactly three digits is a thousands separator (`1,750` = 1750, `70，175和540` is three numbers);
  citation markers (`[1]`) and list markers at the start of a line (`1. `, `2) `) are not values;
- a number carries at most one suffix: a percent sign, a byte unit (`GB`, `TB`, `G`), a scale (`万亿 千亿 百亿
  十亿 亿 千万 百万 十万 万 千`, `trillion billion million thousand bn`, `T B M K`, either case), a ratio
  (`倍`, `x`, `×`, `times`), a denominator (`1/7`) or a Chinese counter (`个`, `层`, `种`, …). A Latin suffix
  must end the word: `3T` is 3 trillion but `3 times` is a ratio, `7B` is 7 billion but `7 bits` is the count 7;
- dates: `2020-05`, `2020.05`, `2020/5/28`, `2020年5月(28日)`, `May 2020`, `May 28, 2020`, `28 May 2020`,
  `2020年` and a bare year 1950–2039; a date keeps its precision (year, month or day);
- a number glued to a Latin name (`GPT-4`, `Qwen2.5`, `T5`, `code-davinci-002`) is part of the name, not a
  value, unless it carries a scale (`LLaMA-7B`, `OPT-175B` state sizes). A plain count after a capitalised
  word (`Claude 3.5`, `RTX 3090`, `Llama 3`) is marked `after_name`: part of the name, it matches no gold
  value and is neither a claim nor a candidate value (give such gold answers as text: `RTX 3090`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from rag.citations import CITATION_MARKER

KINDS = ("size", "count", "percent", "ratio", "bytes", "fraction", "date")

_CJK_SCALES = {
    "万亿": 10**12, "千亿": 10**11, "百亿": 10**10, "十亿": 10**9, "亿": 10**8,
    "千万": 10**7, "百万": 10**6, "十万": 10**5, "万": 10**4, "千": 10**3,
}  # fmt: skip
_LATIN_SCALES = {
    "trillion": 10**12, "billion": 10**9, "million": 10**6, "thousand": 10**3, "bn": 10**9,
    "t": 10**12, "b": 10**9, "m": 10**6, "k": 10**3,
}  # fmt: skip
_BYTES = {"kb": 10**3, "mb": 10**6, "gb": 10**9, "g": 10**9, "tb": 10**12, "pb": 10**15}
_COUNTERS = "个|种|层|项|次|块|道|条|位|名|家|款|篇|本|部|头|步|轮|张|台|阶段|个阶段"
_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10,
    "nov": 11, "dec": 12,
}  # fmt: skip
# Capitalised words after which a number is still a value ("In 2020", "Top 10"), not part of a name.
_PLAIN_WORDS = {
    "in", "on", "at", "by", "of", "the", "and", "or", "to", "from", "since", "until", "before", "after", "about",
    "around", "over", "under", "with", "top", "only", "just", "nearly", "approximately", "roughly", "some", "all",
    "than", "for", "is", "was", "are", "were", "has", "had", "have", "it", "its", "up", "exactly", "almost",
}  # fmt: skip

_NUM = r"\d{1,3}(?:,\d{3})+(?![\d,])|\d+(?:\.\d+)?"
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_YEAR = r"(?:19|20)\d{2}"
_VALUE = re.compile(
    rf"""
    (?P<d_cjk>(?P<y1>{_YEAR})\s*年\s*(?P<m1>\d{{1,2}})\s*月(?:\s*(?P<dd1>\d{{1,2}})\s*[日号])?)
  | (?P<d_iso>(?P<y2>{_YEAR})(?P<sep>[-/.])(?P<m2>\d{{1,2}})(?:(?P=sep)(?P<dd2>\d{{1,2}}))?(?![\d.]))
  | (?P<d_dmy>\b(?P<dd3>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<mon3>{_MONTH})\.?,?\s+(?P<y3>{_YEAR})(?!\d))
  | (?P<d_mdy>\b(?P<mon4>{_MONTH})\.?\s+(?P<dd4>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y4>{_YEAR})(?!\d))
  | (?P<d_my>\b(?P<mon5>{_MONTH})\.?,?\s+(?:of\s+)?(?P<y5>{_YEAR})(?!\d))
  | (?P<d_y>(?P<y6>{_YEAR})\s*年(?!代))
  | (?P<pct_cjk>百分之\s*(?P<pnum>{_NUM}))
  | (?P<num>{_NUM})
    (?:
        \s*(?P<pct>%|percent\b|per\s+cent\b)
      | \s*(?P<byte>[KMGTP]B|[kmgtp]b|G)(?![A-Za-z0-9])
      | \s*(?P<cjk>{"|".join(_CJK_SCALES)})
      | \s?(?P<lat>trillion|billion|million|thousand|bn|[TBMKtbmk])(?![A-Za-z0-9])
      | \s*(?P<ratio>倍|×|[xX](?![A-Za-z0-9])|times\b)
      | (?P<frac>/\d+(?![\d.]))
      | \s*(?P<counter>{_COUNTERS})
    )?
    """,
    re.VERBOSE | re.IGNORECASE,
)
_LIST_MARKER = re.compile(r"(?m)^([ \t]*)(\d{1,2}[.)、](?=\s)|\(\d{1,2}\))")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_FULLWIDTH_COMMA = "\uff0c"
_PROTECTED_COMMA = "\ue002"  # private use: survives NFKC, restored afterwards
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'"})


@dataclass(frozen=True)
class Value:
    """One value found in a text. `amount` is the number with its scale applied (a Decimal), or for a date the
    tuple (year,), (year, month) or (year, month, day); for a fraction (numerator, denominator)."""

    kind: str
    amount: Decimal | tuple[int, ...]
    start: int  # span in `prepare(text)`
    end: int
    after_name: bool = False  # a plain count right after a capitalised word (`Llama 3`, `RTX 3090`): a name part

    @property
    def claim(self) -> bool:
        """Counts as a stated value (for hedging and for telling a claim from a refusal)."""
        return not self.after_name

    def matches(self, found: Value) -> bool:
        """Whether `found` (in an answer or a source) states this value (a gold alias); a count that is part of
        a name (`Llama 3`) states nothing."""
        if found.after_name:
            return False
        if self.kind == "date":
            return found.kind == "date" and found.amount[: len(self.amount)] == self.amount
        if self.kind in ("count", "size"):  # `52000` = `52K` = `5.2万`
            return found.kind in ("count", "size") and found.amount == self.amount
        return found.kind == self.kind and found.amount == self.amount


@functools.lru_cache(maxsize=65536)
def clean(text: str) -> str:
    """NFKC with the full-width comma `，` kept (NFKC would make it `,`, a thousands separator), curly
    apostrophes made straight, citation markers blanked (replaced by spaces, so spans stay put)."""
    text = text.replace(_FULLWIDTH_COMMA, _PROTECTED_COMMA)
    text = unicodedata.normalize("NFKC", text).replace(_PROTECTED_COMMA, _FULLWIDTH_COMMA).translate(_QUOTES)
    return CITATION_MARKER.sub(lambda m: " " * len(m.group()), text)


@functools.lru_cache(maxsize=65536)
def prepare(text: str) -> str:
    """`clean(text)` with line-initial list markers (`1. `, `2) `) blanked too: the text values are read from.
    Both keep the length of `clean(text)`, so spans in one index the other."""
    return _LIST_MARKER.sub(lambda m: m.group(1) + " " * len(m.group(2)), clean(text))


def _number(raw: str) -> Decimal:
    return Decimal(_THOUSANDS.sub("", raw))


def _date(year: str, month: str | None = None, day: str | None = None) -> tuple[int, ...] | None:
    parts = [int(year)]
    if month is not None:
        if not 1 <= int(month) <= 12:
            return None
        parts.append(int(month))
        if day is not None:
            if not 1 <= int(day) <= 31:
                return None
            parts.append(int(day))
    return tuple(parts)


def _glued_to_name(text: str, start: int) -> bool:
    """A number right after a Latin letter, or after a letter and `-`/`_` (`GPT-4`, `Qwen2`, `T5`)."""
    before = text[max(0, start - 2) : start]
    return bool(re.search(r"[A-Za-z](?:[-_])?$", before)) or (start > 0 and text[start - 1] in ".")


def _after_capitalised_word(text: str, start: int) -> bool:
    m = re.search(r"(?:^|[^A-Za-z])([A-Z][A-Za-z]*)[ \t]$", text[max(0, start - 30) : start])
    return bool(m) and m.group(1).lower() not in _PLAIN_WORDS


def _from_match(m: re.Match[str], text: str) -> Value | None:
    start, end = m.span()
    if m.group("d_cjk"):
        amount = _date(m.group("y1"), m.group("m1"), m.group("dd1"))
    elif m.group("d_iso"):
        amount = _date(m.group("y2"), m.group("m2"), m.group("dd2"))
    elif m.group("d_dmy"):
        amount = _date(m.group("y3"), str(_MONTHS[m.group("mon3").lower()]), m.group("dd3"))
    elif m.group("d_mdy"):
        amount = _date(m.group("y4"), str(_MONTHS[m.group("mon4").lower()]), m.group("dd4"))
    elif m.group("d_my"):
        amount = _date(m.group("y5"), str(_MONTHS[m.group("mon5").lower()]))
    elif m.group("d_y"):
        amount = _date(m.group("y6"))
    elif m.group("pct_cjk"):
        return Value("percent", _number(m.group("pnum")), start, end)
    else:
        return _suffixed(m, text, start, end)
    return None if amount is None else Value("date", amount, start, end)


def _suffixed(m: re.Match[str], text: str, start: int, end: int) -> Value | None:
    raw = m.group("num")
    number = _number(raw)
    if m.group("pct"):
        return Value("percent", number, start, end)
    if m.group("byte"):
        return Value("bytes", number * _BYTES[m.group("byte").lower()], start, end)
    if m.group("cjk"):
        return Value("size", number * _CJK_SCALES[m.group("cjk")], start, end)
    if m.group("lat"):
        return Value("size", number * _LATIN_SCALES[m.group("lat").lower()], start, end)
    if _glued_to_name(text, start):
        return None
    if m.group("ratio"):
        return Value("ratio", number, start, end)
    if m.group("frac"):
        return Value("fraction", (int(number), int(m.group("frac")[1:])), start, end) if "." not in raw else None
    year = re.fullmatch(r"(?:19[5-9]|20[0-3])\d", raw)
    if year and not m.group("counter"):
        return Value("date", (int(raw),), start, end)
    return Value("count", number, start, end, after_name=_after_capitalised_word(text, start))


@functools.lru_cache(maxsize=65536)
def find_values(text: str) -> tuple[Value, ...]:
    """Every value stated in `text`, in order; spans index `prepare(text)`."""
    prepared = prepare(text)
    found = []
    for m in _VALUE.finditer(prepared):
        if m.group("num") and m.start() > 0 and prepared[m.start() - 1].isdigit():
            continue  # the tail of a longer number the scanner could not read as one
        value = _from_match(m, prepared)
        if value is not None:
            found.append(value)
    return tuple(found)


@functools.lru_cache(maxsize=16384)
def parse_value(alias: str) -> Value | None:
    """The value an alias states when the alias is exactly one value (`175B`, `2020年5月`, `48层`), else None
    (`GPT-4`, `48 layers`, `0.85–0.95` are matched as text)."""
    prepared = prepare(alias)
    values = find_values(alias)
    if len(values) != 1 or values[0].after_name:
        return None
    value = values[0]
    rest = prepared[: value.start] + prepared[value.end :]
    return value if not any(ch.isalnum() for ch in rest) else None


def distinct_claims(values: tuple[Value, ...] | list[Value], kind: str) -> int:
    """How many different values of `kind` a text offers; a date that another date refines is not counted
    apart (`2020年` and `2020年5月28日` are one candidate)."""
    found = {v.amount for v in values if v.kind == kind and v.claim}
    if kind == "date":
        found = {d for d in found if not any(o != d and o[: len(d)] == d for o in found)}
    return len(found)
