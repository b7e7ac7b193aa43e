"""The OpenAI-compatible backend through the official client against a local stand-in server."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace

import pytest

from bench.openai_stub import OpenAIStub, StubReply
from core.errors import UserError
from rag.config import ModelSettings, SamplingParams
from rag.generators.factory import load_generator
from rag.generators.openai_server import OpenAIGenerator

MESSAGES = [{"role": "system", "content": "answer from the sources"}, {"role": "user", "content": "GPT-3 有多少参数？"}]
PARAMS = SamplingParams(temperature=0.6, top_p=0.95, top_k=20, min_p=0.05, repetition_penalty=1.1, max_new_tokens=64, seed=42, thinking=True)


@pytest.fixture
def stub():
    server = OpenAIStub().start()
    yield server
    server.stop()


def test_streams_the_answer_and_sends_every_sampling_setting(stub: OpenAIStub) -> None:
    gen, notice = load_generator(ModelSettings(model="tiny-qwen", backend="openai", base_url=stub.base_url))
    assert notice is None and isinstance(gen, OpenAIGenerator)
    assert (gen.name, gen.backend, gen.context_window) == ("tiny-qwen", "openai", 2048)
    pieces: list[str] = []
    out = gen.generate(MESSAGES, PARAMS, on_token=pieces.append)
    assert out.answer == "GPT-3 有 175B 参数 [1]。" and "".join(pieces) == out.answer and len(pieces) > 1
    assert (out.thinking, out.truncated, out.new_tokens) == (None, False, 5)  # the usage the server reported
    body = stub.requests[-1]
    assert body["messages"] == MESSAGES and body["model"] == "tiny-qwen"
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"], body["n"]) == (0.6, 0.95, 64, 42, 1)
    assert (body["top_k"], body["min_p"], body["repetition_penalty"]) == (20, 0.05, 1.1)
    assert body["chat_template_kwargs"] == {"enable_thinking": True}
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_reasoning_in_a_separate_field_or_in_think_tags_stays_out_of_the_answer(stub: OpenAIStub) -> None:
    gen = OpenAIGenerator(stub.base_url, "tiny-qwen")
    stub.reply = StubReply(content="175B [1]", reasoning="source 1 says 175B")
    pieces: list[str] = []
    out = gen.generate(MESSAGES, PARAMS, on_token=pieces.append)
    assert (out.answer, out.thinking, "".join(pieces)) == ("175B [1]", "source 1 says 175B", "175B [1]")

    stub.reply = StubReply(content="<think>\nsource 1 says 175B\n</think>\n\n175B [1]")
    pieces.clear()
    out = gen.generate(MESSAGES, PARAMS, on_token=pieces.append)
    assert (out.answer, out.thinking, "".join(pieces)) == ("175B [1]", "source 1 says 175B", "175B [1]")

    stub.reply = StubReply(content="<think>\nstill reasoning when the budget ran", finish_reason="length")
    out = gen.generate(MESSAGES, PARAMS)
    assert (out.answer, out.truncated) == ("", True)


def test_without_streaming(stub: OpenAIStub) -> None:
    gen = OpenAIGenerator(stub.base_url, "tiny-qwen", stream=False)
    stub.reply = StubReply(content="GPT-3 有 175B", reasoning="thinking", finish_reason="length")
    pieces: list[str] = []
    out = gen.generate(MESSAGES, PARAMS, on_token=pieces.append)
    assert stub.requests[-1]["stream"] is False and "stream_options" not in stub.requests[-1]
    assert (out.answer, out.thinking, out.truncated, out.new_tokens) == ("GPT-3 有 175B", "thinking", True, 7)
    assert out.ttft_ms == out.generate_ms


def test_generate_many_asks_n_samples_of_a_setting_in_one_request(stub: OpenAIStub) -> None:
    gen = OpenAIGenerator(stub.base_url, "tiny-qwen")
    hot = replace(PARAMS, temperature=1.2)
    rows = [replace(PARAMS, seed=s) for s in (5, 6, 7)] + [replace(hot, seed=8)]
    outs = gen.generate_many(MESSAGES, rows)
    assert [(r["n"], r["seed"], r["temperature"], r["stream"]) for r in stub.requests if "messages" in r] == [
        (3, 5, PARAMS.temperature, False), (1, 8, 1.2, False)]
    assert [o.answer for o in outs[:3]] == ["GPT-3 有 175B 参数 [1]。", "GPT-3 有 175B 参数 [1]。 #1", "GPT-3 有 175B 参数 [1]。 #2"]
    assert [(o.request_seed, o.batch_rows) for o in outs] == [(5, 3)] * 3 + [(8, 1)]
    assert all(o.new_tokens > 0 and not o.truncated and o.error is None for o in outs)


def test_generate_many_splits_requests_at_n_per_request_and_keeps_rows_of_a_failed_one(stub: OpenAIStub) -> None:
    gen = OpenAIGenerator(stub.base_url, "tiny-qwen", n_per_request=2)
    stub.fail_next = [500]  # max_retries 0: the first request fails for good
    outs = gen.generate_many(MESSAGES, [replace(PARAMS, seed=s) for s in (1, 2, 3)])
    assert [r["n"] for r in stub.requests if "messages" in r] == [2, 1]
    assert [o.error is not None for o in outs] == [True, True, False] and "HTTP 500" in outs[0].error
    assert outs[2].answer and outs[2].request_seed == 3


def test_a_set_stop_event_ends_the_stream(stub: OpenAIStub) -> None:
    gen = OpenAIGenerator(stub.base_url, "tiny-qwen")
    stop = threading.Event()
    pieces: list[str] = []

    def on_token(piece: str) -> None:
        pieces.append(piece)
        stop.set()

    out = gen.generate(MESSAGES, PARAMS, on_token=on_token, stop=stop)
    assert out.truncated and pieces == ["GPT-3"] and out.answer == "GPT-3"


def test_an_unknown_model_is_a_user_error(stub: OpenAIStub) -> None:
    gen = OpenAIGenerator(stub.base_url, "qwen-none")
    with pytest.raises(UserError, match=r"refused the request for model 'qwen-none' \(HTTP 404\).*does not exist"):
        gen.generate(MESSAGES, PARAMS)


def test_an_unreachable_server_fails_fast_with_the_fix() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}/v1"
    t0 = time.perf_counter()
    with pytest.raises(UserError, match=f"cannot reach OpenAI-compatible server at {url}: .*start it or fix --base-url"):
        load_generator(ModelSettings(model="qwen3-0.6b", backend="openai", base_url=url))
    assert time.perf_counter() - t0 < 5
    with pytest.raises(UserError, match="must be an http"):
        OpenAIGenerator("localhost:8000", "m")
