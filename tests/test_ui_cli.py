"""`python -m ui`: bad flags exit 2 with one line; the real command serves the page behind a login."""

from __future__ import annotations

import http.cookiejar
import json
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from core.errors import UserError
from ui.auth import FailedLogins, without_api_info
from ui.cli import AUTH_ENV, main, parse_auth

REPO = Path(__file__).resolve().parents[1]


def test_auth_is_user_colon_password():
    assert parse_auth("alice:s3:cret") == ("alice", "s3:cret")
    assert parse_auth(None) is None and parse_auth("") is None
    for bad in ("alice", ":pw", "alice:"):
        with pytest.raises(UserError, match="user:pass"):
            parse_auth(bad)


@pytest.mark.parametrize(
    "argv, env, message",
    [
        (["--auth", "alice"], None, "must be user:pass"),
        ([], "nocolon", f"(or {AUTH_ENV}) must be user:pass"),
        (["--port", "70000"], None, "--port must be in 1..65535, got 70000"),
        (["--max-concurrency", "0"], None, "--max-concurrency must be >= 1"),
        (["--config", "missing.toml"], None, "config file missing.toml not found"),
    ],
)
def test_bad_flags_exit_2_with_one_line(argv, env, message, monkeypatch, capsys):
    if env is None:
        monkeypatch.delenv(AUTH_ENV, raising=False)
    else:
        monkeypatch.setenv(AUTH_ENV, env)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_python_m_ui_serves_the_page_only_after_login(corpus_index_dir, corpus_dir, tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "ui", "--backend", "extractive", "--index", str(corpus_index_dir), "--corpus", str(corpus_dir),
        "--embedder", "minilm", "--port", str(port), "--auth", "alice:s3cret", "--runs-dir", str(tmp_path / "runs"),
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in server.stdout], daemon=True).start()
        deadline = time.monotonic() + 120
        printed = []
        while not any(line.startswith("Serving on ") for line in printed):
            assert server.poll() is None, "".join(printed)
            assert time.monotonic() < deadline, f"no 'Serving on' line within 120 s: {printed}"
            try:
                printed.append(lines.get(timeout=1))
            except queue.Empty:
                pass
        assert printed[-1].startswith(f"Serving on {base}  ")
        # The line is printed only once the server answers: the first request, sent at once, must get through.
        with pytest.raises(urllib.error.HTTPError) as no_login:
            urllib.request.urlopen(f"{base}/config", timeout=5)
        assert no_login.value.code == 401

        # The login page names no endpoint: Gradio would embed the whole API schema in it.
        login_page = urllib.request.urlopen(f"{base}/", timeout=5).read().decode()
        assert '"auth_required":true' in login_page
        assert "window.gradio_api_info = null;" in login_page
        assert "named_endpoints" not in login_page

        cookies = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

        def log_in(password: str):
            return cookies.open(f"{base}/login", urllib.parse.urlencode({"username": "alice", "password": password}).encode())

        for _ in range(5):
            with pytest.raises(urllib.error.HTTPError) as wrong:
                log_in("nope")
            assert wrong.value.code == 400
        # After five failures even the right password is not checked until the client has waited.
        with pytest.raises(urllib.error.HTTPError) as blocked:
            log_in("s3cret")
        assert blocked.value.code == 429
        retry_after = int(blocked.value.headers["Retry-After"])
        assert 1 <= retry_after <= 2
        time.sleep(retry_after)
        log_in("s3cret")
        assert "named_endpoints" in cookies.open(f"{base}/").read().decode()  # logged in: the full page
        config = json.load(cookies.open(f"{base}/config"))
        assert config["title"] == "LLM history reports: answers with citations"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_failed_logins_wait_doubles_after_five_failures_and_a_success_resets():
    now = [0.0]
    logins = FailedLogins(free_attempts=5, max_delay_s=8, clock=lambda: now[0])
    for _ in range(4):
        logins.failed("10.0.0.1")
        assert logins.wait_s("10.0.0.1") == 0
    waits = []
    for _ in range(6):
        logins.failed("10.0.0.1")
        waits.append(logins.wait_s("10.0.0.1"))
        now[0] += waits[-1]  # the client waits as told, then fails again
    assert waits == [1, 2, 4, 8, 8, 8]
    assert logins.wait_s("10.0.0.2") == 0  # per client
    logins.succeeded("10.0.0.1")
    assert logins.wait_s("10.0.0.1") == 0
    logins.failed("10.0.0.1")
    assert logins.wait_s("10.0.0.1") == 0  # the count starts again


def test_failed_logins_remember_a_bounded_number_of_clients():
    logins = FailedLogins(free_attempts=0, max_clients=3, clock=lambda: 0.0)
    for client in ["a", "b", "c", "d"]:
        logins.failed(client)
    assert [logins.wait_s(c) > 0 for c in "abcd"] == [False, True, True, True]


def test_login_page_loses_only_the_api_schema():
    page = (b'<script>window.gradio_config = {"auth_required":true,"components":[]};</script>'
            b'<script>window.gradio_api_info = {"named_endpoints":{"/answer":{}}};</script><p>x</p>')  # fmt: skip
    assert without_api_info(page) == page.replace(b'{"named_endpoints":{"/answer":{}}}', b"null")
    logged_in = page.replace(b'"auth_required":true,', b"")
    assert without_api_info(logged_in) == logged_in


def test_a_taken_port_is_one_line_exit_2(corpus_index_dir, corpus_dir, tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["--backend", "extractive", "--index", str(corpus_index_dir), "--corpus", str(corpus_dir),
                     "--embedder", "minilm", "--port", str(port), "--runs-dir", str(tmp_path / "runs")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "Serving on" not in err
    assert err.strip().splitlines()[-1].startswith(f"error: cannot serve on 127.0.0.1:{port} ")
