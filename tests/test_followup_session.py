"""The interactive `python -m rag.ask` session: a follow-up reaches the generator as the standalone question,
and a chat model also sees the earlier turns."""

from __future__ import annotations

import io

import pytest

import rag.generators.factory
from rag.ask import main
from rag.prompt import build_messages, estimate_tokens
from rag.templates import QUESTION_LABELS
from tests.fixtures.hits import make_hit

FIRST, FOLLOW_UP, STANDALONE = "GPT-3 有多少参数？", "它是哪年发布的？", "GPT-3是哪年发布的？"


class Recording:
    """The real generator, with every message list it was given kept in `calls`."""

    def __init__(self, generator):
        self._generator = generator
        self.calls: list[list[dict[str, str]]] = []

    def __getattr__(self, name):
        return getattr(self._generator, name)

    def generate(self, messages, params, on_token=None, stop=None):
        self.calls.append(messages)
        return self._generator.generate(messages, params, on_token=on_token, stop=stop)


@pytest.fixture
def recorded(monkeypatch) -> list[Recording]:
    made: list[Recording] = []
    load = rag.generators.factory.load_generator

    def recording_load(model):
        generator, notice = load(model)
        made.append(Recording(generator))
        return made[-1], notice

    monkeypatch.setattr(rag.generators.factory, "load_generator", recording_load)
    return made


def interactive_session(monkeypatch, argv: list[str], lines: list[str]) -> str:
    """`python -m rag.ask` with no question: the session reads `lines` as typed input."""
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(line + "\n" for line in lines)))
    out = io.StringIO()
    assert main(argv, stdout=out) == 0
    return out.getvalue()


def last_question(messages: list[dict[str, str]]) -> str:
    return messages[-1]["content"].rsplit(QUESTION_LABELS["zh"], 1)[1]


@pytest.fixture(scope="module")
def base(corpus_dir, corpus_index_dir) -> list[str]:
    return ["--index", str(corpus_index_dir), "--corpus", str(corpus_dir), "--embedder", "minilm", "--no-stream"]


def test_extractive_session_answers_the_standalone_follow_up(monkeypatch, recorded, base):
    out = interactive_session(monkeypatch, ["--backend", "extractive", *base], [FIRST, FOLLOW_UP])
    first, second = recorded[0].calls
    assert last_question(first) == FIRST
    assert last_question(second) == STANDALONE
    # The follow-up's answer is about GPT-3's release (2020), as when the standalone question is asked alone.
    alone = io.StringIO()
    assert main([STANDALONE, "--backend", "extractive", *base], stdout=alone) == 0
    alone_answer = alone.getvalue().split("\n\n")[0]
    assert "2020" in alone_answer and alone_answer in out


def test_chat_model_sees_the_standalone_question_and_the_earlier_turn(monkeypatch, recorded, base, tiny_qwen_dir):
    argv = ["--model", str(tiny_qwen_dir), "--max-new-tokens", "6", "--temperature", "0", *base]
    interactive_session(monkeypatch, argv, [FIRST, FOLLOW_UP])
    generator = recorded[0]
    first, second = generator.calls
    assert [m["role"] for m in first] == ["system", "user"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[1]["content"] == FIRST
    assert "[" not in second[2]["content"]  # the earlier answer's citation markers number other sources
    assert last_question(second) == STANDALONE
    rendered = generator.render_prompt(second, thinking=False)
    assert f"<|im_start|>user\n{FIRST}<|im_end|>" in rendered
    assert rendered.index(FIRST) < rendered.index(STANDALONE)


def test_history_gives_way_to_sources_oldest_turn_first():
    hits = [make_hit(i, f"GPT-3 的参数规模是 175B。{'背景' * 40}") for i in range(1, 4)]
    turns = [(f"第{i}个问题？", "回答" * 60) for i in range(6)]
    built = build_messages(STANDALONE, hits, history=turns, context_window=1200, max_new_tokens=200, count_tokens=estimate_tokens)
    kept = [m["content"] for m in built.messages[1:-1:2]]
    assert 0 < len(kept) < len(turns) and kept == [q for q, _ in turns[-len(kept):]]
    assert len(built.sources) == 3
    assert any(f"only the last {len(kept)} of 6 earlier turns" in n for n in built.notices)
    without = build_messages(STANDALONE, hits, context_window=1200, max_new_tokens=200, count_tokens=estimate_tokens)
    assert [m["role"] for m in without.messages] == ["system", "user"] and without.notices == []


def test_a_name_the_reports_state_carries_into_the_follow_up(corpus_dir, corpus_index_dir, corpus_index):
    """龙猫 is learned from the reports ("Chinchilla（龙猫）…"), not from the curated table."""
    from core.config import IndexSettings
    from rag.config import ModelSettings, Settings
    from rag.pipeline import Pipeline

    settings = Settings(index=IndexSettings(str(corpus_dir), str(corpus_index_dir), "minilm"), model=ModelSettings(backend="extractive"))
    pipeline = Pipeline(settings, index=corpus_index)
    answer = pipeline.ask("它是哪年发布的？", history=[("龙猫有多少参数？", "700 亿 [1]。")])
    assert answer.params["standalone_question"] == "龙猫是哪年发布的？"
