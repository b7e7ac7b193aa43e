"""A chat model behind any OpenAI-compatible server (vLLM, SGLang, llama.cpp server, Ollama).

Requests go through the official `openai` client. Standard fields carry temperature, top_p, max_tokens, seed
and n; `extra_body` carries what those servers accept beyond the OpenAI API: top_k, min_p,
repetition_penalty and `chat_template_kwargs.enable_thinking` (Qwen3's thinking switch). Reasoning comes
back either in a separate `reasoning_content` (or `reasoning`) field, when the server runs a reasoning parser,
or as `<think>…</think>` inside the content; both end up in `Generation.thinking`, never in the answer.

`generate_many` (sweeps) asks for the `n` samples of one setting in one request (the server's prefix cache
shares the prompt), carrying the seed of the first, with up to `concurrency` requests in flight across all
callers of the generator.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence
from urllib.parse import urlparse

from core.errors import UserError
from rag.config import SamplingParams
from rag.generators.protocol import check_one_thinking_mode, to_generation
from rag.prompt import DEFAULT_CONTEXT_WINDOW, estimate_tokens
from rag.thinking import AnswerStream, split_thinking
from rag.types import Generation

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 600.0
REASONING_FIELDS = ("reasoning_content", "reasoning")


class RequestFailed(UserError):
    """A request that failed the way a busy or flaky server fails (connection, time-out, 429, 5xx), after the
    client's retries: worth trying again later, unlike a request the server rejects (other 4xx)."""


def _unreachable(base_url: str, why: object) -> UserError:
    return RequestFailed(f"cannot reach OpenAI-compatible server at {base_url}: {why}; start it or fix --base-url")


