"""`python -m ingest`: build or update the index from the corpus folder."""

from __future__ import annotations

import argparse
import sys

from core.config import DEFAULT_EMBEDDER, IndexSettings
from core.errors import OneLineArgumentParser, UserError, parse_args


def parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(
        prog="python -m ingest",
        description="Clean, chunk and embed the reports in the corpus folder into a FAISS + BM25 index. "
        "Incremental: only changed documents are re-embedded; a run with no changes returns at once.",
    )
    p.add_argument("--corpus", default=IndexSettings.corpus, help="folder of .md/.txt/.html reports (default: %(default)s)")
    p.add_argument("--index", default=IndexSettings.index, help="index folder to create or update (default: %(default)s)")
    p.add_argument(
        "--embedder",
        default=DEFAULT_EMBEDDER,
        help="sentence-transformers model: a Hub id, a local folder, or 'minilm' for the bundled all-MiniLM-L6-v2 "
        "(default: %(default)s; falls back to minilm with a warning when it cannot be loaded)",
    )
    p.add_argument("--chunk-size", type=int, default=IndexSettings.chunk_chars, metavar="N", help="target chunk length in characters (default: %(default)s)")
    p.add_argument("--chunk-overlap", type=int, default=IndexSettings.chunk_overlap, metavar="N", help="characters shared by neighbouring chunks (default: %(default)s)")
    p.add_argument("--max-file-mb", type=float, default=IndexSettings.max_file_mb, metavar="MB", help="larger reports are skipped with a message (default: %(default)s)")
    p.add_argument("--rebuild", action="store_true", help="ignore the existing index and build everything anew")
    p.add_argument("--wait", action="store_true", help="if another build of this index is running, wait for it instead of stopping")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parse_args(parser(), argv)
    if isinstance(args, int):  # --help (0) or a bad flag (2, message already printed)
        return args
    from ingest.build import build_index

    try:
        report = build_index(args.corpus, args.index, args.embedder, args.chunk_size, args.chunk_overlap, rebuild=args.rebuild, progress=not args.quiet, wait=args.wait, max_file_mb=args.max_file_mb)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"interrupted; the previous index in {args.index}/ is unchanged", file=sys.stderr)
        return 130
    print(report.summary())
    return 0
