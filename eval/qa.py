"""The gold QA set: one JSON object per line, validated against the corpus before any run uses it.

Format of a line (see docs/eval.md, "Gold QA set"):
`{"id", "lang": "zh"|"en", "question", "answers": [[alias, …], …], "answerable": bool, "type",
"evidence": [{"doc": file name in the corpus, "quote": exact substring of that file}]}`, and optionally
`"split": "dev"|"heldout"` (which part of a split set the item belongs to),
`"near_miss": {"doc", "quote"}` (an unanswerable item: where the reports name the entity it asks about) and
`"alias_notes": {alias: why}` (why an alias found in many chunks is still specific enough).
An answer is correct when it states every alias group (`eval.metrics`); unanswerable items have no answers
and no evidence, the right output is the refusal. `doc` is the index's
doc id: the path relative to the corpus folder with "/" separators (for a flat corpus, the file name);
quotes are matched against the file as ingest decodes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from core.corpus import UndecodableFile, read_document
from core.errors import UserError
from eval.normalize import normalize

DEFAULT_QA = Path(__file__).resolve().parent / "data" / "qa.jsonl"
LANGS = ("zh", "en")
QA_TYPES = (
    "table",  # lookup in a Markdown table
    "fact",  # a fact stated in prose
    "number",  # a number or a date
    "definition",  # what a term means
    "multi_hop",  # needs two passages or two files
    "cross_lingual",  # English question, answer stated only in Chinese
    "conflict",  # the files disagree; a good answer gives both values
    "unanswerable",  # the corpus does not say; the right output is the refusal
)
FIELDS = ("id", "lang", "question", "answers", "answerable", "type", "evidence")
OPTIONAL_FIELDS = ("split", "near_miss", "alias_notes")
SPLITS = ("dev", "heldout")  # tune on dev, report on heldout (`split:` in a sweep config, `--split`)


@dataclass(frozen=True)
class Evidence:
    """Where a gold answer is stated: a corpus file name and an exact substring of that file."""

    doc: str
    quote: str


@dataclass(frozen=True)
class QAItem:
    """One gold question. `answers` holds alias groups: every group must be matched by one of its aliases."""

    id: str
    lang: str
    question: str
    answers: tuple[tuple[str, ...], ...]
    answerable: bool
    type: str
    evidence: tuple[Evidence, ...]
    split: str | None = None  # "dev" or "heldout"; None in a set that is not split
    near_miss: Evidence | None = None  # unanswerable: where the reports name the entity the question asks about
    alias_notes: dict[str, str] = field(default_factory=dict)  # alias → why it is specific despite being common


class _LineError(ValueError):
    """A problem with one line; `load_qa` turns it into a UserError naming the file and line."""


def json_object_line(line: str, required: Sequence[str], optional: Sequence[str], what: str) -> dict[str, Any]:
    """One JSONL line as an object with every `required` field and no field outside `required` + `optional`;
    ValueError saying what is wrong (the caller adds the file and line). `what` names a line's thing ("item")."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as err:
        raise _LineError(f"not valid JSON ({err.msg} at column {err.colno}); write one JSON object per line") from None
    if not isinstance(raw, dict):
        raise _LineError(f"expected a JSON object, got {type(raw).__name__}")
    missing = [name for name in required if name not in raw]
    if missing:
        raise _LineError(f"missing field(s) {', '.join(missing)}; every {what} needs {', '.join(required)}")
    allowed = (*required, *optional)
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise _LineError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    return raw


def load_qa(path: str | Path, corpus_dir: str | Path) -> list[QAItem]:
    """Read and validate a QA set against the corpus; raise `UserError` naming `path:line` on the first problem."""
    path = Path(path)
    corpus = Path(corpus_dir)
    if not path.is_file():
        raise UserError(f"QA set not found: {path}; pass an existing JSONL file with --qa PATH")
    if not corpus.is_dir():
        raise UserError(f"corpus folder not found: {corpus}; the QA evidence is checked against its files")
    texts: dict[str, str] = {}
    items: list[QAItem] = []
    first_line_of: dict[str, int] = {}
    with path.open(encoding="utf-8") as lines:
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = _parse_line(line, corpus, texts)
                if item.id in first_line_of:
                    raise _LineError(
                        f"duplicate id {item.id!r} (first used on line {first_line_of[item.id]}); ids must be unique"
                    )
            except _LineError as err:
                raise UserError(f"{path}:{lineno}: {err}") from None
            first_line_of[item.id] = lineno
            items.append(item)
    if not items:
        raise UserError(f"{path}: the QA set has no questions; add one JSON object per line")
    return items


def _parse_line(line: str, corpus: Path, texts: dict[str, str]) -> QAItem:
    raw = json_object_line(line, FIELDS, OPTIONAL_FIELDS, "item")
    item_id = _text(raw, "id")
    lang = _text(raw, "lang")
    if lang not in LANGS:
        raise _LineError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    qa_type = _text(raw, "type")
    if qa_type not in QA_TYPES:
        raise _LineError(f"type must be one of {', '.join(QA_TYPES)}, got {qa_type!r}")
    answerable = raw["answerable"]
    if not isinstance(answerable, bool):
        raise _LineError(f"answerable must be true or false, got {answerable!r}")
    answers = _alias_groups(raw["answers"])
    evidence = _evidence(raw["evidence"], corpus, texts)
    if answerable and not answers:
        raise _LineError("an answerable item needs at least one alias group in answers")
    if answerable and not evidence:
        raise _LineError("an answerable item needs at least one evidence quote")
    if not answerable and (answers or evidence):
        raise _LineError('an unanswerable item must have "answers": [] and "evidence": []')
    if (qa_type == "unanswerable") == answerable:
        raise _LineError(f'type "unanswerable" goes with "answerable": false and only with it (got type {qa_type!r})')
    split = raw.get("split")
    if split is not None and split not in SPLITS:
        raise _LineError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    near_miss = None
    if "near_miss" in raw:
        if answerable:
            raise _LineError('"near_miss" is for unanswerable items only (where the reports name the entity asked about)')
        (near_miss,) = _evidence([raw["near_miss"]], corpus, texts, name="near_miss")
    alias_notes = _alias_notes(raw.get("alias_notes", {}), answers)
    return QAItem(
        id=item_id,
        lang=lang,
        question=_text(raw, "question"),
        answers=answers,
        answerable=answerable,
        type=qa_type,
        evidence=evidence,
        split=split,
        near_miss=near_miss,
        alias_notes=alias_notes,
    )


