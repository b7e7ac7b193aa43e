"""`python -m rag.ask` run in-process: output shapes, flags, and every bad-input path (exit status 2)."""

from __future__ import annotations

import io
import json
import shutil

import pytest

from core.index import generation_dir
from rag.ask import build_parser, main

JSON_KEYS = {
    "question", "answer", "refused", "thinking", "truncated", "citations", "sources",
    "params", "model", "backend", "index", "timings", "notices",
}


def run(argv: list[str], stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    code = main(argv, stdout=out, stdin=io.StringIO(stdin))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def base(corpus_dir, corpus_index_dir) -> list[str]:
    return ["--index", str(corpus_index_dir), "--corpus", str(corpus_dir), "--embedder", "minilm"]


def test_json_answer_has_the_documented_shape(base, tiny_qwen_dir):
    code, out = run(["GPT-3 有多少参数？", "--json", "--model", str(tiny_qwen_dir), "--max-new-tokens", "8", "--seed", "3", *base])
    assert code == 0
    record = json.loads(out)
    assert set(record) == JSON_KEYS
    assert record["backend"] == "transformers" and record["params"]["sampling"]["seed"] == 3
    assert set(record["timings"]) == {"retrieve_ms", "ttft_ms", "generate_ms", "new_tokens", "tokens_per_s"}
    assert record["timings"]["new_tokens"] <= 8
    assert {"n", "doc", "heading", "chunk_id", "start", "end", "text", "score"} == set(record["sources"][0])
    assert record["index"]["embedder"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_plain_answer_prints_text_sources_and_timings(base):
    code, out = run(["GPT-3 有多少参数？", "--backend", "extractive", *base])
    assert code == 0
    assert "175" in out and "Sources:" in out and "retrieve" in out and "ms" in out


def test_retrieval_only_lists_ranked_chunks_with_scores(base):
    code, out = run(["How many parameters does GPT-3 have?", "--retrieval-only", "--json", "--k", "4", *base])
    assert code == 0
    record = json.loads(out)
    assert 1 <= len(record["sources"]) <= 4
    assert all("score" in s and "dense_rank" in s for s in record["sources"])


def test_no_question_and_no_terminal_reads_the_given_stdin(base):
    """Without a question and with piped input (no terminal), questions come from the stdin passed to main,
    not from the process's own (a flag abbreviation such as `--thi` for `--thinking` leaves no question)."""
    code, out = run(["--thi", "--backend", "extractive", "--json", *base], stdin="GPT-3 有多少参数？\nexit\nWhat is Chinchilla?\n")
    assert code == 0
    assert [json.loads(line)["question"] for line in out.splitlines()] == ["GPT-3 有多少参数？"]


def test_questions_from_stdin_give_one_json_line_each(base):
    code, out = run(["-", "--backend", "extractive", "--json", *base], stdin="GPT-3 有多少参数？\n\nWhat is Chinchilla?\n")
    assert code == 0
    lines = out.strip().splitlines()
    assert [json.loads(line)["question"] for line in lines] == ["GPT-3 有多少参数？", "What is Chinchilla?"]


def test_missing_model_falls_back_with_one_notice(base, tmp_path, capsys):
    code, out = run(["GPT-3 有多少参数？", "--model", str(tmp_path / "nowhere"), "--json", *base])
    record = json.loads(out)
    assert code == 0 and record["backend"] == "extractive"
    assert len(record["notices"]) == 1 and "nowhere" in record["notices"][0]
    notices = [line for line in capsys.readouterr().err.splitlines() if line.startswith("notice:")]
    assert len(notices) == 1 and "nowhere" in notices[0]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["   "], "question is empty"),
        (["q", "--temperature", "-1"], "temperature"),
        (["q", "--top-p", "0"], "top_p"),
        (["q", "--top-p", "1.5"], "top_p"),
        (["q", "--top-k", "-1"], "top_k"),
        (["q", "--max-new-tokens", "0"], "max_new_tokens"),
        (["q", "--k", "0"], "k must be"),
        (["q", "--model", "qwen9-1b"], "unknown model alias"),
        (["q", "--prompt", "nope"], "prompt template"),
        (["q", "--backend", "openai"], "--base-url"),
        (["q", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"], "cannot reach"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(base, capsys, flags, message):
    code, _ = run([*flags, *base])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: ") and message in err[-1]


def test_config_file_values_are_overridden_by_flags(tmp_path, base):
    config = tmp_path / "ask.toml"
    config.write_text('prompt = "default"\n[sampling]\ntemperature = 0.2\ntop_k = 5\n[model]\nbackend = "extractive"\n', encoding="utf-8")
    code, out = run(["GPT-3 有多少参数？", "--config", str(config), "--top-k", "9", "--json", *base])
    assert code == 0
    sampling = json.loads(out)["params"]["sampling"]
    assert (sampling["temperature"], sampling["top_k"]) == (0.2, 9)


def test_unknown_config_key_is_rejected_by_name(tmp_path, base, capsys):
    config = tmp_path / "ask.yaml"
    config.write_text("sampling:\n  temprature: 0.3\n", encoding="utf-8")
    assert run(["q", "--config", str(config), *base])[0] == 2
    assert "temprature" in capsys.readouterr().err


def test_corrupted_index_names_the_fixing_command(corpus_index_dir, corpus_dir, tmp_path, capsys):
    broken = tmp_path / "index"
    shutil.copytree(corpus_index_dir, broken)
    manifest = generation_dir(broken) / "manifest.json"
    manifest.write_text("{not json", encoding="utf-8")
    for corpus in (tmp_path / "no-corpus", corpus_dir):  # with a corpus too: a reader never rebuilds
        code, _ = run(["q", "--index", str(broken), "--corpus", str(corpus), "--backend", "extractive"])
        assert code == 2
        assert "--rebuild" in capsys.readouterr().err
        assert manifest.read_text(encoding="utf-8") == "{not json"


def test_help_documents_every_flag_with_its_default():
    text = build_parser().format_help()
    for flag in ("--k", "--temperature", "--top-p", "--top-k", "--min-p", "--repetition-penalty", "--max-new-tokens",
                 "--seed", "--thinking", "--model", "--backend", "--base-url", "--prompt", "--retrieval-only",
                 "--json", "--no-stream", "--index", "--config"):
        assert flag in text
    assert "default 0.7" in text and "default 0.8" in text and "default 20" in text


def test_json_records_stay_one_line_for_readers_that_split_on_unicode_line_breaks() -> None:
    """NEL and the Unicode line/paragraph separators are line breaks to str.splitlines(): escaped in --json."""
    import json

    from rag.ask import json_line

    record = {"question": "0\x85 a\u2028b\u2029c"}
    line = json_line(record)
    assert len(line.splitlines()) == 1 and json.loads(line) == record
