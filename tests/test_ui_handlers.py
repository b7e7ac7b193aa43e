"""The page's handlers, called as plain functions on real pipelines (tiny random Qwen3, extractive fallback).

No server here: these are the functions the page wires to its buttons (tests/test_ui_browser.py drives them
through a real browser).
"""

from __future__ import annotations

import dataclasses
import re
import threading
from html import unescape

import pytest

from rag.config import RetrievalSettings, SamplingParams
from rag.pipeline import Pipeline
from rag.templates import PROMPTS
from tests.fixtures.ui_pages import extractive, panel_values, tiny  # noqa: F401 (fixtures)
from ui import app as ui_app
from ui.app import (
    StopSignal,
    accept_question,
    answer_question,
    build_app,
    default_values,
    parse_settings,
    search_chunks,
    stop_request,
    stream_answer,
)

QUESTION = "GPT-3 有多少参数？"
PROMPT_NAMES = list(PROMPTS)


def _ask(pipeline: Pipeline, question: str, chat=None, history=None, signal=None, **changes):
    """Both steps of sending a chat message; returns every yield of the streaming step and the first step's result."""
    signal = signal or StopSignal()
    accepted = accept_question(pipeline.settings, PROMPT_NAMES, question, chat or [], signal, *panel_values(pipeline, **changes))
    _, chat, _, pending, _ = accepted
    return list(answer_question(pipeline, pending, chat, history or [], signal)), accepted


def test_tokens_stream_as_growing_prefixes_of_the_final_answer(tiny, monkeypatch):
    monkeypatch.setattr(ui_app, "STREAM_INTERVAL_S", 0.0)  # see every token
    settings = parse_settings(tiny.settings, panel_values(tiny), PROMPT_NAMES)
    items = list(stream_answer(tiny, QUESTION, settings, stop=threading.Event()))
    *partials, answer = items
    assert answer.answer and answer.timings["new_tokens"] <= 8
    assert len(partials) >= 2 and all(isinstance(p, str) for p in partials)
    for shorter, longer in zip(partials, partials[1:]):
        assert longer.startswith(shorter) and len(longer) > len(shorter)
    assert answer.answer.startswith(partials[-1].strip())


def test_chat_turn_streams_then_shows_answer_sources_and_settings(tiny, monkeypatch):
    monkeypatch.setattr(ui_app, "STREAM_INTERVAL_S", 0.0)
    steps, (shown, _, textbox, pending, error) = _ask(tiny, "  <b>GPT-3</b> 有多少参数？ ", seed=7)
    assert textbox == "" and error == "" and pending.question == "<b>GPT-3</b> 有多少参数？"
    assert shown[0] == {"role": "user", "content": "&lt;b&gt;GPT-3&lt;/b&gt; 有多少参数？"}
    assert "rag-cursor" in shown[1]["content"]  # the answer slot appears before generation starts

    partial_html = [chat[-1]["content"] for chat, _, _ in steps[:-1]]
    final_chat, _, history = steps[-1]
    assert partial_html and all("rag-cursor" in h for h in partial_html)
    final = final_chat[-1]["content"]
    assert "rag-cursor" not in final and "rag-error" not in final
    assert "seed=7" in final and "max_new_tokens=8" in final and "Sources given to the model" in final
    assert [q for q, _ in history] == ["<b>GPT-3</b> 有多少参数？"] and history[0][1]


def test_follow_up_turns_keep_history_and_distinct_citation_anchors(extractive):
    steps, _ = _ask(extractive, QUESTION)
    chat, _, history = steps[-1]
    steps, _ = _ask(extractive, "那 GPT-2 呢？", chat=chat, history=history)
    chat, _, history = steps[-1]
    assert [m["role"] for m in chat] == ["user", "assistant"] * 2
    assert len(history) == 2 and history[1][0] == "那 GPT-2 呢？"
    assert 'id="chat1-' in chat[1]["content"] and 'id="chat2-' in chat[3]["content"]


def test_citations_link_to_the_cited_span_marked_in_the_original_file(extractive):
    steps, _ = _ask(extractive, QUESTION)
    html = steps[-1][0][-1]["content"]
    answer_part = html.split('class="rag-citations"')[0]
    links = re.findall(r'href="#(chat1-(\d+))"', answer_part)
    assert links, html
    for anchor, n in links:
        entry = re.search(rf'<li id="{anchor}" value="{n}">(.*?)</li>', html, re.S).group(1)
        doc = re.search(r'<span class="rag-doc">(.*?)</span>', entry).group(1)
        start, end = map(int, re.search(r"chars (\d+)–(\d+)", entry).groups())
        original = extractive.index.original(doc)
        marked = re.search(r"<mark>(.*?)</mark>", entry, re.S).group(1)
        assert marked.startswith(ui_app.render.esc(original[start:end])[:40])
    assert "175B" in answer_part


