"""Generator backends behind one protocol (protocol.py): transformers (in process, with the shared-prefill
batched decoder), llama.cpp (in process), an OpenAI-compatible server, and extractive (no model).

`factory.load_generator` picks and loads one. Code outside this package never compares a backend's name: it
asks the functions below (tests/test_layering.py checks).
"""

BACKENDS = ("auto", "transformers", "llamacpp", "openai", "extractive")  # the choices of --backend / `backend:`
_SERVER_BACKENDS = frozenset({"openai"})  # answered by a server at a base URL, over HTTP
_SAMPLING_FREE_BACKENDS = frozenset({"extractive"})  # no sampling parameter changes their answer


def needs_base_url(backend: str) -> bool:
    """Whether `backend` asks a server, so a base URL must be given."""
    return backend in _SERVER_BACKENDS


def supports_concurrency(backend: str) -> bool:
    """Whether a sweep can keep several requests of `backend` in flight (in-process backends share one prefill
    across the samples of a prompt instead)."""
    return backend in _SERVER_BACKENDS


def ignores_sampling(backend: str) -> bool:
    """Whether no sampling parameter changes what `backend` answers (the label of a finished run's records)."""
    return backend in _SAMPLING_FREE_BACKENDS
