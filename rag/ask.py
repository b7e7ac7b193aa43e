"""`python -m rag.ask`: answer questions about the reports, with numbered citations.

    python -m rag.ask "GPT-3 有多少参数？"          one question
    python -m rag.ask                              interactive session with follow-ups
    python -m rag.ask - < questions.txt            one question per line from stdin
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from typing import Any, Callable, TextIO

from core.config import IndexSettings
from core.errors import OneLineArgumentParser, UserError, parse_args
from rag.config import MODEL_ALIASES, ModelSettings, RetrievalSettings, SamplingParams, Settings, load_settings
from rag.generators import BACKENDS
from rag.types import Answer, Hit

SNIPPET_CHARS = 90



# Characters str.splitlines() breaks on inside a JSON string: escaped, so one record stays one line for every reader.
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def json_line(record) -> str:
    """One JSON Lines record: UTF-8 text kept readable, line-breaking characters escaped."""
    text = json.dumps(record, ensure_ascii=False, allow_nan=False)
    for char, escaped in _LINE_BREAKS.items():
        text = text.replace(char, escaped)
    return text + "\n"

def _default(cls: type, name: str) -> Any:
    return next(f.default for f in fields(cls) if f.name == name)


def build_parser() -> argparse.ArgumentParser:
    """The `rag.ask` argument parser; every flag's help shows its default."""
    p = OneLineArgumentParser(
        prog="python -m rag.ask",
        description="Answer a question from the reports in corpus/, citing the sources as [1], [2], …",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Flags override the config file, which overrides the defaults. Exit status 2 means bad input.",
    )
    p.add_argument("question", nargs="?", help="the question; '-' reads one question per line from stdin; none: interactive")
    p.add_argument("--config", help="TOML or YAML file with [index] [retrieval] [model] [sampling] sections and prompt")

    g = p.add_argument_group("retrieval")
    g.add_argument("--k", type=int, help=f"sources given to the model (default {_default(RetrievalSettings, 'k')})")
    g.add_argument("--candidates", type=int, help=f"depth of each ranked list before fusion (default {_default(RetrievalSettings, 'candidates')})")
    g.add_argument("--hybrid", action=argparse.BooleanOptionalAction, default=None, help="dense + BM25 fusion; --no-hybrid = dense only (default on)")
    g.add_argument("--rerank", action=argparse.BooleanOptionalAction, default=None, help="cross-encoder reranking (default off)")
    g.add_argument("--reranker", help=f"reranker model (default {_default(RetrievalSettings, 'reranker')})")
    g.add_argument("--retrieval-only", action="store_true", help="print the ranked chunks with scores; no generation")

    g = p.add_argument_group("model")
    g.add_argument("--model", help=f"Hub id, alias ({', '.join(MODEL_ALIASES)}), local folder, .gguf file or GGUF repo:QUANT (e.g. Qwen/Qwen3-0.6B-GGUF:Q8_0) (default {_default(ModelSettings, 'model')})")
    g.add_argument("--backend", choices=BACKENDS, help="default auto: llamacpp for a GGUF model (.gguf file, folder of one, or repo:QUANT) when llama-cpp-python is installed, else transformers")
    g.add_argument("--base-url", help="OpenAI-compatible server for --backend openai, e.g. http://127.0.0.1:8000/v1")
    g.add_argument("--dtype", choices=["auto", "bfloat16", "float16", "float32"], help="default auto: bfloat16 on GPUs and on CPUs with AVX-512 BF16/AMX, else float32")
    g.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="default auto")
    g.add_argument("--threads", type=int, help="llamacpp: CPU threads (default 0 = the physical cores this process may use, as llama.cpp counts them; 1 when other work keeps the CPUs busy)")
    g.add_argument("--fallback", action=argparse.BooleanOptionalAction, default=None, help="answer extractively when the model cannot be loaded (default on)")
    g.add_argument("--prompt", help="named prompt template (default 'default'; see docs/usage.md)")

    g = p.add_argument_group("sampling")
    g.add_argument("--temperature", type=float, help=f"0 = greedy (default {_default(SamplingParams, 'temperature')})")
    g.add_argument("--top-p", type=float, help=f"nucleus mass in (0, 1] (default {_default(SamplingParams, 'top_p')})")
    g.add_argument("--top-k", type=int, help=f"0 = off (default {_default(SamplingParams, 'top_k')})")
    g.add_argument("--min-p", type=float, help=f"0 = off (default {_default(SamplingParams, 'min_p')})")
    g.add_argument("--repetition-penalty", type=float, help=f"1.0 = off (default {_default(SamplingParams, 'repetition_penalty')})")
    g.add_argument("--max-new-tokens", type=int, help=f"generation budget (default {_default(SamplingParams, 'max_new_tokens')})")
    g.add_argument("--seed", type=int, help=f"same seed + settings + model = same answer (default {_default(SamplingParams, 'seed')})")
    g.add_argument("--thinking", action=argparse.BooleanOptionalAction, default=None, help="Qwen3 thinking mode (default off)")

    g = p.add_argument_group("index")
    g.add_argument("--index", help=f"index folder (default {_default(IndexSettings, 'index')})")
    g.add_argument("--corpus", help=f"corpus folder (default {_default(IndexSettings, 'corpus')})")
    g.add_argument("--embedder", help=f"embedding model for a new index (default {_default(IndexSettings, 'embedder')}; 'minilm' = bundled)")
    g.add_argument("--update-index", action="store_true", default=None, help="bring an existing index up to date with the corpus first (default: a stale index is an error)")

    g = p.add_argument_group("output")
    g.add_argument("--json", action="store_true", help="one JSON object per question (shape documented in docs/usage.md)")
    g.add_argument("--no-stream", action="store_true", help="print the answer when it is complete instead of token by token")
    return p


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Defaults, then the config file, then the flags."""
    overrides: dict[str, Any] = {
        "index": {"index": args.index, "corpus": args.corpus, "embedder": args.embedder, "update": args.update_index},
        "retrieval": {
            "k": args.k,
            "candidates": args.candidates,
            "hybrid": args.hybrid,
            "rerank": args.rerank,
            "reranker": args.reranker,
        },
        "model": {
            "model": args.model,
            "backend": args.backend,
            "base_url": args.base_url,
            "dtype": args.dtype,
            "device": args.device,
            "threads": args.threads,
            "fallback": args.fallback,
        },
        "sampling": {
            "temperature": args.temperature,
            "top_p": args.top_p,
            "top_k": args.top_k,
            "min_p": args.min_p,
            "repetition_penalty": args.repetition_penalty,
            "max_new_tokens": args.max_new_tokens,
            "seed": args.seed,
            "thinking": args.thinking,
        },
    }
    if args.prompt is not None:
        overrides["prompt"] = args.prompt
    return load_settings(args.config, overrides)


def format_sources(hits: list[Hit], out: TextIO, numbers: list[int] | None = None) -> None:
    """Print numbered sources: file, heading path, a one-line snippet (and the score)."""
    for n, hit in enumerate(hits, start=1):
        if numbers is not None and n not in numbers:
            continue
        c = hit.chunk
        snippet = " ".join(c.text.split())[:SNIPPET_CHARS]
        heading = f" › {c.heading}" if c.heading else ""
        out.write(f"[{n}] {c.doc_id}{heading}  (chars {c.start}-{c.end}, score {hit.score:.4f})\n    {snippet}…\n")


def print_answer(answer: Answer, out: TextIO, streamed: bool) -> None:
    """The human-readable answer: text (unless already streamed), cited sources, one line of timings."""
    if not streamed:
        out.write(answer.answer)
    out.write("\n")
    if answer.truncated:
        out.write("(the answer was cut off at max_new_tokens; raise --max-new-tokens)\n")
    cited = [c.n for c in answer.citations]
    if cited:
        out.write("\nSources:\n")
        format_sources(answer.sources, out, cited)
    elif not answer.refused:
        out.write("\n(no sources cited; retrieved:)\n")
        format_sources(answer.sources, out)
    t = answer.timings
    parts = [f"retrieve {t['retrieve_ms']:.0f} ms", f"first token {t['ttft_ms']:.0f} ms", f"generate {t['generate_ms']:.0f} ms"]
    if t["new_tokens"]:
        parts.append(f"{t['new_tokens']:.0f} tokens ({t['tokens_per_s']:.1f}/s)")
    parts.append(answer.backend if answer.model == answer.backend else f"{answer.backend}:{answer.model}")
    out.write("\n" + " · ".join(parts) + "\n")


def _questions(args: argparse.Namespace, stdin: TextIO, interactive: bool) -> Any:
    try:
        yield from _read_questions(args, stdin, interactive)
    except UnicodeDecodeError as exc:
        raise UserError(f"standard input is not valid UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); pass UTF-8 text") from None


def _read_questions(args: argparse.Namespace, stdin: TextIO, interactive: bool) -> Any:
    if args.question == "-":
        for line in stdin:
            if line.strip():
                yield line.strip()
    elif args.question is not None:
        yield args.question
    else:
        while True:
            if interactive:  # input() for line editing at a terminal
                try:
                    line = input("? ")
                except EOFError:
                    return
            else:
                line = stdin.readline()
                if not line:
                    return
            if line.strip() in ("exit", "quit", ":q"):
                return
            if line.strip():
                yield line.strip()


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stdin: TextIO | None = None) -> int:
    """Run the CLI; returns the exit status (2 for bad input)."""
    out = stdout or sys.stdout
    stdin = stdin or sys.stdin
    args = parse_args(build_parser(), argv)
    if isinstance(args, int):  # --help (0) or a bad flag (2, one line already printed)
        return args
    try:
        if args.question is not None and args.question != "-" and not args.question.strip():
            raise UserError("the question is empty; pass a question, e.g. python -m rag.ask \"GPT-3 有多少参数？\"")
        settings = settings_from_args(args)
        from ingest.build import open_index
        from rag.pipeline import Pipeline

        pipeline = Pipeline(settings, index=open_index(settings.index), generation=not args.retrieval_only)
        for notice in pipeline.notices:
            print(f"notice: {notice}", file=sys.stderr)
        interactive = args.question is None and stdin.isatty()
        history: list[tuple[str, str]] = []
        for question in _questions(args, stdin, interactive):
            if args.retrieval_only:
                hits = pipeline.retrieve(question)
                if args.json:
                    out.write(json_line(pipeline.retrieval_json(question, hits)))
                else:
                    format_sources(hits, out)
                continue
            stream = not (args.json or args.no_stream)
            on_token: Callable[[str], None] | None = (lambda t: (out.write(t), out.flush())) if stream else None
            answer = pipeline.ask(question, history=history if args.question is None else None, on_token=on_token)
            for notice in answer.notices:
                print(f"notice: {notice}", file=sys.stderr)
            if args.json:  # a script reading only stdout still learns that the model fell back
                record = {**answer.to_json(), "notices": [*pipeline.notices, *answer.notices]}
                out.write(json_line(record))
            else:
                print_answer(answer, out, streamed=stream)
            out.flush()
            history.append((question, answer.answer))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