def check_reachable(base_url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise UserError unless the server's host:port accepts a TCP connection within `timeout_s`."""
    url = urlparse(base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise UserError(f"--base-url must be an http(s) URL such as http://127.0.0.1:8000/v1, got {base_url!r}")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise _unreachable(base_url, exc) from exc


def _per_choice_tokens(choices: list[_Choice], total: int | None, streamed: bool) -> list[int]:
    """Tokens per sample. The server's usage counts all samples together: one sample gets it whole; streamed
    samples count their chunks (servers send one token per chunk); otherwise the total is split in proportion
    to each sample's estimated length (without a total, the estimates themselves)."""
    if total is not None and len(choices) == 1:
        return [total]
    if streamed:
        return [c.chunks for c in choices]
    estimates = [estimate_tokens(c.reasoning + c.stream.raw) for c in choices]
    if total is None or not sum(estimates):
        return estimates
    shares = [total * e / sum(estimates) for e in estimates]
    counts = [int(s) for s in shares]
    for i in sorted(range(len(shares)), key=lambda i: counts[i] - shares[i])[: total - sum(counts)]:
        counts[i] += 1  # largest remainders: the counts add up to the server's total
    return counts


def _reasoning(obj) -> str:
    extra = getattr(obj, "model_extra", None) or {}
    return "".join(str(extra.get(name) or "") for name in REASONING_FIELDS)


@dataclass
class _Choice:
    """One sample being received: raw content, separate reasoning, and its timing."""

    stream: AnswerStream = field(default_factory=AnswerStream)
    reasoning: str = ""
    chunks: int = 0
    first_at: float | None = None
    finish_reason: str | None = None


class OpenAIGenerator:
    """Generates through an OpenAI-compatible `/v1/chat/completions` endpoint."""

    backend = "openai"
    ignores_sampling = False

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        stream: bool = True,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        max_retries: int = 0,
        concurrency: int = 1,
        n_per_request: int = 0,
    ):
        """Connect to `base_url` (fails fast with UserError when nothing listens there). `stream=False` is for
        servers without server-sent events; time to first token is then the whole request. `max_retries`:
        how often the client retries a request after a connection error, time-out, 408, 409, 429 or 5xx, with
        exponential backoff (the openai client's own policy); the call is safe to use from several threads.
        `concurrency`: `generate_many` requests in flight at once; `n_per_request`: samples per request
        (0 = all samples of a setting; llama-server answers only 1)."""
        import openai

        if concurrency < 1 or n_per_request < 0:
            raise UserError(f"concurrency must be >= 1 and n_per_request >= 0, got {concurrency} and {n_per_request}")
        check_reachable(base_url, connect_timeout_s)
        self.base_url = base_url
        self.name = model
        self.device = base_url
        self.stream = stream
        self.concurrency = concurrency
        self.n_per_request = n_per_request
        self._in_flight = threading.BoundedSemaphore(concurrency)
        self.client = openai.OpenAI(
            base_url=base_url,
            api_key=os.environ.get(api_key_env) or "EMPTY",
            timeout=openai.Timeout(READ_TIMEOUT_S, connect=connect_timeout_s),
            max_retries=max_retries,
        )
        self.context_window = self._served_context_window()

    def _call(self, fn, *args, **kwargs):
        import openai

        try:
            return fn(*args, **kwargs)
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise _unreachable(self.base_url, exc) from exc
        except openai.APIStatusError as exc:
            error = RequestFailed if exc.status_code in (408, 409, 429) or exc.status_code >= 500 else UserError
            raise error(
                f"OpenAI-compatible server at {self.base_url} refused the request for model {self.name!r} "
                f"(HTTP {exc.status_code}): {exc.message}"
            ) from exc

    def _served_context_window(self) -> int:
        """vLLM reports `max_model_len` per served model; other servers do not, and get the default."""
        import openai

        try:
            models = self._call(self.client.models.list)
        except UserError as exc:
            if isinstance(exc.__cause__, openai.APIStatusError):  # no /models endpoint: not an error
                return DEFAULT_CONTEXT_WINDOW
            raise
        for m in models.data:
            if m.id == self.name and (m.model_extra or {}).get("max_model_len"):
                return int(m.model_extra["max_model_len"])
        return DEFAULT_CONTEXT_WINDOW

    @property
    def revision(self) -> str:
        """`served`: the server does not say which weights it serves (start a fresh cache after changing them)."""
        return "served"

    @property
    def info(self) -> dict[str, str]:
        return {"engine": "OpenAI-compatible server", "dtype": "server", "device": self.base_url}

    def count_tokens(self, text: str) -> int:
        """An estimate: the server's tokenizer is not available here."""
        return estimate_tokens(text)

    def request_body(self, messages: list[dict[str, str]], params: SamplingParams, n: int, stream: bool) -> dict:
        """Keyword arguments for `chat.completions.create`: every sampling setting the servers accept."""
        body = {
            "model": self.name,
            "messages": messages,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_new_tokens,
            "seed": params.seed,
            "n": n,
            "stream": stream,
            "extra_body": {
                "top_k": params.top_k,
                "min_p": params.min_p,
                "repetition_penalty": params.repetition_penalty,
                "chat_template_kwargs": {"enable_thinking": params.thinking},
            },
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def generate(
        self,
        messages: list[dict[str, str]],
        params: SamplingParams,
        on_token: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Generation:
        """One answer; `on_token` gets answer text as it streams; setting `stop` ends it early (truncated)."""
        return self._run(messages, params, 1, on_token, stop)[0]

    def generate_many(self, messages: list[dict[str, str]], rows: Sequence[SamplingParams]) -> list[Generation]:
        """Consecutive rows with equal settings (seed aside) go in one request for their `n` samples (at most
        `n_per_request`), carrying the first row's seed (`Generation.request_seed`); up to `concurrency`
        requests are in flight. Replies are not streamed: the client parses one response instead of an event
        per token, which is what limits a sweep with many requests in flight. A request still failing after
        its retries (RequestFailed) gives its rows `error`; the other rows are kept."""
        check_one_thinking_mode(rows)
        requests: list[list[int]] = []
        for i, row in enumerate(rows):
            last = requests[-1] if requests else None
            if (
                last
                and dataclasses.replace(rows[last[0]], seed=0) == dataclasses.replace(row, seed=0)
                and (not self.n_per_request or len(last) < self.n_per_request)
            ):
                last.append(i)
            else:
                requests.append([i])

        def send(indices: list[int]) -> list[Generation]:
            params = rows[indices[0]]
            with self._in_flight:
                try:
                    replies = self._run(messages, params, len(indices), None, None, stream=False)
                except RequestFailed as exc:
                    failed = Generation(answer="", thinking=None, truncated=True, new_tokens=0, ttft_ms=0.0,
                                        generate_ms=0.0, batch_rows=len(indices), request_seed=params.seed, error=str(exc))
                    return [failed] * len(indices)
            return [dataclasses.replace(g, batch_rows=len(indices), request_seed=params.seed) for g in replies]

        out: list[Generation] = [None] * len(rows)  # type: ignore[list-item]
        workers = min(self.concurrency, len(requests))
        if workers <= 1:
            results = [send(r) for r in requests]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai-request") as pool:
                results = list(pool.map(send, requests))
        for indices, generations in zip(requests, results):
            for i, g in zip(indices, generations):
                out[i] = g
        return out

    def _run(self, messages, params, n, on_token, stop, stream: bool | None = None) -> list[Generation]:
        stream = self.stream if stream is None else stream
        t0 = time.perf_counter()
        choices = [_Choice() for _ in range(n)]
        completion_tokens = None
        if stream:
            response = self._call(self.client.chat.completions.create, **self.request_body(messages, params, n, True))
            stopped = False
            for chunk in response:
                if chunk.usage is not None:
                    completion_tokens = chunk.usage.completion_tokens
                for c in chunk.choices:
                    choice = choices[c.index]
                    content, reasoning = c.delta.content or "", _reasoning(c.delta)
                    if content or reasoning:
                        choice.chunks += 1
                        choice.first_at = choice.first_at or time.perf_counter()
                    choice.reasoning += reasoning
                    delta = choice.stream.feed(content)
                    if delta and on_token and c.index == 0:
                        on_token(delta)
                    choice.finish_reason = c.finish_reason or choice.finish_reason
                if stop is not None and stop.is_set():
                    stopped = True
                    response.close()
                    break
            t_end = time.perf_counter()
            if on_token and not stopped:
                tail = choices[0].stream.pending()
                if tail:
                    on_token(tail)
        else:
            response = self._call(self.client.chat.completions.create, **self.request_body(messages, params, n, False))
            t_end = time.perf_counter()
            completion_tokens = response.usage.completion_tokens if response.usage else None
            for c in response.choices:
                choice = choices[c.index]
                choice.stream.feed(c.message.content or "")
                choice.reasoning = _reasoning(c.message)
                choice.first_at, choice.finish_reason = t_end, c.finish_reason
        counts = _per_choice_tokens(choices, completion_tokens, stream)
        return [self._generation(c, t0, t_end, count) for c, count in zip(choices, counts)]

    def _generation(self, choice: _Choice, t0: float, t_end: float, completion_tokens: int) -> Generation:
        return to_generation(
            split_thinking(choice.stream.raw),
            ended=choice.finish_reason not in (None, "length"),
            thinking=choice.reasoning.strip() or None,
            new_tokens=completion_tokens,
            ttft_ms=((choice.first_at or t_end) - t0) * 1000,
            generate_ms=(t_end - t0) * 1000,
        )
