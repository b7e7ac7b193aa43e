"""Reading the corpus folder: encodings, and a clear reason for every file that is not indexed."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from core.corpus import SkippedFileWarning, iter_documents

TEXT = "大语言模型的发展史：GPT-3 于 2020-05 发布，参数规模 175B。\nThe history of large language models.\n"


def _scan(folder: Path):
    skipped = []
    docs = {d.doc_id: d for d in iter_documents(folder, on_skip=skipped.append)}
    return docs, {s.path.name: s.reason for s in skipped}


def test_real_corpus_reads_every_report_as_utf8(corpus_dir):
    docs, skipped = _scan(corpus_dir)
    assert sorted(docs) == sorted(p.name for p in corpus_dir.glob("*.txt"))
    assert skipped == {}  # README.md describes the corpus and is not a report
    assert all(d.encoding == "utf-8" and len(d.sha256) == 64 for d in docs.values())
    assert "MT-NLG" in docs["002_6ac13b971160b9c7.txt"].text


@pytest.mark.parametrize(
    "name, data, encoding",
    [
        ("bom.md", codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8 (BOM)"),
        ("utf16.txt", codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), "utf-16-le (BOM)"),
        ("gbk.txt", (TEXT * 4).encode("gbk"), "gb18030 (detected)"),
        ("big5.txt", "大語言模型的發展史和基本原理，GPT-3 有 175B 參數。\n".encode("big5") * 4, "big5 (detected)"),
        ("declared.html", b'<html><head><meta charset="gbk"><title>t</title></head><body>' + "模型".encode("gbk") + b"</body></html>", "gbk (declared)"),
    ],
)
def test_encodings_marked_declared_or_detected(tmp_path, name, data, encoding):
    (tmp_path / name).write_bytes(data)
    docs, skipped = _scan(tmp_path)
    assert skipped == {}
    doc = docs[name]
    assert doc.encoding == encoding
    assert "\ufeff" not in doc.text
    assert "模型" in doc.text


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary file"),
        ("garbled.txt", bytes((i * 37) % 128 + 128 for i in range(300)), "cannot determine its text encoding"),
        ("broken-utf8.md", "大语言模型".encode()[:-1] * 20, "re-save it as UTF-8"),
        ("empty.md", b"", "empty file"),
        ("blank.txt", b"  \n\n \t\n", "empty file"),
        ("report.pdf", b"%PDF-1.7\n", "unsupported file type: .pdf files are not read"),
        ("report.docx", b"PK\x03\x04", "unsupported file type: .docx files are not read"),
    ],
)
def test_unusable_files_are_skipped_with_the_reason(tmp_path, name, data, reason):
    (tmp_path / "good.md").write_text(TEXT, encoding="utf-8")
    (tmp_path / name).write_bytes(data)
    docs, skipped = _scan(tmp_path)
    assert list(docs) == ["good.md"]
    assert reason in skipped[name]


def test_skips_warn_by_default_and_hidden_files_and_readme_are_left_out(tmp_path):
    (tmp_path / "README.md").write_text("# what the corpus holds", encoding="utf-8")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "README.md").write_text(TEXT, encoding="utf-8")  # only the root README is special
    (tmp_path / "notes.rtf").write_text("{\\rtf1}", encoding="utf-8")
    with pytest.warns(SkippedFileWarning, match=r"notes\.rtf: unsupported file type: \.rtf"):
        docs = [d.doc_id for d in iter_documents(tmp_path)]
    assert docs == ["sub/README.md"]


@pytest.mark.parametrize(
    "data, text, encoding",
    [
        ("A naïve café in Zürich, 2020.\n".encode("latin-1"), "A naïve café in Zürich, 2020.\n", "cp1252"),
        ("GPT-3 “few-shot” learners – 2020…\n".encode("cp1252"), "GPT-3 “few-shot” learners – 2020…\n", "cp1252"),
    ],
)
def test_western_single_byte_text_is_not_guessed_as_another_code_page(tmp_path, data, text, encoding):
    (tmp_path / "west.txt").write_bytes(data * 3)
    docs, skipped = _scan(tmp_path)
    assert skipped == {} and docs["west.txt"].text == text * 3 and docs["west.txt"].encoding == encoding


def test_entries_that_are_not_regular_files_inside_the_corpus_are_skipped_with_the_reason(tmp_path):
    import os

    corpus, outside = tmp_path / "corpus", tmp_path / "outside"
    corpus.mkdir()
    outside.mkdir()
    (outside / "passwd.md").write_text("root:x:0:0\n", encoding="utf-8")
    (outside / "notes").mkdir()
    (outside / "notes" / "n.md").write_text("# 外部\n", encoding="utf-8")
    (corpus / "real.md").write_text(TEXT, encoding="utf-8")
    (corpus / "passwd.md").symlink_to(outside / "passwd.md")
    (corpus / "linked-folder").symlink_to(outside / "notes")
    (corpus / "inside-link.md").symlink_to(corpus / "real.md")
    (corpus / "dangling.md").symlink_to(tmp_path / "gone.md")
    (corpus / "loop.md").symlink_to(corpus / "loop.md")
    os.mkfifo(corpus / "pipe.md")
    docs, skipped = _scan(corpus)
    assert sorted(docs) == ["inside-link.md", "real.md"]
    assert skipped == {
        "passwd.md": f"symlink to {outside.resolve() / 'passwd.md'}, outside the corpus folder; not followed (copy the file in to index it)",
        "linked-folder": f"symlink to {(outside / 'notes').resolve()}, outside the corpus folder; not followed (copy the file in to index it)",
        "dangling.md": f"dangling symlink (its target {tmp_path / 'gone.md'} does not exist)",
        "loop.md": "symlink loop",
        "pipe.md": "not a regular file (FIFO)",
    }


def test_a_file_over_the_size_limit_is_skipped_with_the_limit(tmp_path):
    (tmp_path / "big.md").write_text("大模型。" * 200_000, encoding="utf-8")  # 2.4 MB
    (tmp_path / "small.md").write_text(TEXT, encoding="utf-8")
    skipped = []
    docs = list(iter_documents(tmp_path, on_skip=skipped.append, max_file_mb=1))
    assert [d.doc_id for d in docs] == ["small.md"]
    assert skipped[0].reason == "larger than the 1 MB limit (2.3 MB); split it, or raise the limit with --max-file-mb (max_file_mb in [index])"
    assert len(list(iter_documents(tmp_path, on_skip=skipped.append, max_file_mb=None))) == 2
