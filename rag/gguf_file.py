"""Reading what a `.gguf` file says about itself, and finding the file a `--model` value means.

The header reader stops at the keys it needs (architecture, context length), so it costs microseconds even
for files whose vocabulary arrays hold 150,000 entries. `find_gguf` turns a file, a folder holding one, or a
Hub repository with a file pattern (`Qwen/Qwen3-0.6B-GGUF:Q8_0`, the form llama.cpp's `-hf` takes) into a
local path, looking in the Hugging Face cache before asking the Hub, like every other model load.
"""

from __future__ import annotations

import fnmatch
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.hub import HUB_CONNECT_TIMEOUT_S, ModelUnavailable, cached_snapshot, hub_offline, hub_reachable

GGUF_MAGIC = b"GGUF"
# GGUF value types -> fixed size in bytes (8 = string, 9 = array are variable).
_FIXED_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_SCALAR_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class NotGGUF(UserError):
    """The file is not a GGUF model llama.cpp can load (wrong format, truncated, corrupt, unknown architecture)."""


@dataclass(frozen=True)
class GGUFHeader:
    architecture: str
    context_length: int | None  # `{architecture}.context_length`, the window the model was trained for


def _read_exact(f, n: int, path: Path) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise NotGGUF(f"{path} is not a readable GGUF model: the file ends inside its header (truncated download?)")
    return data


def _read_string(f, path: Path) -> str:
    (length,) = struct.unpack("<Q", _read_exact(f, 8, path))
    return _read_exact(f, length, path).decode("utf-8", errors="replace")


def _skip_value(f, kind: int, path: Path) -> None:
    if kind == 8:
        (length,) = struct.unpack("<Q", _read_exact(f, 8, path))
        f.seek(length, 1)
    elif kind == 9:
        item, count = struct.unpack("<IQ", _read_exact(f, 12, path))
        if item in _FIXED_SIZES:
            f.seek(_FIXED_SIZES[item] * count, 1)
        else:
            for _ in range(count):
                _skip_value(f, item, path)
    elif kind in _FIXED_SIZES:
        f.seek(_FIXED_SIZES[kind], 1)
    else:
        raise NotGGUF(f"{path} is not a readable GGUF model: unknown value type {kind} in its header")


def read_header(path: str | Path) -> GGUFHeader:
    """The architecture and trained context length of a GGUF file; NotGGUF when it is not one."""
    path = Path(path)
    with path.open("rb") as f:
        magic = f.read(4)
        if magic != GGUF_MAGIC:
            raise NotGGUF(f"{path} is not a GGUF model (it starts with {magic!r}, not b'GGUF'); pass a .gguf file")
        version, _tensors, n_kv = struct.unpack("<IQQ", _read_exact(f, 20, path))
        if version < 2:
            raise NotGGUF(f"{path} is GGUF version {version}; llama.cpp reads version 2 and later: convert it again")
        arch: str | None = None
        values: dict[str, object] = {}
        for _ in range(n_kv):
            key = _read_string(f, path)
            (kind,) = struct.unpack("<I", _read_exact(f, 4, path))
            if key == "general.architecture" and kind == 8:
                arch = _read_string(f, path)
            elif kind in _SCALAR_FORMATS and key.endswith(".context_length"):
                fmt = _SCALAR_FORMATS[kind]
                (values[key],) = struct.unpack(fmt, _read_exact(f, struct.calcsize(fmt), path))
            else:
                _skip_value(f, kind, path)
            if arch and f"{arch}.context_length" in values:
                break
    if not arch:
        raise NotGGUF(f"{path} is not a readable GGUF model: its header names no general.architecture")
    ctx = values.get(f"{arch}.context_length")
    return GGUFHeader(architecture=arch, context_length=int(ctx) if ctx else None)


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file, read in 8 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(8 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_repo_pattern(name: str) -> tuple[str, str | None]:
    """`owner/repo:Q8_0` -> ("owner/repo", "Q8_0"); anything else -> (name, None)."""
    if ":" in name and "/" in name.split(":", 1)[0] and not Path(name).expanduser().exists():
        repo, pattern = name.split(":", 1)
        return repo, pattern or None
    return name, None


def file_glob(pattern: str | None) -> str:
    """A file-name glob for a quantisation tag (`Q8_0` -> `*Q8_0*.gguf`) or an explicit glob."""
    if not pattern:
        return "*.gguf"
    if any(c in pattern for c in "*?["):
        return pattern
    return f"*{pattern}*.gguf"


def looks_like_gguf(name: str) -> bool:
    """True for a `.gguf` path, a folder holding `.gguf` files but no transformers `config.json`, or `repo:pattern`."""
    path = Path(name).expanduser()
    if path.suffix.lower() == ".gguf":
        return True
    if path.is_dir():
        return not (path / "config.json").is_file() and any(path.glob("*.gguf"))
    return split_repo_pattern(name)[1] is not None


def _pick(files: list[Path], where: str, glob: str) -> Path:
    matching = sorted(f for f in files if fnmatch.fnmatch(f.name.lower(), glob.lower()))
    if len(matching) == 1:
        return matching[0]
    names = ", ".join(f.name for f in sorted(files)) or "none"
    if not matching:
        raise ModelUnavailable(f"no .gguf file in {where} matches {glob!r}; files there: {names}")
    raise UserError(
        f"{len(matching)} .gguf files in {where} match {glob!r} ({', '.join(f.name for f in matching)}); "
        "name one, e.g. with a quantisation tag such as repo:Q8_0 or the file's path"
    )


@dataclass(frozen=True)
class GGUFSource:
    """Where a GGUF model comes from: a local file, or a Hub repository and file glob to download."""

    path: Path | None
    repo: str | None = None
    glob: str | None = None


def find_gguf(name: str) -> GGUFSource:
    """The local `.gguf` file that `name` means, or the Hub repo + glob to download when the Hub is reachable.

    Raises ModelUnavailable (with the download command) when it is neither on disk nor in the Hugging Face cache
    and the Hub is switched off or does not answer within a few seconds.
    """
    path = Path(name).expanduser()
    if path.is_file():
        return GGUFSource(path)
    if path.is_dir():
        return GGUFSource(_pick(list(path.glob("*.gguf")), f"folder {path}", "*.gguf"))
    if name.startswith((".", "/", "~")) or path.suffix.lower() == ".gguf":
        raise ModelUnavailable(f"chat model path {name} does not exist; check the path or pass a Hub repo such as Qwen/Qwen3-0.6B-GGUF:Q8_0")
    repo, pattern = split_repo_pattern(name)
    glob = file_glob(pattern)
    local = cached_snapshot(repo)
    if local:
        return GGUFSource(_pick(list(Path(local).rglob("*.gguf")), f"the cached {repo}", glob))
    if hub_offline():
        why = "HF_HUB_OFFLINE is set and it is not in the local cache"
    elif not hub_reachable():
        why = f"it is not in the local cache and the Hub did not answer within {HUB_CONNECT_TIMEOUT_S:.0f} s"
    else:
        return GGUFSource(None, repo, glob)
    raise ModelUnavailable(
        f"cannot load chat model {name}: {why}; on a machine with network run "
        f'`hf download {repo} --include "{glob}"`, or pass a local .gguf file'
    )
