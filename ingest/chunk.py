"""Cutting a cleaned document into retrievable chunks that know where they come from.

The document is read as Markdown blocks: headings set the heading path, `===` lines (several answers in
one file) reset it, pipe tables are kept apart from prose. Prose is split by langchain's
RecursiveCharacterTextSplitter with separators that suit Chinese and English (paragraph, line, sentence
ends 。！？；, then ，、, then spaces). Tables are split between rows only, and every table chunk starts
with the table's header row, so a row such as `| GPT-3 | 2020-05 | OpenAI | 英 | 175B | 300B |` stays
interpretable on its own. Every data row is also a chunk of its own (kind "row"): the header row, the
separator row and the row, with the row's span, indexed as "header: cell；…" (`embedding_text`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.lexical import CJK
from core.types import Chunk
from ingest.clean import CleanText, heading_text

TABLE_CHUNKS = True  # whole-table chunks alongside the row records (README, Chunking: measured on the dev split)
SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "!", "?", ";", ". ", "，", "、", ",", " ", ""]
_HEADING = re.compile(r"(#{1,6})\s+(.*)")
_TABLE_SEPARATOR = re.compile(r"\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*")
_FENCE = re.compile(r"\s*```")
_CJK_RUN = re.compile(f"[{CJK}]")
_LATIN = re.compile(r"[A-Za-z]")
_CELL_MARKUP = re.compile(r"\[([^\]]*)\]\([^)]*\)")  # [text](url) → text


@dataclass
class _Block:
    kind: str  # "text" or "table"
    heading: str
    lines: list[tuple[int, int]] = field(default_factory=list)  # [start, end) of each line in the clean text


def zh_ratio(text: str) -> float:
    """Share of CJK characters among CJK characters and Latin letters (0.0 when there are none)."""
    cjk, latin = len(_CJK_RUN.findall(text)), len(_LATIN.findall(text))
    return round(cjk / (cjk + latin), 3) if cjk + latin else 0.0


def embedding_text(chunk: Chunk) -> str:
    """What is embedded and BM25-indexed for a chunk: its heading path, then its text (a row record's text as
    "header: cell；…", `row_record`)."""
    body = row_record(chunk.text) if chunk.kind == "row" else chunk.text
    return f"{chunk.heading}\n{body}" if chunk.heading else body


def _cells(line: str) -> list[str]:
    cells = line.strip().strip("|").split("|")
    return [_CELL_MARKUP.sub(r"\1", c).replace("**", "").replace("`", "").strip() for c in cells]


def row_record(text: str) -> str:
    """A row chunk's text (header row, separator row, the row) as its cells joined with their column headers:
    `模型: PaLM；发布时间: 2022-04；…`; empty cells and "-" are left out, a header-less cell stands alone."""
    lines = text.split("\n")
    header, row = _cells(lines[0]), _cells(lines[-1])
    if len(header) != len(row):
        return " | ".join(c for c in row if c)
    return "；".join(f"{h}: {c}" if h else c for h, c in zip(header, row) if c and c != "-")


def _blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    stack: list[tuple[int, str]] = []
    in_fence = False
    pos = 0
    for line in text.split("\n"):
        start, end = pos, pos + len(line)
        pos = end + 1
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.fullmatch(line.strip())
        if heading:
            level = len(heading.group(1))
            stack = [(lvl, h) for lvl, h in stack if lvl < level] + [(level, heading_text(line))]
            continue
        if not in_fence and line.strip() == "===":
            stack = []
            blocks.append(_Block("text", ""))  # a hard boundary: nothing joins across answers
            continue
        kind = "table" if not in_fence and line.lstrip().startswith("|") else "text"
        path = " > ".join(h for _, h in stack if h)
        if not blocks or blocks[-1].kind != kind or blocks[-1].heading != path:
            blocks.append(_Block(kind, path))
        blocks[-1].lines.append((start, end))
    return [b for b in blocks if any(text[s:e].strip() for s, e in b.lines)]


def _split_prose(text: str, start: int, end: int, splitter) -> list[tuple[int, int]]:
    """Spans (in the clean text) of the splitter's pieces of text[start:end]."""
    body = text[start:end]
    spans, cursor = [], 0
    for piece in splitter.split_text(body):
        at = body.find(piece, cursor)
        if at < 0:  # the splitter only ever returns stripped substrings, in order
            at = body.find(piece)
        spans.append((start + at, start + at + len(piece)))
        cursor = at + 1
    return spans


