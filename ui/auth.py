"""The login's guard: failed logins are slowed down per client, and the login page reveals no API schema.

Gradio's own login accepts unlimited guesses and renders its page with `window.gradio_api_info` (every endpoint,
its parameters and examples) even though `/gradio_api/info` answers 401 without a login. `LoginGuard` is an ASGI
middleware installed inside Gradio's app (`launch(app_kwargs={"middleware": …})`), so it sees the
uncompressed page before Gradio's Brotli middleware.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

FREE_ATTEMPTS = 5  # failed logins a client may make before it has to wait
MAX_DELAY_S = 300.0
MAX_CLIENTS = 10_000  # remembered clients; the least recently seen is forgotten first

_LOGIN_PATHS = {"/login", "/login/"}
_API_INFO = re.compile(rb"(<script>window\.gradio_api_info = ).*?(;</script>)", re.DOTALL)
_LOGIN_PAGE = re.compile(rb'window\.gradio_config = \{"auth_required":\s*true')


@dataclass
class _Client:
    failures: int = 0
    blocked_until: float = 0.0


class FailedLogins:
    """Consecutive failed logins per client: after `free_attempts` failures, each further failure makes the
    client wait 1, 2, 4, … seconds (at most `max_delay_s`) before its next attempt is even checked."""

    def __init__(self, *, free_attempts: int = FREE_ATTEMPTS, max_delay_s: float = MAX_DELAY_S,
                 max_clients: int = MAX_CLIENTS, clock: Callable[[], float] = time.monotonic):  # fmt: skip
        self.free_attempts = free_attempts
        self.max_delay_s = max_delay_s
        self.max_clients = max_clients
        self.clock = clock
        self._clients: OrderedDict[str, _Client] = OrderedDict()

    def wait_s(self, client: str) -> float:
        """Seconds `client` must still wait before a login attempt is checked (0: it may try now)."""
        state = self._clients.get(client)
        return max(0.0, state.blocked_until - self.clock()) if state else 0.0

    def failed(self, client: str) -> None:
        state = self._clients.pop(client, None) or _Client()
        state.failures += 1
        over = state.failures - self.free_attempts
        if over >= 0:
            state.blocked_until = self.clock() + min(2.0**over, self.max_delay_s)
        self._clients[client] = state  # most recently seen last
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)


def without_api_info(page: bytes) -> bytes:
    """The login page (Gradio renders it while nobody is logged in) with its embedded API schema removed."""
    if not _LOGIN_PAGE.search(page):
        return page
    return _API_INFO.sub(rb"\1null\2", page)


class LoginGuard:
    """ASGI middleware: rate-limits POST /login per client address and strips the API schema from the login page."""

    def __init__(self, app, failed_logins: FailedLogins | None = None):
        self.app = app
        self.failed_logins = failed_logins or FailedLogins()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["method"] == "POST" and scope["path"] in _LOGIN_PATHS:
            return await self._login(scope, receive, send)
        if scope["method"] == "GET":
            return await self._page(scope, receive, send)
        return await self.app(scope, receive, send)

    async def _login(self, scope, receive, send):
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.failed_logins.wait_s(client)
        if wait > 0:
            seconds = math.ceil(wait)
            body = json.dumps({"detail": f"too many failed logins from {client}; try again in {seconds} s"}).encode()
            await send({"type": "http.response.start", "status": 429, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(seconds).encode())]})  # fmt: skip
            await send({"type": "http.response.body", "body": body})
            return

        async def record(message):
            if message["type"] == "http.response.start":
                if message["status"] == 200:
                    self.failed_logins.succeeded(client)
                elif 400 <= message["status"] < 500:
                    self.failed_logins.failed(client)
            await send(message)

        await self.app(scope, receive, record)

    async def _page(self, scope, receive, send):
        start: dict | None = None
        chunks: list[bytes] = []

        async def buffer_html(message):
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                if headers.get(b"content-type", b"").startswith(b"text/html"):
                    start = message
                    return
            elif start is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = without_api_info(b"".join(chunks))
                headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
                await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, buffer_html)
