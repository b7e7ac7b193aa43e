"""`python -m eval.score`: score anyone's answers to the gold QA set with the scorer the reports use.

    python -m eval.score --qa eval/data/qa.jsonl --answers answers.jsonl [--json] [--out DIR]

ANSWERS is JSONL, one answer per line: `{"id": QA item id, "answer": "...", "sources": [{"doc", "text"}, …],
"sample": 0, "setting": "label"}`; `sample` (default 0) and `setting` (default "default") are optional, and
several samples or settings per id are allowed. `[n]` in an answer cites `sources[n - 1]`; only cited
sources can ground an answer. Bad input exits with status 2 and names the line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.errors import UserError
from eval.aggregate import answer_metrics, reason_shares
from eval.metrics import score_sample
from eval.qa import DEFAULT_QA, QAItem, json_object_line, load_qa
from rag.citations import parse_citations

REQUIRED = ("id", "answer", "sources")
OPTIONAL = {"sample": 0, "setting": "default"}
SCORES = "scores.jsonl"
SUMMARY = "summary.json"
COLUMNS = (
    ("grounded acc", "grounded"), ("CI low", "CI low"), ("CI high", "CI high"), ("hit (answerable)", "hit"),
    ("uncited correct", "uncited"), ("refusal precision", "refusal P"), ("refusal recall", "refusal R"),
    ("over-refusal", "over-refusal"), ("hallucination", "halluc."), ("citation precision", "cite P"),
    ("citation recall", "cite R"), ("questions", "questions"), ("samples", "answers"),
)  # fmt: skip


@dataclass(frozen=True)
class Source:
    doc: str
    text: str


@dataclass(frozen=True)
class ExternalAnswer:
    """One line of an answers file."""

    line: int
    id: str
    answer: str
    sources: tuple[Source, ...]
    sample: int
    setting: str


def load_answers(path: str | Path, items: dict[str, QAItem]) -> list[ExternalAnswer]:
    """Read and check an answers file against the QA items; UserError naming `path:line` on the first problem."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"answers file not found: {path}; pass a JSONL file with --answers PATH")
    answers: list[ExternalAnswer] = []
    first: dict[tuple[str, str, int], int] = {}
    with path.open(encoding="utf-8") as lines:
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                answer = _parse_answer(line, lineno, items)
            except ValueError as err:
                raise UserError(f"{path}:{lineno}: {err}") from None
            key = (answer.setting, answer.id, answer.sample)
            if key in first:
                raise UserError(
                    f"{path}:{lineno}: a second answer for id {answer.id!r}, sample {answer.sample}, setting "
                    f"{answer.setting!r} (first on line {first[key]}); give each sample its own \"sample\" number"
                )
            first[key] = lineno
            answers.append(answer)
    if not answers:
        raise UserError(f"{path}: no answers; write one JSON object per line")
    return answers


def _parse_answer(line: str, lineno: int, items: dict[str, QAItem]) -> ExternalAnswer:
    raw = json_object_line(line, REQUIRED, tuple(OPTIONAL), "answer")
    qid, answer = raw["id"], raw["answer"]
    if not isinstance(qid, str) or qid not in items:
        raise ValueError(f"unknown id {qid!r}: not a question of the QA set; use the ids of --qa")
    if not isinstance(answer, str):
        raise ValueError(f"answer must be a string, got {answer!r}")
    sources = raw["sources"]
    if not isinstance(sources, list):
        raise ValueError(f'sources must be a list of {{"doc", "text"}} objects, got {sources!r}')
    parsed = []
    for n, source in enumerate(sources, start=1):
        if not isinstance(source, dict) or not isinstance(source.get("doc"), str) or not isinstance(source.get("text"), str):
            raise ValueError(f'source {n} must be an object with string fields "doc" and "text", got {source!r}')
        parsed.append(Source(source["doc"], source["text"]))
    sample, setting = raw.get("sample", OPTIONAL["sample"]), raw.get("setting", OPTIONAL["setting"])
    if not isinstance(sample, int) or isinstance(sample, bool) or sample < 0:
        raise ValueError(f"sample must be an integer >= 0, got {sample!r}")
    if not isinstance(setting, str) or not setting.strip():
        raise ValueError(f"setting must be a non-empty string, got {setting!r}")
    return ExternalAnswer(lineno, qid, answer, tuple(parsed), sample, setting)


def score_answers(items: dict[str, QAItem], answers: list[ExternalAnswer]) -> list[dict[str, Any]]:
    """One row per answer: where it came from, the sources it cites, and every `SampleScore` field."""
    rows = []
    for a in answers:
        cited = parse_citations(a.answer, len(a.sources))
        score = score_sample(a.answer, items[a.id], [a.sources[n - 1].text for n in cited])
        rows.append({"line": a.line, "setting": a.setting, "question_id": a.id, "sample": a.sample, "cited": cited,
                     **asdict(score)})  # fmt: skip
    return rows


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per setting (in order of first appearance): the report's answer columns and the verdict shares."""
    by_setting: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_setting[row["setting"]].append(row)
    return [
        {"setting": setting, **answer_metrics(mine), "verdicts": reason_shares(mine)}
        for setting, mine in by_setting.items()
    ]


def format_summary(summary: list[dict[str, Any]], n_items: int) -> str:
    """The summary as a fixed-width table, then each setting's verdict shares."""
    header = ["setting"] + [short for _, short in COLUMNS]
    body = [[row["setting"]] + [_fmt(row[key]) for key, _ in COLUMNS] for row in summary]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
             for r in [header, *body]]  # fmt: skip
    lines.append(f"grounded: grounded accuracy with its 95% interval over questions; {n_items} questions in the QA set")
    for row in summary:
        shares = ", ".join(f"{name} {_fmt(share)}" for name, share in row["verdicts"].items() if share)
        lines.append(f"verdicts ({row['setting']}): {shares}")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval.score", description=__doc__.split("\n")[0])
    parser.add_argument("--qa", default=str(DEFAULT_QA), help="gold QA set (JSONL; default: the shipped eval/data/qa.jsonl)")
    parser.add_argument("--answers", required=True, help="answers to score (JSONL, one answer per line)")
    parser.add_argument("--corpus", default="corpus", help="corpus folder the QA evidence is checked against (default corpus)")
    parser.add_argument("--json", action="store_true", help="print one JSON object: every answer's scores and the summary")
    parser.add_argument("--out", help="also write DIR/scores.jsonl and DIR/summary.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        items = {item.id: item for item in load_qa(args.qa, args.corpus)}
        rows = score_answers(items, load_answers(args.answers, items))
        summary = summarize(rows)
        if args.out:
            out = Path(args.out)
            if out.exists() and not out.is_dir():
                raise UserError(f"--out {out} is a file, not a folder; pass a folder to write {SCORES} and {SUMMARY} into")
            out.mkdir(parents=True, exist_ok=True)
            (out / SCORES).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            (out / SUMMARY).write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        print(json.dumps({"summary": summary, "scores": rows}, ensure_ascii=False))
    else:
        print(format_summary(summary, len(items)))
    if args.out:
        print(f"wrote {Path(args.out) / SCORES} and {Path(args.out) / SUMMARY}", file=sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