def _alias_notes(value: Any, answers: tuple[tuple[str, ...], ...]) -> dict[str, str]:
    aliases = {alias for group in answers for alias in group}
    if not isinstance(value, dict):
        raise _LineError(f"alias_notes must be an object {{alias: reason}}, got {value!r}")
    for alias, reason in value.items():
        if alias not in aliases:
            raise _LineError(f"alias_notes names {alias!r}, which is not an alias of this item; remove the note")
        if not isinstance(reason, str) or not reason.strip():
            raise _LineError(f"alias_notes for {alias!r} needs a reason (a non-empty string), got {reason!r}")
    return dict(value)


def _text(raw: dict[str, Any], name: str) -> str:
    value = raw[name]
    if not isinstance(value, str) or not value.strip():
        raise _LineError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _alias_groups(value: Any) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list):
        raise _LineError(f"answers must be a list of alias groups (lists of strings), got {value!r}")
    groups = []
    for n, group in enumerate(value, start=1):
        if not isinstance(group, list) or not group:
            raise _LineError(f"answers group {n} must be a non-empty list of aliases, got {group!r}")
        for alias in group:
            if not isinstance(alias, str) or not normalize(alias):
                raise _LineError(
                    f"answers group {n} has alias {alias!r}, which is empty after normalization "
                    "(whitespace and punctuation are removed); use letters or digits"
                )
        groups.append(tuple(group))
    return tuple(groups)


def _evidence(value: Any, corpus: Path, texts: dict[str, str], name: str = "evidence") -> tuple[Evidence, ...]:
    if not isinstance(value, list):
        raise _LineError(f'{name} must be a list of {{"doc", "quote"}} objects, got {value!r}')
    found = []
    for n, entry in enumerate(value, start=1):
        label = name if name != "evidence" else f"evidence {n}"
        if not isinstance(entry, dict) or set(entry) != {"doc", "quote"}:
            raise _LineError(f'{label} must be an object with exactly "doc" and "quote", got {entry!r}')
        doc, quote = entry["doc"], entry["quote"]
        if not isinstance(doc, str) or not isinstance(quote, str) or not quote:
            raise _LineError(f"{label} needs a file name and a non-empty quote, got {entry!r}")
        text = _document(doc, corpus, texts)
        if quote not in text:
            raise _LineError(
                f"{name} quote not found in {doc}: {_preview(quote)}; fix the quote or the doc name"
            )
        found.append(Evidence(doc=doc, quote=quote))
    return tuple(found)


def _document(doc: str, corpus: Path, texts: dict[str, str]) -> str:
    if doc not in texts:
        target = corpus / doc
        inside = not Path(doc).is_absolute() and ".." not in Path(doc).parts and "\\" not in doc
        if not inside or not target.is_file():
            raise _LineError(
                f"evidence doc {doc!r} is not a file in {corpus}; use its path relative to that folder "
                "(for a flat corpus, the file name)"
            )
        try:
            texts[doc] = read_document(target, corpus).text
        except (UndecodableFile, OSError) as err:
            raise _LineError(f"evidence doc {doc} cannot be read: {err}") from None
    return texts[doc]


def _preview(quote: str, limit: int = 60) -> str:
    shown = quote if len(quote) <= limit else quote[:limit] + "…"
    return json.dumps(shown, ensure_ascii=False)


def stratified_sample(items: Sequence[QAItem], limit: int | None, seed: int = 0) -> list[QAItem]:
    """`limit` items drawn at random (seeded) within strata of type × language, in file order; all when `limit`
    is None or not smaller than the set.

    Every stratum gets one item first (a seeded choice of strata when `limit` is smaller than their number);
    the rest is shared in proportion to the strata's remaining sizes (largest remainders first).
    """
    import numpy as np

    if limit is None or limit >= len(items):
        return list(items)
    strata: dict[tuple[str, str], list[int]] = {}
    for i, item in enumerate(items):
        strata.setdefault((item.type, item.lang), []).append(i)
    rng = np.random.default_rng(seed)
    keys = sorted(strata)
    if limit < len(keys):
        keys = sorted(keys[i] for i in rng.choice(len(keys), size=limit, replace=False))
        counts = {k: 1 for k in keys}
    else:
        counts = {k: 1 for k in keys}
        spare = {k: len(strata[k]) - 1 for k in keys}
        left = limit - len(keys)
        total = sum(spare.values())
        shares = {k: left * spare[k] / total for k in keys}
        for k in keys:
            counts[k] += int(shares[k])
        by_remainder = sorted(keys, key=lambda k: (-(shares[k] - int(shares[k])), k))
        for k in by_remainder[: limit - sum(counts.values())]:
            counts[k] += 1
    chosen = [int(i) for k in keys for i in rng.choice(strata[k], size=counts[k], replace=False)]
    return [items[i] for i in sorted(chosen)]
