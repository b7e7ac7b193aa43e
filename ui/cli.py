"""`python -m ui`: serve the chat page on 127.0.0.1 (one model per process, shared by every visitor)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from typing import TYPE_CHECKING

from core.errors import OneLineArgumentParser, UserError, parse_args
from rag.config import MODEL_ALIASES, Settings, load_settings
from rag.generators import BACKENDS

if TYPE_CHECKING:
    import gradio as gr

AUTH_ENV = "RAG_UI_AUTH"  # "user:pass", used when --auth is not given


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(
        prog="python -m ui",
        description="Serve the question-answering page: chat with citations, A/B settings, retrieval, eval results.",
        epilog="Generation settings (temperature, top_p, …) start from the config file and are changed in the page.",
    )
    p.add_argument("--config", help="TOML or YAML config, the same file python -m rag.ask reads")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link (default off)")
    p.add_argument("--auth", help=f"require a login, as user:pass (default: the {AUTH_ENV} environment variable, if set)")
    p.add_argument("--max-concurrency", type=int, default=1, help="answers generated at the same time; others queue (default 1)")
    p.add_argument("--runs-dir", default="eval/runs", help="where the eval tab looks for runs (default eval/runs)")
    g = p.add_argument_group("model and index (as in python -m rag.ask)")
    g.add_argument("--model", help=f"Hub id, alias ({', '.join(MODEL_ALIASES)}), local folder, .gguf file or GGUF repo:QUANT")
    g.add_argument("--backend", choices=BACKENDS, help="default auto: llamacpp for a GGUF model when llama-cpp-python is installed, else transformers; extractive = no language model")
    g.add_argument("--base-url", help="OpenAI-compatible server for --backend openai, e.g. http://127.0.0.1:8000/v1")
    g.add_argument("--index", help="index folder (default index)")
    g.add_argument("--corpus", help="corpus folder (default corpus)")
    g.add_argument("--embedder", help="embedding model for a new index (default BAAI/bge-m3; 'minilm' = bundled)")
    g.add_argument("--update-index", action="store_true", default=None, help="bring an existing index up to date with the corpus first (default: a stale index is an error)")
    return p


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Defaults, then the config file, then the flags."""
    return load_settings(
        args.config,
        {
            "index": {"index": args.index, "corpus": args.corpus, "embedder": args.embedder, "update": args.update_index},
            "model": {"model": args.model, "backend": args.backend, "base_url": args.base_url},
        },
    )


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """`user:pass` → (user, pass); None when no login is required."""
    if value is None or value == "":
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise UserError(f"--auth (or {AUTH_ENV}) must be user:pass with both parts non-empty, e.g. --auth alice:s3cret")
    return user, password


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(app: gr.Blocks, *, host: str, port: int, share: bool = False, auth: tuple[str, str] | None = None, block: bool = True) -> None:
    """Launch `app` with the page's look and print its URL once it answers; `block=False` returns then (tests)."""
    from starlette.middleware import Middleware

    from ui.app import CSS, theme
    from ui.auth import LoginGuard

    if not (_is_loopback(host) or auth) or (share and not auth):
        print("warning: the page is reachable from other machines without a login; pass --auth user:pass", file=sys.stderr)
    try:
        # Never block inside launch: the URL is printed only after launch returns, when Gradio has checked
        # that the server answers, so a client reading the line can connect at once.
        app.launch(
            server_name=host,
            server_port=port,
            share=share,
            auth=auth,
            css=CSS,
            theme=theme(),
            prevent_thread_lock=True,
            ssr_mode=False,
            footer_links=[],
            quiet=True,
            app_kwargs={"middleware": [Middleware(LoginGuard)]} if auth else None,
        )
    except OSError as exc:
        raise UserError(f"cannot serve on {host}:{port} ({exc}); pass a free --port or another --host") from exc
    public = f", public link {app.share_url}" if share and app.share_url else ""
    print(f"Serving on http://{host}:{port}{public}  (Ctrl+C stops)", file=sys.stderr, flush=True)
    if block:
        app.block_thread()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)
    if isinstance(args, int):  # --help (0) or a bad flag (2, one line already printed)
        return args
    try:
        auth = parse_auth(args.auth if args.auth is not None else os.environ.get(AUTH_ENV))
        if not 0 < args.port < 65536:
            raise UserError(f"--port must be in 1..65535, got {args.port}")
        if args.max_concurrency < 1:
            raise UserError(f"--max-concurrency must be >= 1, got {args.max_concurrency}")
        settings = settings_from_args(args)

        from ingest.build import open_index
        from rag.pipeline import Pipeline
        from ui.app import build_app

        pipeline = Pipeline(settings, index=open_index(settings.index))
        for notice in pipeline.notices:
            print(f"notice: {notice}", file=sys.stderr)
        app = build_app(pipeline, runs_dir=args.runs_dir, max_concurrency=args.max_concurrency)
        serve(app, host=args.host, port=args.port, share=args.share, auth=auth)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0
