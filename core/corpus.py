"""Reading the corpus folder: which files are reports, and how their bytes become text.

Accepted: `.md`, `.txt`, `.html`, `.htm` up to a size limit, in any text encoding that is marked (BOM),
declared (HTML meta charset, XML declaration, a `coding:` cookie), Western single-byte (cp1252/Latin-1) or
detectable (charset-normalizer); UTF-8 needs no marking. Every other file, every file that cannot be decoded,
and every entry that is not a regular file inside the corpus (a symlink leading out of it, a dangling link, a
link loop, a FIFO) is skipped with a reason naming it; hidden files and the corpus's own README.md (it
describes the corpus) are not reports and are left out.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

SUPPORTED_SUFFIXES = (".md", ".txt", ".html", ".htm")
HTML_SUFFIXES = (".html", ".htm")
CORPUS_README = "readme.md"  # compared case-insensitively, only at the corpus root
DEFAULT_MAX_FILE_MB = 5.0  # the five reports are 6-66 KB; a 20 MB file takes minutes and GBs to embed

_BOMS = (  # longest first: the UTF-32 LE BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_DECLARED = (
    re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I),
    re.compile(rb"""<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.I),
    re.compile(rb"""^[^\n]{0,80}coding[:=]\s*([A-Za-z0-9_.:-]+)""", re.M),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# A detected legacy encoding is trusted only when the decoded text reads as some language (coherence) and is
# not full of implausible character sequences (chaos); otherwise guessing would index mojibake.
_MIN_COHERENCE = 0.05
_MAX_CHAOS = 0.1


class UndecodableFile(ValueError):
    """A file's bytes are not text in any encoding we can determine."""


@dataclass(frozen=True)
class SourceDocument:
    """One report as read from disk: the decoded original text and what identifies its content."""

    doc_id: str  # path relative to the corpus folder, with "/" separators
    path: Path
    text: str  # the original file text after decoding (BOM removed, line endings untouched)
    encoding: str
    sha256: str  # of the file's bytes: the content hash incremental builds compare
    kind: str  # "markdown" (.md/.txt) or "html"


