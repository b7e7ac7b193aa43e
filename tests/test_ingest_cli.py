"""`python -m ingest` through `main([...])`: one clear line and status 2 for bad input, never a touched index."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from ingest.cli import main


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def existing_index(tmp_path, corpus_index_dir):
    index = tmp_path / "index"
    shutil.copytree(corpus_index_dir, index)
    (index / "README.md").write_text("kept across builds", encoding="utf-8")
    return index


@pytest.fixture
def small_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text(
        "# GPT-3\n\nGPT-3 于 2020-05 发布，参数规模 175B，训练 tokens 约 300B。\n\n"
        "## In-context learning\n\nGPT-3 showed that few-shot prompts work without fine-tuning.\n",
        encoding="utf-8",
    )
    (corpus / "slides.pdf").write_bytes(b"%PDF-1.7\n")
    (corpus / "dump.txt").write_bytes(b"\x00\x01\x02binary")
    return corpus


@pytest.mark.parametrize(
    "args, message",
    [
        (["--chunk-size", "-5"], "chunk size must be at least 50 characters, got -5"),
        (["--chunk-size", "200", "--chunk-overlap", "200"], "chunk overlap (200) must be smaller than the chunk size (200)"),
        (["--chunk-overlap", "-1"], "chunk overlap must be >= 0, got -1"),
        (["--chunk-size", "many"], "argument --chunk-size: invalid int value: 'many'"),
        (["--corpus", "{tmp}/nowhere"], "corpus folder {tmp}/nowhere/ does not exist"),
        (["--corpus", "{tmp}/empty"], "no reports to index in {tmp}/empty/ (it is empty)"),
        (["--rebuild", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_leave_the_index_alone(tmp_path, existing_index, corpus_dir, capsys, args, message):
    (tmp_path / "empty").mkdir()
    before = _tree(existing_index)
    argv = [a.format(tmp=tmp_path) for a in args]
    if "--corpus" not in argv:
        argv += ["--corpus", str(corpus_dir)]
    code = main(argv + ["--index", str(existing_index), "--embedder", "minilm"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message.format(tmp=tmp_path) in err
    assert _tree(existing_index) == before


def test_a_corpus_of_only_unusable_files_names_each_file(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.docx").write_bytes(b"PK\x03\x04")
    (corpus / "b.md").write_bytes(b"")
    assert main(["--corpus", str(corpus), "--index", str(tmp_path / "index"), "--embedder", "minilm"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"warning: skipped {corpus / 'a.docx'}: unsupported file type: .docx files are not read (accepted: .md, .txt, .html, .htm); convert it to .md or .txt"
    assert err[1] == f"warning: skipped {corpus / 'b.md'}: empty file"
    assert err[2] == f"error: no reports to index in {corpus}/ (2 file(s) skipped); add .md, .txt or .html files"
    assert not (tmp_path / "index").exists()


def test_build_then_no_op_then_rebuild(tmp_path, small_corpus, capsys):
    index = tmp_path / "index"
    args = ["--corpus", str(small_corpus), "--index", str(index), "--embedder", "minilm", "--quiet"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "Index built" in out and "1 added" in out and "2 skipped" in out
    assert f"warning: skipped {small_corpus / 'slides.pdf'}: unsupported file type: .pdf" in err
    assert f"warning: skipped {small_corpus / 'dump.txt'}: binary file (contains NUL bytes)" in err
    assert main(args) == 0
    assert "Index up to date" in capsys.readouterr().out
    assert main(args + ["--rebuild", "--chunk-size", "60", "--chunk-overlap", "10"]) == 0
    out = capsys.readouterr().out
    assert "Index built" in out and "60 chars, 10 overlap" in out


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--corpus", "--index", "--embedder", "--chunk-size", "--chunk-overlap", "--rebuild"):
        assert flag in out
