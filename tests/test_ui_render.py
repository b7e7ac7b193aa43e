"""The page's HTML: escaped text, citation numbers linked to their entries, cited spans marked in the original."""

from __future__ import annotations

import re

import pytest

from core.types import Chunk
from rag.types import Answer, Citation, Hit
from ui import render

ORIGINAL = "前言。\n## 2020\nGPT-3（2020-05）：175B 参数；few-shot 能力突出。\n## 2022\nChinchilla：70B，数据更多。\n"
DOC = "001_report.txt"


def _span(text: str) -> tuple[int, int]:
    start = ORIGINAL.index(text)
    return start, start + len(text)


def _chunk(text: str, n: int, doc: str = DOC, heading: str = "2020") -> Chunk:
    start, end = _span(text)
    return Chunk(f"{doc}#{n:04d}", doc, "报告", heading, text, start, end, 0.5)


def _answer(text: str, cited: list[int], **kw) -> Answer:
    chunks = [_chunk("GPT-3（2020-05）：175B 参数", 0), _chunk("Chinchilla：70B", 1, heading="2022")]
    sources = [Hit(c, 1.0 / (i + 1), dense_rank=i + 1, lexical_rank=None) for i, c in enumerate(chunks)]
    citations = [Citation(n, sources[n - 1].chunk.doc_id, sources[n - 1].chunk.heading, sources[n - 1].chunk.start,
                          sources[n - 1].chunk.end, sources[n - 1].chunk.text) for n in cited]  # fmt: skip
    fields = dict(
        question="GPT-3 有多少参数？", answer=text, refused=False, thinking=None, truncated=False, citations=citations,
        sources=sources, params={"sampling": {"temperature": 0.7, "seed": 3}, "retrieval": {"k": 2}, "prompt": "default"},
        model="tiny", backend="transformers", index={}, timings={"retrieve_ms": 3.0, "new_tokens": 5, "tokens_per_s": 2.0},
    )  # fmt: skip
    fields.update(kw)
    return Answer(**fields)


def original(doc_id: str) -> str:
    if doc_id != DOC:
        raise FileNotFoundError(doc_id)
    return ORIGINAL


def test_answer_numbers_link_to_their_citation_entries():
    html = render.render_answer(_answer("GPT-3 有 175B 参数[1]，另见【2】和 [9]。", [1, 2]), original, "chat1")
    links = re.findall(r'href="#(chat1-\d+)"', html)
    assert links == ["chat1-1", "chat1-2"]  # [9] cites no source, so it is not a link
    for target in links:
        assert f'id="{target}"' in html
    assert "[9]" in html


def test_cited_span_is_marked_inside_the_original_text_around_it():
    html = render.render_citation(_answer("x [1]", [1]).citations[0], original, "c")
    assert "<mark>GPT-3（2020-05）：175B 参数</mark>" in html
    assert "## 2020\n" in html and "；few-shot" in html  # original context on both sides, not the chunk alone
    assert DOC in html and "2020" in html


def test_long_spans_are_elided_and_context_is_short():
    text = "x" * 5000 + "B" * 2000 + "z" * 5000
    html = render.excerpt(text, 5000, 7000)
    assert html.startswith("…") and html.endswith("…")
    assert html.count("B") == render.MARK_CHARS and " … " in html
    assert html.count("x") == render.CONTEXT_CHARS == html.count("z")


def test_missing_original_falls_back_to_the_indexed_text():
    cit = Citation(1, "gone.txt", "h", 0, 10, "indexed <text>")
    html = render.render_citation(cit, original, "c")
    assert "indexed &lt;text&gt;" in html and "python -m ingest" in html and "show original" not in html


def test_everything_from_models_users_and_files_is_escaped():
    evil = '<img src=x onerror="alert(1)">'
    cit = Citation(1, f"{evil}.txt", evil, 0, 5, evil)
    ans = _answer(f"{evil} [1]", [], thinking=evil, notices=[evil], citations=[cit])
    html = render.render_answer(ans, lambda _: evil, "c")
    html += render.render_error(evil) + render.render_status({"model": evil, "notices": [evil], "index": {"embedder": evil}})
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_refusal_is_shown_as_such_not_as_an_error():
    html = render.render_answer(_answer("资料中没有找到相关信息。", [], refused=True), original, "c")
    assert 'class="rag-refusal"' in html and "Not in the reports" in html and "rag-error" not in html


def test_thinking_is_collapsed_apart_from_the_answer():
    html = render.render_answer(_answer("答案 [1]", [1], thinking="先找资料……"), original, "c")
    details = re.search(r'<details class="rag-thinking">(.*?)</details>', html).group(1)
    assert "先找资料" in details
    answer_div = re.search(r'<div class="rag-answer">(.*?)</div>', html).group(1)
    assert "先找资料" not in answer_div


def test_truncated_stopped_and_uncited_answers_say_so():
    assert "max_new_tokens" in render.render_answer(_answer("175B", [], truncated=True), original, "c")
    stopped = render.render_answer(_answer("175", [], truncated=True), original, "c", stopped=True)
    assert "Stopped" in stopped and "cites no source" in stopped
    assert "before the model wrote" in render.render_answer(_answer("", [], refused=True), original, "c", stopped=True)


def test_answer_footer_shows_the_settings_that_produced_it():
    html = render.render_answer(_answer("x", []), original, "c")
    assert "temperature=0.7" in html and "seed=3" in html and "k=2" in html and "prompt=default" in html


def test_retrieval_table_lists_ranked_chunks_with_scores():
    hits = _answer("x", []).sources
    html = render.render_hits(hits, "q")
    rows = re.findall(r"<tr><td>(\d+)</td><td>([\d.]+)</td><td>(.*?)</td><td>(.*?)</td>", html)
    assert rows == [("1", "1.0000", "1", "–"), ("2", "0.5000", "2", "–")]
    assert "No chunk matched" in render.render_hits([], "<q>") and "&lt;q&gt;" in render.render_hits([], "<q>")


def test_status_line_shows_model_index_and_notices():
    status = {
        "model": "Qwen/Qwen3-0.6B", "backend": "extractive", "device": "cpu",
        "index": {"documents": 5, "chunks": 120, "embedder": "minilm", "built_at": "2025-01-01T00:00:00Z"},
        "notices": ["could not load Qwen/Qwen3-0.6B; answering extractively"],
    }  # fmt: skip
    html = render.render_status(status)
    for text in ("Qwen/Qwen3-0.6B", "extractive", "cpu", "5 documents", "120 chunks", "minilm", "2025-01-01", "extractively"):
        assert text in html


@pytest.mark.parametrize(
    "rows, header, cells",
    [
        ([{"a": 1, "b": 0.123456}, {"b": None, "c": "x"}], ["a", "b", "c"], ["1", "0.1235", "", "", "", "x"]),
        ([{"ci": [0.5, 0.75]}], ["ci"], ["[0.5, 0.75]"]),
    ],
)
def test_table_of_dicts_uses_the_union_of_keys(rows, header, cells):
    html = render.render_table(rows)
    assert re.findall(r"<th>(.*?)</th>", html) == header
    assert re.findall(r"<td>(.*?)</td>", html) == cells