@dataclass(frozen=True)
class SkippedFile:
    """A file in the corpus folder that is not indexed, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.path}: {self.reason}"


class SkippedFileWarning(UserWarning):
    """Issued for every skipped corpus file when no `on_skip` callback is given."""


def decode_bytes(data: bytes, *, html: bool = False) -> tuple[str, str]:
    """The text in `data` and the encoding used; raise UndecodableFile with the reason."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding), encoding + " (BOM)"
            except UnicodeDecodeError as exc:
                raise UndecodableFile(f"starts with a {encoding} byte-order mark but is not valid {encoding} ({exc.reason} at byte {exc.start})") from None
    if b"\x00" in data[:8192]:
        raise UndecodableFile("binary file (contains NUL bytes)")
    try:
        return _checked_text(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    declared = _declared_encoding(data, html=html)
    if declared:
        try:
            return _checked_text(data.decode(declared)), f"{declared} (declared)"
        except (UnicodeDecodeError, LookupError):
            pass  # a wrong declaration is common on the web; fall through to detection
    western = _western_single_byte(data)
    if western:
        return _checked_text(data.decode(western)), western
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and best.chaos <= _MAX_CHAOS and best.coherence >= _MIN_COHERENCE:
        return _checked_text(str(best)), f"{best.encoding} (detected)"
    raise UndecodableFile(
        f"cannot determine its text encoding (not UTF-8: invalid byte 0x{data[utf8_error.start]:02x} at offset "
        f"{utf8_error.start}; no declared charset; detection inconclusive); re-save it as UTF-8"
    )


def _western_single_byte(data: bytes) -> str | None:
    """cp1252 (or Latin-1 where cp1252 leaves a byte undefined) for mostly-ASCII text whose other bytes stand
    alone and decode to Western letters or punctuation ("naïve", "café – 2020"). In CJK multi-byte encodings
    such bytes come in runs, so they never pass; detection alone misreads short Latin-1 text as cp1250."""
    high = [i for i, b in enumerate(data) if b >= 0x80]
    if not high or any(data[i + 1] >= 0x80 for i in high if i + 1 < len(data)) or len(high) * 8 > len(data):
        return None
    try:
        encoding, text = "cp1252", data.decode("cp1252")
    except UnicodeDecodeError:
        encoding, text = "latin-1", data.decode("latin-1")
    odd = [ch for ch in text if ord(ch) >= 0x80 and not (ch.isalpha() or ch in "‘’‚“”„–—…•€£¥§°±×÷©®™«»¡¿·´¨ªº")]
    return encoding if not odd else None


def _declared_encoding(data: bytes, *, html: bool) -> str | None:
    head = data[:4096]
    patterns = _DECLARED if html else _DECLARED[2:]
    if not html:
        head = b"\n".join(head.split(b"\n")[:2])  # a coding cookie only counts on the first two lines
    for pattern in patterns:
        match = pattern.search(head)
        if match:
            name = match.group(1).decode("ascii", "ignore")
            try:
                return codecs.lookup(name).name
            except LookupError:
                return None
    return None


def _checked_text(text: str) -> str:
    if len(_CONTROL.findall(text[:65536])) > max(8, len(text[:65536]) // 100):
        raise UndecodableFile("binary file (control characters throughout)")
    return text


def read_document(path: Path, corpus: Path, max_bytes: int | None = None) -> SourceDocument:
    """Read and decode one supported file; raise UndecodableFile (or OSError) when it cannot be used."""
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise UndecodableFile(
            f"larger than the {max_bytes / 2**20:g} MB limit ({size / 2**20:.1f} MB); split it, or raise the limit "
            "with --max-file-mb (max_file_mb in [index])"
        )
    data = path.read_bytes()
    if not data.strip():
        raise UndecodableFile("empty file")
    kind = "html" if path.suffix.lower() in HTML_SUFFIXES else "markdown"
    text, encoding = decode_bytes(data, html=kind == "html")
    if not text.strip():
        raise UndecodableFile("empty file (only whitespace after decoding)")
    return SourceDocument(
        doc_id=path.relative_to(corpus).as_posix(),
        path=path,
        text=text,
        encoding=encoding,
        sha256=hashlib.sha256(data).hexdigest(),
        kind=kind,
    )


def _entry_problem(path: Path, root: Path) -> str | None:
    """Why the directory entry `path` is not read as a file of the corpus at (resolved) `root`, or None."""
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except FileNotFoundError:
            return f"dangling symlink (its target {os.readlink(path)} does not exist)"
        except (RuntimeError, OSError):
            return "symlink loop"
        if not target.is_relative_to(root):
            return f"symlink to {target}, outside the corpus folder; not followed (copy the file in to index it)"
        if target.is_dir():
            return "symlink to a folder; not followed (its files are indexed where they are)"
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return ""  # a folder: walked, not reported
    kind = "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special file"
    return f"not a regular file ({kind})"


def corpus_entries(corpus: Path) -> list[tuple[Path, str | None]]:
    """Every candidate entry under `corpus`, sorted, with why it cannot be read (None = a regular file to
    read). Hidden files/folders and the root README.md are left out; symlinked folders are not walked."""
    root = corpus.resolve()
    entries = []
    for folder, dirs, names in os.walk(corpus, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in dirs + names:
            path = Path(folder) / name
            rel = path.relative_to(corpus)
            if name.startswith(".") or (len(rel.parts) == 1 and name.lower() == CORPUS_README):
                continue
            problem = _entry_problem(path, root)
            if problem != "":
                entries.append((path, problem))
    return sorted(entries)


def corpus_files(corpus: Path) -> list[Path]:
    """The regular files `iter_documents` considers (see `corpus_entries`)."""
    return [path for path, problem in corpus_entries(corpus) if problem is None]


def iter_documents(
    corpus: str | Path, on_skip: Callable[[SkippedFile], None] | None = None, max_file_mb: float | None = DEFAULT_MAX_FILE_MB
) -> Iterator[SourceDocument]:
    """The reports in `corpus`, decoded, in path order; each entry that cannot be used goes to `on_skip`.

    Without `on_skip`, a SkippedFileWarning names the file and the reason. `max_file_mb=None`: no size limit.
    """
    corpus = Path(corpus)
    report = on_skip or (lambda skipped: warnings.warn(str(skipped), SkippedFileWarning, stacklevel=3))
    max_bytes = None if max_file_mb is None else int(max_file_mb * 2**20)
    for path, problem in corpus_entries(corpus):
        if problem is not None:
            report(SkippedFile(path, problem))
            continue
        suffix = path.suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            kind = f"{suffix} files are" if suffix else "files without an extension are"
            report(SkippedFile(path, f"unsupported file type: {kind} not read (accepted: {', '.join(SUPPORTED_SUFFIXES)}); convert it to .md or .txt"))
            continue
        try:
            yield read_document(path, corpus, max_bytes)
        except UndecodableFile as exc:
            report(SkippedFile(path, str(exc)))
        except OSError as exc:
            report(SkippedFile(path, f"cannot be read ({exc.strerror or exc})"))