@pytest.mark.parametrize(
    "change, message",
    [
        ({"top_p": 0}, "top_p must be in (0, 1]"),
        ({"temperature": -0.5}, "temperature must be >= 0"),
        ({"max_new_tokens": 0}, "max_new_tokens must be >= 1"),
        ({"min_p": 1.0}, "min_p must be in [0, 1)"),
        ({"seed": None}, "seed needs a number"),
        ({"seed": 1.5}, "seed must be a whole number"),
        ({"k": 0}, "k must be >= 1"),
        ({"prompt": "nope"}, "unknown prompt template 'nope'"),
    ],
)
def test_out_of_range_settings_show_a_message_and_keep_the_question(extractive, change, message):
    chat = [{"role": "user", "content": "earlier"}]
    shown, state, textbox, pending, error = accept_question(
        extractive.settings, PROMPT_NAMES, QUESTION, chat, StopSignal(), *panel_values(extractive, **change)
    )
    assert message in unescape(error) and "rag-error" in error and "Traceback" not in error
    assert shown == chat and state == chat and textbox == QUESTION and pending is None
    assert list(answer_question(extractive, None, chat, [], StopSignal())) == [(chat, chat, [])]


@pytest.mark.parametrize("question, message", [("   ", "the question is empty"), ("长" * 2001, "2001 characters")])
def test_empty_or_overlong_question_gets_a_message(extractive, question, message):
    _, _, _, pending, error = accept_question(extractive.settings, PROMPT_NAMES, question, [], StopSignal(), *panel_values(extractive))
    assert pending is None and message in error


def test_stop_ends_generation_and_keeps_what_was_written(tiny):
    signal = StopSignal()
    _, chat, _, pending, _ = accept_question(tiny.settings, PROMPT_NAMES, QUESTION, [], signal, *panel_values(tiny, max_new_tokens=64))
    steps = answer_question(tiny, pending, chat, [], signal)
    next(steps)  # first streamed text: generation is running
    stop_request(signal)
    *_, (chat, _, history) = steps
    assert "Stopped" in chat[-1]["content"]
    assert re.search(r"(\d+) tokens", chat[-1]["content"]) and int(re.search(r"(\d+) tokens", chat[-1]["content"]).group(1)) < 64
    assert len(history) == 1


def test_stop_pressed_while_waiting_in_the_queue_ends_the_request_at_once(extractive):
    signal = StopSignal()
    _, chat, _, pending, _ = accept_question(extractive.settings, PROMPT_NAMES, QUESTION, [], signal, *panel_values(extractive))
    stop_request(signal)
    *_, (chat, _, _) = answer_question(extractive, pending, chat, [], signal)
    assert "Stopped" in chat[-1]["content"]
    _, _, _, pending, _ = accept_question(extractive.settings, PROMPT_NAMES, QUESTION, chat, signal, *panel_values(extractive))
    assert not signal.stopped  # a new question is not stopped by the previous Stop


class _FailsOnce:
    """A backend whose first request fails the way a remote server can (the connection drops), then recovers."""

    def __init__(self, inner):
        self._inner, self._failed = inner, False

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def generate(self, *args, **kwargs):
        if not self._failed:
            self._failed = True
            raise ConnectionError("server closed the connection")
        return self._inner.generate(*args, **kwargs)


def test_a_generation_error_is_a_message_in_that_chat_and_the_next_request_works(extractive):
    flaky = Pipeline(extractive.settings, index=extractive.index, generator=_FailsOnce(extractive.generator))
    steps, _ = _ask(flaky, QUESTION)
    chat, _, history = steps[-1]
    assert "rag-error" in chat[-1]["content"] and "ConnectionError: server closed the connection" in chat[-1]["content"]
    assert history == []
    steps, _ = _ask(flaky, QUESTION, chat=chat, history=history)
    chat, _, history = steps[-1]
    assert "rag-citations" in chat[-1]["content"] and len(history) == 1 and len(chat) == 4


def test_retrieval_tab_ranks_chunks_with_scores(extractive):
    html = search_chunks(extractive, QUESTION, 3, False)
    rows = re.findall(r"<tr><td>(\d+)</td><td>([\d.]+)</td>", html)
    assert 1 < len(rows) <= 3 and [n for n, _ in rows] == [str(i) for i in range(1, len(rows) + 1)]  # merged neighbours count once
    scores = [float(s) for _, s in rows]
    assert scores == sorted(scores, reverse=True)
    assert "175B" in html or "1750亿" in html  # the GPT-3 size chunk is among the top 3
    assert "the question is empty" in search_chunks(extractive, "", 3, False)
    assert "k must be &gt;= 1" in search_chunks(extractive, QUESTION, 0, False)


def test_panels_start_from_the_pipeline_settings_and_reset_to_them(extractive):
    custom = dataclasses.replace(
        extractive.settings,
        sampling=SamplingParams(temperature=0.3, top_p=0.9, top_k=5, max_new_tokens=99, seed=11, thinking=True),
        retrieval=RetrievalSettings(k=7),
    )
    pipeline = Pipeline(custom, index=extractive.index, generator=extractive.generator)
    page = build_app(pipeline, max_concurrency=2)
    by_id = {b.elem_id: b for b in page.blocks.values() if getattr(b, "elem_id", None)}
    for prefix in ("set", "abA", "abB"):
        assert by_id[f"{prefix}-temperature"].value == 0.3 and by_id[f"{prefix}-max-new-tokens"].value == 99
        assert by_id[f"{prefix}-seed"].value == 11 and by_id[f"{prefix}-thinking"].value is True
        assert by_id[f"{prefix}-k"].value == 7 and by_id[f"{prefix}-prompt"].value == custom.prompt
    restored = parse_settings(custom, default_values(custom), PROMPT_NAMES)
    assert restored.sampling == custom.sampling and restored.retrieval == custom.retrieval
    assert page._queue.default_concurrency_limit == 2
