"""Choosing and loading a generator: backends, aliases, GGUF files, and the extractive fallback's notice."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.errors import UserError
from core.hub import ModelUnavailable
from rag.config import ModelSettings, SamplingParams
from rag.generators.extractive import ExtractiveGenerator
from rag.generators.factory import Generator, load_generator
from rag.generators.transformers_lm import TransformersGenerator

MESSAGES = [{"role": "system", "content": "只根据资料回答。"}, {"role": "user", "content": "问题：GPT-3 有多少参数？"}]


@pytest.fixture(scope="module")
def tiny_gguf(tiny_qwen_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.fixtures.tiny_gguf import build_tiny_qwen_gguf

    return build_tiny_qwen_gguf(tmp_path_factory.mktemp("gguf"), tiny_qwen_dir)


def test_extractive_backend_needs_no_model() -> None:
    gen, notice = load_generator(ModelSettings(backend="extractive"))
    assert isinstance(gen, ExtractiveGenerator) and isinstance(gen, Generator) and notice is None


def test_a_local_folder_loads_with_transformers(tiny_qwen_dir: Path) -> None:
    gen, notice = load_generator(ModelSettings(model=str(tiny_qwen_dir), dtype="float32"))
    assert isinstance(gen, TransformersGenerator) and isinstance(gen, Generator) and notice is None
    assert (gen.name, gen.backend) == (str(tiny_qwen_dir), "transformers")


def test_a_missing_model_path_falls_back_with_one_notice(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-model")
    gen, notice = load_generator(ModelSettings(model=missing))
    assert isinstance(gen, ExtractiveGenerator)
    assert notice == (
        f"chat model path {missing} does not exist; check the path or pass a Hub id; "
        "answering extractively instead (quoted source sentences with citations, no language model)"
    )
    with pytest.raises(ModelUnavailable, match="does not exist"):
        load_generator(ModelSettings(model=missing, fallback=False))


def test_an_uncached_hub_model_offline_names_the_download_command() -> None:
    gen, notice = load_generator(ModelSettings(model="qwen3-1.7b"))  # conftest sets HF_HUB_OFFLINE=1
    assert isinstance(gen, ExtractiveGenerator)
    assert "cannot load chat model Qwen/Qwen3-1.7B: HF_HUB_OFFLINE is set" in notice
    assert "`huggingface-cli download Qwen/Qwen3-1.7B`" in notice and notice.endswith("no language model)")


def test_a_folder_without_a_model_falls_back_or_fails_clearly(tmp_path: Path) -> None:
    gen, notice = load_generator(ModelSettings(model=str(tmp_path)))
    assert isinstance(gen, ExtractiveGenerator)
    assert notice.startswith(f"chat model folder {tmp_path} holds no config.json") and "\n" not in notice
    with pytest.raises(UserError, match=f"chat model folder {tmp_path} holds no config.json"):
        load_generator(ModelSettings(model=str(tmp_path), fallback=False))


def test_corrupt_weights_fall_back_with_the_reason(tiny_qwen_dir: Path, tmp_path: Path) -> None:
    for f in tiny_qwen_dir.iterdir():
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    gen, notice = load_generator(ModelSettings(model=str(tmp_path)))
    assert isinstance(gen, ExtractiveGenerator)
    assert notice.startswith(f"cannot load chat model {tmp_path}: ") and "\n" not in notice
    with pytest.raises(UserError, match=f"cannot load chat model {tmp_path}: "):
        load_generator(ModelSettings(model=str(tmp_path), fallback=False))


@pytest.mark.parametrize("name", ["qwen9-1b", "Qwen3-8b", "qwen2.5-72b"])
def test_an_unknown_alias_lists_the_valid_ones(name: str) -> None:
    with pytest.raises(UserError, match=f"unknown model alias '{name}'; valid aliases: qwen3-0.6b, qwen3-1.7b, .*qwen2.5-3b"):
        load_generator(ModelSettings(model=name))


def test_a_gguf_file_loads_and_generates(tiny_gguf: Path) -> None:
    gen, notice = load_generator(ModelSettings(model=str(tiny_gguf), backend="transformers", dtype="float32"))
    assert isinstance(gen, TransformersGenerator) and notice is None
    assert gen.context_window == 4096 and gen.supports_thinking
    assert gen.render_prompt(MESSAGES, thinking=False).endswith("<think>\n\n</think>\n\n")
    pieces: list[str] = []
    params = SamplingParams(temperature=0, max_new_tokens=6)
    out = gen.generate(MESSAGES, params, on_token=pieces.append)
    assert "".join(pieces) == out.answer and out.new_tokens <= 6
    assert gen.generate(MESSAGES, params).answer == out.answer


def test_a_missing_gguf_file_falls_back(tmp_path: Path) -> None:
    gen, notice = load_generator(ModelSettings(model=str(tmp_path / "qwen3-0.6b-q4_k_m.gguf")))
    assert isinstance(gen, ExtractiveGenerator) and "qwen3-0.6b-q4_k_m.gguf does not exist" in notice


def test_missing_gguf_packages_name_the_install_command(tiny_gguf: Path, tmp_path: Path, monkeypatch) -> None:
    import importlib.util

    copy = tmp_path / "copy.gguf"  # not in the process-wide model cache yet
    shutil.copy(tiny_gguf, copy)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real_find_spec(name, *a))
    with pytest.raises(UserError, match=r'needs the package\(s\) gguf; install them with `pip install -e "\.\[gguf\]"`'):
        load_generator(ModelSettings(model=str(copy), backend="transformers"))
