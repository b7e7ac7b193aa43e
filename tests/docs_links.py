"""The links of the docs, for `tests/test_docs_links.py`: GitHub's heading anchors and every relative link.

`github_slug` is the anchor GitHub gives a heading (its rendered text lowercased, every character that is not
a letter, mark, decimal or letter number, connector punctuation, hyphen or space dropped, spaces → `-`; a
repeated slug gets `-1`, `-2`, … in order); `heading_anchors` lists a Markdown file's anchors; `broken_links`
says which relative links and images of a file point at no file or at no anchor.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.token import Token

_KEPT_CATEGORIES = {"Nd", "Nl", "Pc"}  # plus every letter (L*) and mark (M*)


def github_slug(text: str) -> str:
    """The anchor of a heading whose rendered text is `text`, before duplicates are numbered."""
    kept = (c for c in text.lower() if c in "- " or unicodedata.category(c)[0] in "LM" or unicodedata.category(c) in _KEPT_CATEGORIES)
    return "".join(kept).replace(" ", "-")


def _rendered_text(inline: Token) -> str:
    """A heading's text as GitHub renders it: markup (backticks, emphasis, link targets, HTML tags) left out."""
    return "".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline"))


def heading_anchors(source: str) -> list[str]:
    """Every heading anchor of a Markdown text, in order, duplicates numbered as GitHub numbers them."""
    tokens = MarkdownIt("commonmark").parse(source)
    seen: dict[str, int] = {}
    anchors = []
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            slug = github_slug(_rendered_text(tokens[i + 1]))
            count = seen.get(slug, 0)
            anchors.append(slug if count == 0 else f"{slug}-{count}")
            seen[slug] = count + 1
    return anchors


@dataclass(frozen=True)
class Link:
    line: int  # 1-based line of the paragraph, heading or table that holds it
    target: str  # as written: `docs/eval.md#statistics`, `#quickstart`, `report-example.png`


def relative_links(source: str) -> list[Link]:
    """Every link and image of a Markdown text that stays in the repository (no scheme, not protocol-relative);
    code spans and fenced blocks hold none."""
    found = []
    for block in MarkdownIt("commonmark").enable("table").parse(source):
        for tok in block.children or []:
            target = tok.attrs.get("href") if tok.type == "link_open" else tok.attrs.get("src") if tok.type == "image" else None
            if target is not None and not re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:|//", str(target)):
                found.append(Link(block.map[0] + 1 if block.map else 0, str(target)))
    return found


def broken_links(doc: Path, repo: Path) -> list[str]:
    """`file:line: target — why` for each relative link of `doc` whose file or anchor does not exist."""
    root, problems = repo.resolve(), []
    for link in relative_links(doc.read_text(encoding="utf-8")):
        path_part, _, anchor = link.target.partition("#")
        target = (doc.parent / unquote(path_part)).resolve() if path_part else doc
        where = f"{doc.relative_to(repo)}:{link.line}: {link.target}"
        if not target.is_relative_to(root):
            problems.append(f"{where} — outside the repository")
        elif not target.exists():
            problems.append(f"{where} — no such file {target.relative_to(root)}")
        elif anchor:
            if target.suffix != ".md":
                problems.append(f"{where} — an anchor into {target.name}, which is not Markdown")
            elif unquote(anchor) not in heading_anchors(target.read_text(encoding="utf-8")):
                problems.append(f"{where} — {target.name} has no heading with the anchor #{anchor}")
    return problems
