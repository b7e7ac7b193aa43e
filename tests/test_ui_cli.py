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

from ingest.errors import UserError
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

        cookies = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with pytest.raises(urllib.error.HTTPError) as wrong:
            cookies.open(f"{base}/login", urllib.parse.urlencode({"username": "alice", "password": "nope"}).encode())
        assert wrong.value.code == 400
        cookies.open(f"{base}/login", urllib.parse.urlencode({"username": "alice", "password": "s3cret"}).encode())
        config = json.load(cookies.open(f"{base}/config"))
        assert config["title"] == "LLM history reports: answers with citations"
    finally:
        server.terminate()
        server.wait(timeout=30)
