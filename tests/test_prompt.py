"""Prompt templates, language choice and the context budget."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.errors import UserError
from rag.prompt import build_messages
from rag.templates import (
    PROMPTS,
    REFUSAL_EN,
    REFUSAL_ZH,
    detect_language,
    template_hash,
)
from tests.fixtures.hits import make_hit

GPT3_ZH = "但 GPT-3 将模型参数规模扩大至 175B，是 GPT-2 的 100 倍。"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("GPT-3 有多少参数？", "zh"),
        ("How many parameters does GPT-3 have?", "en"),
        ("What is 通义千问?", "en"),
        ("Llama 2 和 GPT-4 哪个更大？", "zh"),
        ("BERT是谁做的", "zh"),
        ("", "en"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_templates_cover_the_variants_the_eval_compares() -> None:
    assert {"default", "concise", "strict", "closed_book"} <= set(PROMPTS)
    for t in PROMPTS.values():
        assert REFUSAL_ZH in t.system["zh"] and REFUSAL_EN in t.system["en"]
    for name in ("default", "concise", "strict", "cite_example"):
        zh, en = PROMPTS[name].system["zh"], PROMPTS[name].system["en"]
        assert "[1]" in zh and "不一致" in zh and "中文" in zh
        assert "[1]" in en and "disagree" in en and "English" in en
    assert not PROMPTS["closed_book"].use_sources


def test_template_hash_is_stable_across_processes_and_differs_by_template() -> None:
    hashes = {name: template_hash(name) for name in PROMPTS}
    assert len(set(hashes.values())) == len(PROMPTS)
    code = "from rag.templates import PROMPTS, template_hash; print(' '.join(template_hash(n) for n in PROMPTS))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert other == list(hashes.values())
    with pytest.raises(UserError, match="unknown prompt template 'nope'.*default"):
        template_hash("nope")


def test_messages_carry_numbered_sources_and_the_question_in_its_language() -> None:
    hits = [make_hit(1, GPT3_ZH, heading='2020 > "GPT-3"'), make_hit(2, "LaMDA: 2021-05")]
    built = build_messages("GPT-3 有多少参数？", hits)
    system, user = built.messages
    assert system == {"role": "system", "content": PROMPTS["default"].system["zh"]}
    assert user["role"] == "user"
    assert '<source id="1" title="Title 1" section="2020 > \'GPT-3\'">' in user["content"]
    assert user["content"].index('<source id="1"') < user["content"].index('<source id="2"')
    assert user["content"].endswith("问题：GPT-3 有多少参数？")
    assert built.sources == hits and built.notices == [] and built.language == "zh"
    context = built.messages.context  # what the messages were rendered from, for backends without a model
    assert context.question == "GPT-3 有多少参数？" and context.language == "zh"
    assert [(s.n, s.text, s.heading) for s in context.sources] == [(1, GPT3_ZH, '2020 > "GPT-3"'), (2, "LaMDA: 2021-05", "2020 > Model 2")]
    assert context.verdict.answerable and built.answerable

    english = build_messages("How many parameters does GPT-3 have?", hits, "concise")
    assert english.messages[0]["content"] == PROMPTS["concise"].system["en"]
    assert english.messages[1]["content"].endswith("Question: How many parameters does GPT-3 have?")


def test_closed_book_shows_no_sources() -> None:
    built = build_messages("GPT-3 有多少参数？", [make_hit(1, GPT3_ZH)], "closed_book")
    assert "<source" not in built.messages[1]["content"] and built.sources == []
    assert built.messages.context.sources == () and built.messages.context.verdict is None and built.answerable is None


def _prompt_tokens(built) -> int:
    return sum(len(m["content"]) for m in built.messages)


def test_sources_are_trimmed_to_the_context_window_with_notices() -> None:
    hits = [make_hit(i, "资料" * 200) for i in range(1, 6)]  # 400 characters each
    full = build_messages("GPT-3 有多少参数？", hits, count_tokens=len, context_window=100_000)
    assert len(full.sources) == 5 and not full.notices

    window, budget = 1500, 200
    built = build_messages("GPT-3 有多少参数？", hits, count_tokens=len, context_window=window, max_new_tokens=budget)
    assert 1 <= len(built.sources) < 5 and built.sources == hits[: len(built.sources)]
    assert _prompt_tokens(built) <= window - budget
    assert any(f"only {len(built.sources)} of 5 sources fit" in n for n in built.notices)
    shown = {s.n: s.text for s in built.messages.context.sources}
    assert set(shown) == set(range(1, len(built.sources) + 1))
    assert any(len(text) < 400 for text in shown.values()) == any("shortened" in n for n in built.notices)
    assert all(f"\n{text}\n</source>" in built.messages[-1]["content"] for text in shown.values())  # as the model sees it


def test_generator_token_counter_and_window_are_used() -> None:
    class Counter:
        context_window = 900

        def count_tokens(self, text: str) -> int:
            return len(text)

    built = build_messages("GPT-3 有多少参数？", [make_hit(i, "x" * 300) for i in range(1, 4)], generator=Counter(), max_new_tokens=100)
    assert _prompt_tokens(built) <= 800 and len(built.sources) < 3


def test_a_very_long_question_is_cut_with_a_notice() -> None:
    question = "GPT-3 有多少参数？" + "请详细说明。" * 3000
    built = build_messages(question, [make_hit(1, GPT3_ZH)], count_tokens=len, context_window=4000, max_new_tokens=256)
    asked = built.messages.context.question
    assert built.messages[-1]["content"].endswith(asked)
    assert question.startswith(asked) and len(asked) < len(question)
    assert any("the question is" in n and "tokens long" in n for n in built.notices)
    assert _prompt_tokens(built) <= 4000 - 256


def test_no_room_for_the_prompt_is_a_user_error() -> None:
    with pytest.raises(UserError, match="max_new_tokens=4000 leaves only .* 4096-token context window"):
        build_messages("GPT-3 有多少参数？", [make_hit(1)], count_tokens=len, context_window=4096, max_new_tokens=4000)


def test_cite_example_shows_a_cited_answer_without_its_sources_counting_as_the_users() -> None:
    """The worked example (invented models) sits in the system message; the numbered sources of the prompt,
    which citations are resolved against, are still only the retrieved ones in the user message."""
    built = build_messages("How many parameters does GPT-3 have?", [make_hit(1, GPT3_ZH)], "cite_example")
    system, user = built.messages[0]["content"], built.messages[-1]["content"]
    assert "Answer: Model B has 7 billion parameters [2]." in system and "Model B" not in user
    assert [(src.n, src.text) for src in built.messages.context.sources] == [(1, GPT3_ZH)]
    zh = build_messages("GPT-3 有多少参数？", [make_hit(1, GPT3_ZH)], "cite_example").messages[0]["content"]
    assert "回答：模型 B 有 70 亿参数 [2]。" in zh
