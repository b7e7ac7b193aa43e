"""Finding model weights without waiting on a network time-out.

Every model (embedder, reranker, chat model) is looked up the same way: a local path is used as is; a Hub id
is used from the local cache when it is there; otherwise the Hub is tried only when it answers a TCP connect
within a few seconds and `HF_HUB_OFFLINE` is not set. Failing that, `ModelUnavailable` says what was tried,
why it failed and the command that fixes it.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from core.errors import UserError

HUB_CONNECT_TIMEOUT_S = 3.0


class ModelUnavailable(UserError):
    """A model could not be found locally and the Hub cannot be reached."""


def hub_offline() -> bool:
    """True when the user asked for offline mode (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout_s: float = HUB_CONNECT_TIMEOUT_S) -> bool:
    """Whether the Hub endpoint accepts a TCP connection within `timeout_s` (asked once per process)."""
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def cached_snapshot(repo_id: str) -> str | None:
    """The local folder of a cached Hub snapshot, or None when it is not in the cache."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return snapshot_download(repo_id, local_files_only=True)
    except (LocalEntryNotFoundError, ValueError, OSError):
        return None


def locate_model(name: str, what: str) -> str:
    """A path or Hub id that `from_pretrained` can load now, or raise ModelUnavailable.

    `what` names the role in messages ("embedding model", "chat model", "reranker").
    """
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    if name.startswith((".", "/", "~")) or name.endswith(".gguf"):
        raise ModelUnavailable(f"{what} path {name} does not exist; check the path or pass a Hub id")
    local = cached_snapshot(name)
    if local:
        return local
    if hub_offline():
        why = "HF_HUB_OFFLINE is set and it is not in the local cache"
    elif not hub_reachable():
        why = f"it is not in the local cache and the Hub did not answer within {HUB_CONNECT_TIMEOUT_S:.0f} s"
    else:
        return name
    raise ModelUnavailable(
        f"cannot load {what} {name}: {why}; on a machine with network run "
        f"`huggingface-cli download {name}` (or `hf download {name}`), or pass a local folder"
    )
