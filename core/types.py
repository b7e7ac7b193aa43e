"""Frozen records that flow from ingestion to retrieval."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    """A retrievable piece of one document, with where it came from."""

    chunk_id: str  # f"{doc_id}#{i:04d}"
    doc_id: str  # file name relative to the corpus folder, e.g. "000_5c59a6dee0bffb0d.txt"
    title: str  # the document's title
    heading: str  # heading path, e.g. "2024：多模态… > DeepSeek-V2" ("" before the first heading)
    text: str  # cleaned text given to the model (a table chunk starts with the table's header row)
    start: int  # character span [start, end) in the ORIGINAL file text (after decoding)
    end: int
    zh_ratio: float  # share of CJK characters among letters/CJK characters: the chunk's language mix
    kind: str = "text"  # "text" (prose), "table" (rows under their header) or "row" (one table row under its header)
