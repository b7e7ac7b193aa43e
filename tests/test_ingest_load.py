"""Reading the corpus folder: encodings, and a clear reason for every file that is not indexed."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from ingest.load import SkippedFileWarning, iter_documents

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
