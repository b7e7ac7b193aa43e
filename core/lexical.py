"""Tokens for BM25: jieba words for Chinese, lower-cased Latin/number tokens that keep model names whole.

`tokenize("GPT-3 有 175B 参数，Qwen2.5 和 MT-NLG")` gives `gpt-3 gpt 3 175b 175 b 参数 qwen2.5 qwen2 5 qwen
2.5 mt-nlg mt nlg`: a compound name is indexed whole and by its parts, so `gpt-3`, `GPT3`, `gpt 3`,
`Qwen 2.5` and `qwen2.5` all find each other; function words such as 有/和 are dropped. Text is
NFKC-normalised first (full-width `ＧＰＴ` becomes `gpt`).

`char_bigrams` gives the terms of the second lexical channel: the overlapping character bigrams of every run
of Chinese characters (`通义千问` → 通义 义千 千问), the usual remedy for a segmenter that cuts names and rare
terms differently in a question and in a report.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata


# Han (with extensions and compatibility), kana and Hangul: the scripts written without spaces between words.
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_TOKEN = re.compile(rf"(?P<cjk>[{CJK}]+)|(?P<latin>[a-z0-9]+(?:[.\-_+/][a-z0-9]+)*)")
_CJK_RUN = re.compile(rf"[{CJK}]{{2,}}")
_PART = re.compile(r"[a-z]+|\d+(?:\.\d+)*")
# Function words that say nothing about a chunk; BM25's idf would mostly mute them, this keeps indexes small.
STOPWORDS = frozenset("的 了 是 在 和 与 及 或 等 也 而 被 把 这 那 其 之 于 以 为 对 将 就 都 并 从 由 中 上 下 个 一 有 着 我 你 他 她 它 们 吗 呢 吧 啊 么".split())


@functools.lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def _latin_tokens(token: str) -> list[str]:
    out = [token]
    parts = [p for p in re.split(r"[.\-_+/]", token) if p] if re.search(r"[a-z]", token) else []
    if len(parts) > 1:
        out += parts
    segments = [s.lstrip("0") or "0" if s.isdigit() else s for s in _PART.findall(token)]  # "05" as in 2020-05 → "5"
    if len(segments) > 1:
        out += [s for s in segments if s not in out]
    return out


def tokenize(text: str) -> list[str]:
    """BM25 tokens of `text` (queries and chunks alike)."""
    text = unicodedata.normalize("NFKC", text).lower()
    tokens: list[str] = []
    for m in _TOKEN.finditer(text):
        if m.group("cjk"):
            tokens += [w for w in _jieba().lcut_for_search(m.group("cjk")) if w not in STOPWORDS]
        else:
            tokens += _latin_tokens(m.group("latin"))
    return tokens


def char_bigrams(text: str) -> list[str]:
    """The overlapping character bigrams of each run of two or more Chinese characters in `text` (NFKC)."""
    text = unicodedata.normalize("NFKC", text)
    return [run[i : i + 2] for run in _CJK_RUN.findall(text) for i in range(len(run) - 1)]
