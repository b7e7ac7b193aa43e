"""Append-only JSONL store of generations, keyed by everything that determines one.

Each line is one finished generation, written and flushed as soon as it exists, so an interrupted sweep (Ctrl-C,
a crash, a killed job) loses at most the batch in flight. Opening the store reads every complete line; a torn
last line from a hard kill is reported and cut off, and a damaged line anywhere else (not JSON, not a record
with a `key`) is reported with its line number and skipped, never fatal. A sweep skips keys already present:
re-running it, or adding one grid value, only generates what is missing (a skipped line is generated again).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class RecordKey:
    """What determines a generation. `input_hash` covers the exact chat messages (question, sources, template)."""

    model: str
    revision: str
    backend: str
    index_hash: str
    prompt_hash: str
    input_hash: str
    question_id: str
    setting_id: str
    sample: int
    seed: int
    decoding: str  # `decoding_fingerprint()`: the decoding code and the library versions that ran it

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:24]


# The code that turns a prompt into tokens: every module under rag/generators/ (the backends, the shared-prefill
# batched decoder, the thinking split). A change to any of them makes every cached sample stale.
DECODING_CODE = ("rag/generators",)
DECODING_LIBRARIES = ("torch", "transformers", "llama-cpp-python")


def decoding_code_files(repo: Path = REPO) -> list[Path]:
    """The source files of DECODING_CODE that exist, in a stable order."""
    files: list[Path] = []
    for entry in DECODING_CODE:
        path = repo / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.is_file() else []
    return files


def library_versions() -> dict[str, str | None]:
    """Installed version of each DECODING_LIBRARIES distribution (None when it is not installed)."""
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in DECODING_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def decoding_fingerprint(repo: Path = REPO) -> str:
    """Hash of the decoding code's sources (paths and bytes) and the library versions: part of every cache key."""
    digest = hashlib.sha256()
    for path in decoding_code_files(repo):
        digest.update(path.relative_to(repo).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(json.dumps(library_versions(), sort_keys=True).encode())
    return digest.hexdigest()[:16]


def sample_seed(base_seed: int, question_id: str, sample_index: int) -> int:
    """The seed of sample `sample_index` of a question, the same under every setting (common random numbers:
    paired comparisons share the sampling noise). A stable hash, not Python's salted `hash`, in [0, 2**31)."""
    text = f"{base_seed}|{question_id}|{sample_index}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % (2**31)


def messages_hash(messages: list[dict[str, str]], thinking: bool) -> str:
    """Hash of the exact chat input a generation saw."""
    data = json.dumps({"messages": messages, "thinking": thinking}, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]


class RecordStore:
    """An append-only JSONL file of records (dicts with a `key` field); the latest record of a key wins."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._records: dict[str, dict[str, Any]] = {}
        self.skipped_lines = 0  # damaged lines reported and left out
        if self.path.exists():
            for record in read_jsonl(self.path, on_damaged=self._skip):
                if not isinstance(record, dict) or not isinstance(record.get("key"), str):
                    self._skip(f"{self.path}: a line is not a record with a key ({str(record)[:60]}); skipping it")
                    continue
                self._records[record["key"]] = record
            _drop_torn_tail(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = None

    def _skip(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)
        self.skipped_lines += 1

    def __contains__(self, key: str) -> bool:
        return key in self._records

    def __len__(self) -> int:
        return len(self._records)

    def get(self, key: str) -> dict[str, Any] | None:
        return self._records.get(key)

    def values(self) -> list[dict[str, Any]]:
        return list(self._records.values())

    def append(self, record: dict[str, Any]) -> None:
        """Write one record and flush it to the OS before returning."""
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        self._records[record["key"]] = record

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "RecordStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drop_torn_tail(path: Path) -> None:
    """Cut an unfinished last line (already reported by `read_jsonl`) so appends start on a fresh line."""
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    cut = data.rfind(b"\n") + 1
    try:
        json.loads(data[cut:])
    except ValueError:
        with path.open("r+b") as f:
            f.truncate(cut)
        return
    with path.open("ab") as f:  # a complete record that only lacks its newline
        f.write(b"\n")


def read_jsonl(path: str | Path, on_damaged: Callable[[str], None] | None = None) -> Iterator[Any]:
    """Every complete JSON line of a file. A torn final line (hard kill mid-write) is skipped with a warning; a
    damaged line elsewhere is passed to `on_damaged` (message with its line number) and skipped, or raises
    ValueError when there is no `on_damaged`."""
    path = Path(path)
    lines = path.read_bytes().split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            if lineno == len(lines):
                print(f"warning: {path}:{lineno} is an incomplete record (interrupted write); ignoring it", file=sys.stderr)
                continue
            message = f"{path}:{lineno} is not a valid JSON record (damaged); skipping it"
            if on_damaged is None:
                raise ValueError(message.replace("; skipping it", "")) from None
            on_damaged(message)


def git_commit(repo: Path = REPO) -> str:
    """The checked-out commit, with `+dirty` when tracked files have uncommitted changes; "unknown" outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")