def _header_rows(text: str, block: _Block) -> int:
    """How many lines a table's header takes: the header row and, when there is one, its separator row."""
    lines = block.lines
    return 2 if len(lines) > 1 and _TABLE_SEPARATOR.fullmatch(text[slice(*lines[1])].strip()) else 1


def _split_rows(text: str, block: _Block) -> list[tuple[str, int, int]]:
    """(row record text, start, end) per data row: the table's header row, a separator row and the row, with
    the row's own span (a table without a separator row, from HTML, gets one)."""
    lines = block.lines
    n_header = _header_rows(text, block)
    header = text[slice(*lines[0])]
    separator = text[slice(*lines[1])] if n_header == 2 else "|" + " --- |" * len(_cells(header))
    out = []
    for start, end in lines[n_header:]:
        row = text[start:end]
        if any(_cells(row)):
            out.append((f"{header}\n{separator}\n{row.strip()}", start + len(row) - len(row.lstrip()), start + len(row.rstrip())))
    return out


def _split_table(text: str, block: _Block, chunk_chars: int) -> list[tuple[str, int, int]]:
    """(chunk text, start, end) per group of whole rows, each group under the table's header."""
    lines = block.lines
    n_header = _header_rows(text, block)
    header = "\n".join(text[s:e] for s, e in lines[:n_header])
    rows = lines[n_header:]
    if not rows:
        return [(header, lines[0][0], lines[-1][1])]
    budget = chunk_chars - len(header) - 1
    groups: list[list[tuple[int, int]]] = [[]]
    used = 0
    for row in rows:
        size = row[1] - row[0] + 1
        if groups[-1] and used + size > budget:
            groups.append([])
            used = 0
        groups[-1].append(row)
        used += size
    out = []
    for i, group in enumerate(groups):
        body = "\n".join(text[s:e] for s, e in group)
        start = lines[0][0] if i == 0 else group[0][0]
        out.append((header + "\n" + body, start, group[-1][1]))
    return out


def make_splitter(chunk_chars: int, chunk_overlap: int):
    """The prose splitter: langchain's recursive splitter with Chinese-aware separators."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        separators=SEPARATORS,
        keep_separator="end",
        chunk_size=chunk_chars,
        chunk_overlap=chunk_overlap,
        strip_whitespace=True,
    )


def chunk_document(doc_id: str, clean: CleanText, chunk_chars: int = 500, chunk_overlap: int = 80, splitter=None) -> list[Chunk]:
    """The chunks of one cleaned document, in text order, with heading paths and original-file spans."""
    splitter = splitter or make_splitter(chunk_chars, chunk_overlap)
    text = clean.text
    pieces: list[tuple[str, str, str, int, int]] = []  # kind, heading, chunk text, clean start, clean end
    for block in _blocks(text):
        if block.kind == "table":
            tables = [("table", block.heading, body, s, e) for body, s, e in _split_table(text, block, chunk_chars)]
            rows = [("row", block.heading, body, s, e) for body, s, e in _split_rows(text, block)]
            pieces += sorted((tables if TABLE_CHUNKS else []) + rows, key=lambda p: (p[3], p[0] == "row"))  # text order
        else:
            start, end = block.lines[0][0], block.lines[-1][1]
            pieces += [("text", block.heading, text[s:e], s, e) for s, e in _split_prose(text, start, end, splitter)]
    chunks = []
    for kind, heading, body, s, e in pieces:
        if not re.search(rf"[\w{CJK}]", body):
            continue
        start, end = clean.span(s, e)
        chunks.append(
            Chunk(
                chunk_id=f"{doc_id}#{len(chunks):04d}",
                doc_id=doc_id,
                title=clean.title,
                heading=heading,
                text=body,
                start=start,
                end=end,
                zh_ratio=zh_ratio(body),
                kind=kind,
            )
        )
    return chunks
