"""Every relative link and anchor of README.md and docs/*.md resolves, by GitHub's heading-anchor rules; the
README stays a short entry point that links every page of docs/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs_links import broken_links, github_slug, heading_anchors, relative_links

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted((REPO / "docs").rglob("*.md"))
README_MAX_LINES = 250


@pytest.mark.parametrize("doc", [REPO / "README.md", *PAGES], ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(doc: Path):
    problems = broken_links(doc, REPO)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Asking questions: `python -m rag.ask`", "asking-questions-python--m-ragask"),  # backticks and dots dropped
        ("JSON output (`--json`)", "json-output---json"),  # the flag's hyphens stay
        ("A/B tab", "ab-tab"),
        ("Scoring anyone's answers", "scoring-anyones-answers"),
        ("Per question: maj@n and agreement", "per-question-majn-and-agreement"),
        ("transformers vs llama.cpp, on 2 cores", "transformers-vs-llamacpp-on-2-cores"),
        ("模型规模：GPT-3 与 GPT-4", "模型规模gpt-3-与-gpt-4"),  # CJK letters kept, full-width colon dropped
        ("Qwen2.5 — 通义千问（2024）", "qwen25--通义千问2024"),  # em dash and full-width parentheses dropped
        ("snake_case_names", "snake_case_names"),  # connector punctuation kept
        ("Ünïcode Ärger", "ünïcode-ärger"),
    ],
)
def test_anchors_follow_github_rules(heading: str, anchor: str):
    assert heading_anchors(f"# {heading}\n") == [anchor]
    assert github_slug(heading.replace("`", "")) == anchor


def test_repeated_headings_are_numbered_and_code_blocks_hold_no_headings():
    source = "# Retrieval\n\n## Metrics\n\n```toml\n# Retrieval\n```\n\n### Retrieval\n\n### Retrieval\n"
    assert heading_anchors(source) == ["retrieval", "metrics", "retrieval-1", "retrieval-2"]


def test_a_broken_link_or_anchor_is_reported_with_its_line(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/eval.md").write_text("# Eval\n\n## Statistics\n", encoding="utf-8")
    (tmp_path / "docs/fig.png").write_bytes(b"\x89PNG")
    (tmp_path / "README.md").write_text(
        "# Top\n\n[ok](docs/eval.md#statistics) [ok](#top) ![ok](docs/fig.png) [web](https://example.com/x#y)\n\n"
        "[gone](docs/usage.md) and [moved](#statistics) and [out](../../etc/passwd)\n\n"
        "| a | b |\n|---|---|\n| [stale](docs/eval.md#metrics) | [png](docs/fig.png#x) |\n\n"
        "`[code](#not-a-link)`\n",
        encoding="utf-8",
    )
    assert broken_links(tmp_path / "README.md", tmp_path) == [
        "README.md:5: docs/usage.md — no such file docs/usage.md",
        "README.md:5: #statistics — README.md has no heading with the anchor #statistics",
        "README.md:5: ../../etc/passwd — outside the repository",
        "README.md:9: docs/eval.md#metrics — eval.md has no heading with the anchor #metrics",
        "README.md:9: docs/fig.png#x — an anchor into fig.png, which is not Markdown",
    ]


def test_the_readme_is_short_and_links_every_docs_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES
    linked = {(REPO / link.target.partition("#")[0]).resolve() for link in relative_links(readme)}
    assert PAGES and not [str(p.relative_to(REPO)) for p in PAGES if p.resolve() not in linked]
