"""Session fixtures shared by every test: offline mode, the real corpus, a tiny random-weight Qwen3."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"

# Tests never touch the network: the Hub is "offline", so model loading fails fast instead of timing out.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The real report corpus shipped in the repository (read-only: copy it before changing files)."""
    return CORPUS


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved 2-layer random Qwen3 + corpus-trained tokenizer with a Qwen3 ChatML template."""
    from bench.tiny_qwen import build_tiny_qwen

    return build_tiny_qwen(tmp_path_factory.mktemp("tiny-qwen3"), CORPUS)


@pytest.fixture(scope="session")
def corpus_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index built once per session over the real corpus with the bundled embedder (`minilm`).

    Read-only: tests that change it copy the folder first (shutil.copytree).
    """
    from ingest.build import build_index

    index_dir = tmp_path_factory.mktemp("corpus-index") / "index"
    build_index(CORPUS, index_dir, embedder="minilm", progress=False)
    return index_dir


@pytest.fixture(scope="session")
def corpus_index(corpus_index_dir: Path):
    """The loaded `core.index.Index` of `corpus_index_dir` (chunks, FAISS, BM25, originals, embedder)."""
    from core.index import load_index

    return load_index(corpus_index_dir)


@pytest.fixture(scope="session")
def offline_smoke(tmp_path_factory: pytest.TempPathFactory, corpus_index_dir: Path) -> Path:
    """The folder of `python -m eval.run --config eval/configs/smoke.yaml` as a new user gets it offline: the
    Qwen weights are not here, so the extractive fallback answers (read-only: copy it before changing it)."""
    from eval.run import main as run_main

    runs = tmp_path_factory.mktemp("runs")
    code = run_main(["--config", str(REPO / "eval/configs/smoke.yaml"), "--index", str(corpus_index_dir), "--out", str(runs), "--quiet"])
    assert code == 0
    return next(p for p in runs.iterdir() if (p / "report.html").exists())


@pytest.fixture(scope="session")
def tiny_qwen_gguf(tiny_qwen_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Qwen3 written as a GGUF file (its tokenizer and chat template in the metadata)."""
    from tests.fixtures.tiny_gguf import build_tiny_qwen_gguf

    return build_tiny_qwen_gguf(tmp_path_factory.mktemp("tiny-gguf"), tiny_qwen_dir)


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module: tiny models (and short query embeddings) run faster on one thread than on
    two spinning against each other on a busy 2-core box (a tiny-GGUF sweep: 31 s of CPU on two threads, 4.5 s
    on one). Modules opt in with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
