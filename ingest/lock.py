"""One builder at a time per index folder: an exclusive `flock` on `<index>/.lock`.

The lock is held by an open file, so the kernel releases it when the process ends, however it ends (a
killed build never leaves a stale lock). Readers take no lock: they read published generations only.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from core.errors import UserError

LOCK_FILE = ".lock"


@contextmanager
def build_lock(index_dir: Path, *, wait: bool = False) -> Iterator[None]:
    """Hold the index folder's build lock (creating the folder); UserError when another build holds it and
    `wait` is False, or when the folder cannot be written."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        handle = open(index_dir / LOCK_FILE, "a+", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write to the index folder {index_dir}/ ({exc.strerror or exc}); pass --index with a writable folder") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise UserError(
                f"another build of {index_dir}/ is running (pid {holder}); wait for it to finish, or pass --wait to queue behind it"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
