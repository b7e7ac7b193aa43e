"""Property-based fuzzing of `python -m rag.ask` (in process): any flags, values and config files give exit 0,
or exit 2 with exactly one line on stderr — never a traceback, never non-JSON under `--json`."""

from __future__ import annotations

import io
import json
import math
import sys

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.ask import main

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

NUMERIC_FLAGS = ["--k", "--candidates", "--temperature", "--top-p", "--top-k", "--min-p", "--repetition-penalty",
                 "--max-new-tokens", "--seed"]  # fmt: skip
TEXT_FLAGS = ["--prompt", "--backend", "--model", "--dtype", "--device", "--reranker"]
SWITCHES = ["--hybrid", "--no-hybrid", "--rerank", "--no-rerank", "--thinking", "--no-thinking", "--json", "--no-stream",
            "--fallback", "--no-fallback", "--retrieval-only"]  # fmt: skip
# --base-url is left out on purpose: a fuzzed URL could send traffic off this machine.

numbers = st.one_of(
    st.integers(-10, 100).map(str),
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "1", "0.5", "1e400", "-0", "nan", "inf", "-inf", "1e26", "2.5", "", " ", "abc", "０.５"]),
)
texts = st.one_of(
    st.sampled_from(["default", "strict", "closed_book", "transformers", "extractive", "openai", "auto", "cpu", "cuda",
                     "float32", "bfloat16", "qwen3-0.6b", "minilm", ".", "", "nope"]),  # fmt: skip
    st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cc",)), max_size=12),
)
questions = st.one_of(
    st.sampled_from(["GPT-3 有多少参数？", "What is Chinchilla?", "  ", "千问3 有哪些模型尺寸？", "\udcff\udcfe bad bytes"]),
    st.text(st.characters(blacklist_characters="\x00"), min_size=0, max_size=40),
)
flag_values = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(NUMERIC_FLAGS), numbers),
        st.tuples(st.sampled_from(TEXT_FLAGS), texts),
        st.tuples(st.sampled_from(SWITCHES)),
    ),
    max_size=5,
)

SECTIONS = {
    "index": ["corpus", "index", "embedder", "chunk_chars", "chunk_overlap", "update", "chunk_size"],
    "retrieval": ["k", "candidates", "hybrid", "rrf_k", "bigram_weight", "rerank", "reranker"],
    "model": ["model", "backend", "dtype", "device", "fallback", "api_key_env"],
    "sampling": ["temperature", "top_p", "top_k", "min_p", "repetition_penalty", "max_new_tokens", "seed", "thinking"],
}
values = st.one_of(
    st.integers(-5, 50), st.integers(-(10**25), 10**25), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(max_size=8), st.none(), st.lists(st.integers(0, 3), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)  # fmt: skip
configs = st.dictionaries(
    st.one_of(st.sampled_from([*SECTIONS, "prompt"]), st.text(max_size=6)),
    st.one_of(
        st.dictionaries(st.sampled_from([k for keys in SECTIONS.values() for k in keys]), values, max_size=4),
        values,
    ),
    max_size=4,
)


@pytest.fixture(scope="module")
def index_args(corpus_index_dir, corpus_index, tmp_path_factory) -> list[str]:
    """Flags for the session index. It is opened once for the whole module (opening is tested in
    test_ingest_build.py): the fuzz targets what happens to flags and config values."""
    import ingest.build

    real_open = ingest.build.open_index

    def open_once(settings, progress=True):
        return corpus_index if settings.index == str(corpus_index_dir) else real_open(settings, progress)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ingest.build, "open_index", open_once)
        # A missing corpus folder: were the index opened for real, it would be used as built.
        yield ["--index", str(corpus_index_dir), "--corpus", str(tmp_path_factory.mktemp("no-corpus") / "absent")]


def run(argv: list[str], capsys) -> None:
    capsys.readouterr()
    out = io.StringIO()
    code = main(argv, stdout=out, stdin=io.StringIO(""))
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert code in (0, 2), (code, argv, err)
    if code == 2:
        lines = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(lines) == 1 and lines[0] == err.splitlines()[-1], (argv, err)
    elif "--json" in argv:
        for line in out.getvalue().splitlines():
            json.loads(line, parse_constant=lambda name: pytest.fail(f"non-JSON constant {name} in --json output"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(question=questions, flags=flag_values)
def test_any_flags_exit_0_or_2_with_one_line(question, flags, index_args, capsys):
    argv = [question, *[part for flag in flags for part in flag], *index_args]
    if "--backend" not in argv:
        argv += ["--backend", "extractive"]  # the offline default falls back the same way, only slower
    run(argv, capsys)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(config=configs, as_toml=st.booleans(), raw=st.one_of(st.none(), st.binary(max_size=30)))
def test_any_config_file_exits_0_or_2_with_one_line(config, as_toml, raw, index_args, capsys, tmp_path):
    path = tmp_path / ("ask.toml" if as_toml else "ask.yaml")
    if raw is not None:
        path.write_bytes(raw)
    elif as_toml:
        path.write_text(_toml(config), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    run(["GPT-3 有多少参数？", "--config", str(path), "--retrieval-only", "--json", *index_args], capsys)


def _toml(data: dict) -> str:
    """A TOML rendering good enough for fuzzing (values the format cannot hold become strings)."""

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v) if abs(v) < 2**63 else json.dumps(str(v))
        if isinstance(v, float):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(str(v), ensure_ascii=False)

    top = [f"{json.dumps(k, ensure_ascii=False)} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    tables = [
        f"[{json.dumps(k, ensure_ascii=False)}]\n" + "\n".join(f"{json.dumps(kk, ensure_ascii=False)} = {value(vv)}" for kk, vv in v.items())
        for k, v in data.items() if isinstance(v, dict)
    ]  # fmt: skip
    return "\n".join(top + tables) + "\n"


def test_invalid_utf8_on_stdin_is_one_line(index_args, capsys):
    stdin = io.TextIOWrapper(io.BytesIO(b"GPT-3 \xff\xfe?\n"), encoding="utf-8")
    code = main(["-", "--backend", "extractive", *index_args], stdout=io.StringIO(), stdin=stdin)
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == "error: standard input is not valid UTF-8 text (byte 0xff at offset 6); pass UTF-8 text"


def test_invalid_utf8_in_argv_is_one_line(index_args, capsys):
    undecodable = b"GPT-3 \xff?".decode(sys.getfilesystemencoding(), "surrogateescape")
    assert main([undecodable, "--backend", "extractive", *index_args], stdout=io.StringIO()) == 2
    assert capsys.readouterr().err.strip() == "error: the question is not valid UTF-8 text (at character 7); pass it as UTF-8"
