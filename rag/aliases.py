"""Other names of the same model, and where the reports state them.

The reports write most model names in Latin letters (Qwen, ERNIE Bot, Chinchilla) while Chinese questions
often use Chinese names (千问, 文心一言, 龙猫). `Aliases` groups the names that mean the same model: retrieval
adds the other names of every name a question contains to the BM25 query, and the follow-up rewriter and the
extractive backend recognise the Chinese names as names. A version written after a name carries over to its
other names: 千问3 ↔ Qwen3, 千问2.5-7B ↔ Qwen2.5-7B.

`learn_aliases` reads the pairs a text states, in these forms (either name first):
- a name followed by the other in brackets: `Alpaca（羊驼）模型是…`, `通义千问（Qwen）是…`;
- `X 就是 Y`, or with 即 / 也就是 / 又称 / 又名 / 简称 / 也叫 / 也称 / 俗称, and an optional owner before Y:
  `EENIE Bot 就是百度的文心一言，…的对话模型`.
One name is in Latin letters and looks like a name (a digit, two capitals or a leading capital), the other is
2–6 Chinese characters. A pair is kept only when its sentence says it is a model: for brackets, 模型 right after
them, or the rest of the sentence opens with 是/为/is/was and says 模型/model; for the verbs, the rest of the
sentence says 模型/model. That keeps out the many term glosses in the same brackets (`RoPE（旋转位置编码）以处理…`,
`Karma（点赞）的出站链接`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_LATIN_NAME = r"[A-Za-z][A-Za-z0-9.+\-]*(?: [A-Z0-9][A-Za-z0-9.+\-]*){0,2}"
_ZH_NAME = rf"[{_CJK}]{{2,6}}"
_NOT_BEFORE_LATIN = r"(?<![A-Za-z0-9.+\-])"
_NOT_BEFORE_ZH = rf"(?<![{_CJK}])"
_NOT_AFTER_ZH = rf"(?![{_CJK}])"
_OWNER = rf"(?:[{_CJK}]{{1,6}}的)?"  # 百度的 in 就是百度的文心一言
_VERB = r"\s*[，,]?\s*(?:就是|也就是|即|又称|又名|简称|也叫|也称|俗称)\s*"
_REST = r"(?P<rest>[^。！？!?\n]*)"  # the rest of the sentence, where it must say "model"

# (pattern, brackets): a bracketed pair must be defined by its sentence; a pair joined by a verb (就是, 即…)
# must be called a model in the rest of its sentence.
_PATTERNS = (
    (re.compile(rf"{_NOT_BEFORE_LATIN}(?P<name>{_LATIN_NAME}) ?[（(](?P<alias>{_ZH_NAME})[）)]{_REST}"), True),
    (re.compile(rf"{_NOT_BEFORE_ZH}(?P<alias>{_ZH_NAME}) ?[（(](?P<name>{_LATIN_NAME})[）)]{_REST}"), True),
    (re.compile(rf"{_NOT_BEFORE_LATIN}(?P<name>{_LATIN_NAME}){_VERB}{_OWNER}(?P<alias>{_ZH_NAME}){_NOT_AFTER_ZH}{_REST}"), False),
    (re.compile(rf"{_NOT_BEFORE_ZH}{_OWNER}(?P<alias>{_ZH_NAME}?){_VERB}(?P<name>{_LATIN_NAME}){_REST}"), False),
)
_SAYS_MODEL = re.compile(r"模型|\bmodels?\b", re.I)
_DEFINES = re.compile(r"^\s*[，,]?\s*(?:是|为|is\b|was\b)")
_NOT_A_NAME = re.compile(r"模型|^(?:一个|一种|这|那|该|某)")  # descriptions, not names: 一种模型, 该模型


def _looks_like_name(word: str) -> bool:
    """The rule `model_names` uses for Latin tokens: a digit, two capitals, or a leading capital."""
    return any(ch.isdigit() for ch in word) or sum(ch.isupper() for ch in word) >= 2 or word[0].isupper()


def _says_it_is_a_model(rest: str, brackets: bool) -> bool:
    if brackets:
        return rest.lstrip().startswith("模型") or bool(_DEFINES.match(rest) and _SAYS_MODEL.search(rest))
    return bool(_SAYS_MODEL.search(rest))


@dataclass(frozen=True)
class Alias:
    """Two names of one model, and where that was stated."""

    name: str  # in Latin letters, as the reports write it: "Chinchilla"
    alias: str  # the other name: "龙猫"
    source: str  # a chunk id such as "002_….txt#0017", or "table" for the curated table
    evidence: str = ""  # the text that states it


def learn_aliases(texts: Iterable[tuple[str, str]]) -> list[Alias]:
    """The name pairs that (source, text) items state (see the module doc), first statement of each pair kept."""
    found: dict[tuple[str, str], Alias] = {}
    for source, text in texts:
        for pattern, brackets in _PATTERNS:
            for m in pattern.finditer(text):
                name, alias, rest = m.group("name"), m.group("alias"), m.group("rest")
                if not _looks_like_name(name) or _NOT_A_NAME.search(alias) or not _says_it_is_a_model(rest, brackets):
                    continue
                key = (name.casefold(), alias)
                if key not in found:
                    evidence = text[m.start() : m.start("rest") + min(len(rest), 40)].strip()
                    found[key] = Alias(name=name, alias=alias, source=source, evidence=evidence)
    return list(found.values())


# What may follow a name and belongs to it: a version and/or size, e.g. "3", " 3", "2.5-7B", "-VL".
_SUFFIX = r"(?: ?\d+(?:\.\d+)*)?(?:-[A-Za-z0-9]+(?:\.\d+)*)*"


@dataclass(frozen=True)
class NameMatch:
    """One name found in text[start:end]: `form` as first listed, `suffix` the version written after it."""

    start: int
    end: int
    form: str
    suffix: str


class Aliases:
    """Groups of names that mean the same model (Latin names compared case-insensitively)."""

    def __init__(self, pairs: Iterable[Alias] = ()):
        self.pairs: tuple[Alias, ...] = tuple(pairs)
        parent: dict[str, str] = {}

        def root(key: str) -> str:
            while parent.setdefault(key, key) != key:
                key = parent[key]
            return key

        spelling: dict[str, str] = {}
        for pair in self.pairs:
            for form in (pair.name, pair.alias):
                spelling.setdefault(form.casefold(), form)
            parent[root(pair.name.casefold())] = root(pair.alias.casefold())
        groups: dict[str, list[str]] = {}
        for key in spelling:
            groups.setdefault(root(key), []).append(spelling[key])
        self._spelling = spelling  # casefolded → as first written
        self._group_of = {key: tuple(groups[root(key)]) for key in spelling}
        forms = sorted(spelling.values(), key=len, reverse=True)  # longest first: 文心一言 before 文心
        latin = "|".join(re.escape(f) for f in forms if f.isascii())
        chinese = "|".join(re.escape(f) for f in forms if not f.isascii())
        # A Latin name stands alone ("GLM" not in "ChatGLM", "Spark" not in "Sparkle"); a Chinese one needs no gap.
        self._pattern = re.compile(
            rf"(?:{_NOT_BEFORE_LATIN}(?P<latin>{latin or '(?!)'})|(?P<zh>{chinese or '(?!)'}))"
            rf"(?P<suffix>{_SUFFIX})(?(latin)(?![A-Za-z0-9]))",
            re.I,
        )

    @classmethod
    def from_table(cls, table: Mapping[str, Iterable[str]]) -> "Aliases":
        """Aliases from {name in Latin letters: its other names}."""
        return cls(Alias(name, alias, "table") for name, aliases in table.items() for alias in aliases)

    def with_pairs(self, pairs: Iterable[Alias]) -> "Aliases":
        """These aliases plus `pairs` (groups that share a name merge)."""
        return Aliases((*self.pairs, *pairs))

    def find(self, text: str) -> list[NameMatch]:
        """Every listed name in `text`, left to right, each with the version written after it."""
        return [
            NameMatch(m.start(), m.end(), self._spelling[(m.group("latin") or m.group("zh")).casefold()], m.group("suffix"))
            for m in self._pattern.finditer(text)
        ]

    def others(self, match: NameMatch) -> list[str]:
        """The other names of a found name, with its version: 千问3 → Qwen3, 通义千问3."""
        return [f + match.suffix for f in self._group_of[match.form.casefold()] if f != match.form]

    def variants(self, name: str) -> list[str]:
        """`name` and its other names when the whole of `name` is a listed name (plus version), else [name]."""
        matches = self.find(name)
        if len(matches) == 1 and (matches[0].start, matches[0].end) == (0, len(name)):
            return [name, *self.others(matches[0])]
        return [name]

    def expansions(self, text: str) -> list[str]:
        """The other names of every listed name in `text`, each once, in order."""
        return list(dict.fromkeys(other for m in self.find(text) for other in self.others(m)))

    def latin_names(self, text: str) -> list[str]:
        """The Latin-letter names of the Chinese names in `text`, each once, in order: 千问3 → Qwen3."""
        found = (o for m in self.find(text) if not m.form.isascii() for o in self.others(m) if o.isascii())
        return list(dict.fromkeys(found))
