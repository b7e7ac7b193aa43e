"""Building the index: the full corpus, incremental updates, atomic generations, damage, embedder changes,
and readers that never write."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import core.embed
import ingest.build
from core.config import IndexSettings
from core.errors import UserError
from core.index import CURRENT, INDEX_FILES, generation_dir, load_index
from ingest.build import build_index, open_index
from ingest.store import generations

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
NOTE = "## 新增章节\n\nGopher 在 152 项任务上评测；这是增量构建测试加入的一段。\n"


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (all generations, CURRENT, the user's files) but the lock, by content."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.fixture
def workspace(tmp_path, corpus_dir, corpus_index_dir):
    """A writable copy of the corpus and of the session index built from it."""
    shutil.copytree(corpus_dir, tmp_path / "corpus")
    shutil.copytree(corpus_index_dir, tmp_path / "index")
    return tmp_path / "corpus", tmp_path / "index"


@pytest.fixture
def tiny(tmp_path, corpus_dir):
    """A one-report corpus (the start of a real file: a few chunks) and where its index goes."""
    corpus = tmp_path / "tiny-corpus"
    corpus.mkdir()
    text = next(corpus_dir.glob("003_*.txt")).read_text(encoding="utf-8")
    (corpus / "notes.md").write_text(text[: text.index("## GPT 系列")], encoding="utf-8")
    return corpus, tmp_path / "tiny-index"


def test_full_build_over_the_corpus(corpus_index, corpus_index_dir, corpus_dir):
    m = corpus_index.manifest
    assert m["embedder"] == {"requested": "minilm", "name": "minilm", "id": MINILM, "dim": 384, "fallback": None}
    assert m.embedder_id == MINILM and m.dim == 384 and len(m.hash) == 16
    assert m["chunking"]["chunk_chars"] == 500 and m["chunking"]["chunk_overlap"] == 80
    files = sorted(corpus_dir.glob("*.txt"))
    assert {k: v["sha256"] for k, v in m["documents"].items()} == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    assert m["built_at"] and m["build_seconds"] > 0
    assert {"faiss-cpu", "sentence-transformers", "rank-bm25", "jieba", "langchain-text-splitters"} <= set(m["libraries"])
    assert set(INDEX_FILES) == {p.name for p in generation_dir(corpus_index_dir).iterdir()}
    assert (corpus_index_dir / CURRENT).read_text().strip() == generation_dir(corpus_index_dir).name
    n = len(corpus_index.chunks)
    assert n > 150 and m["counts"]["chunks"] == n == corpus_index.faiss_index.ntotal == len(corpus_index.tokens)
    assert sum(v["chunks"] for v in m["documents"].values()) == n
    norms = np.linalg.norm(corpus_index.vectors(), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4)
    for path in files:
        assert corpus_index.original(path.name) == path.read_text(encoding="utf-8")
    with pytest.raises(KeyError, match="not in the index"):
        corpus_index.original("missing.md")


def test_dense_and_lexical_search(corpus_index):
    rows = corpus_index.lexical_search("MT-NLG 的参数规模", 5)
    assert rows and [s for _, s in rows] == sorted((s for _, s in rows), reverse=True)
    top = corpus_index.chunks[rows[0][0]]
    assert top.doc_id.startswith("002") and "MT-NLG" in top.text
    assert corpus_index.lexical_search("zzzqqq", 5) == []
    query = corpus_index.embedder.encode_query("Chinchilla: compute-optimal training of large language models")
    dense = corpus_index.dense_search(query, 5)
    assert len(dense) == 5 and dense[0][1] >= dense[-1][1]
    assert any("Chinchilla" in corpus_index.chunks[r].text for r, _ in dense)


def test_nothing_changed_is_a_no_op_that_loads_no_model(workspace, monkeypatch):
    corpus, index = workspace
    before = _snapshot(index)
    monkeypatch.setattr(core.embed, "load_spec", lambda spec: pytest.fail("a no-op build loaded the embedder"))
    report = build_index(corpus, index, "minilm", progress=False)
    assert report.up_to_date and report.chunks > 150 and len(report.unchanged) == 5
    assert "up to date" in report.summary()
    assert _snapshot(index) == before


def test_one_changed_one_removed_one_added_document(workspace):
    corpus, index = workspace
    (index / "README.md").write_text("not build output", encoding="utf-8")
    old = load_index(index)
    (changed,) = corpus.glob("003_*.txt")
    changed.write_text(changed.read_text(encoding="utf-8") + "\n" + NOTE, encoding="utf-8")
    (removed,) = corpus.glob("004_*.txt")
    removed.unlink()
    (corpus / "new.md").write_text("# MT-NLG 备忘\n\nMT-NLG 由 Microsoft 与 NVIDIA 训练，530B 参数。\n", encoding="utf-8")
    report = build_index(corpus, index, "minilm", progress=False)
    assert (report.changed, report.removed, report.added) == ([changed.name], [removed.name], ["new.md"])
    assert len(report.unchanged) == 3
    new = load_index(index)
    assert report.embedded <= new.manifest["documents"][changed.name]["chunks"] + new.manifest["documents"]["new.md"]["chunks"]
    assert report.embedded >= 2 and report.reused == len(new.chunks) - report.embedded
    assert not any(c.doc_id == removed.name for c in new.chunks)
    for doc_id in ("000_5c59a6dee0bffb0d.txt", "001_44e77a6d940667f4.txt"):
        a, b = old.manifest["documents"][doc_id]["rows"], new.manifest["documents"][doc_id]["rows"]
        assert np.array_equal(old.vectors()[a[0] : a[1]], new.vectors()[b[0] : b[1]])  # reused, not re-embedded
    hit = new.chunks[new.lexical_search("增量构建测试", 1)[0][0]]
    assert hit.doc_id == changed.name and hit.heading.endswith("新增章节")
    assert new.manifest.hash != old.manifest.hash
    assert (index / "README.md").read_text(encoding="utf-8") == "not build output"  # the user's files stay
    assert len(generations(index)) == 2  # the new one and the one a reader may still be reading


@pytest.mark.parametrize("failure", [RuntimeError("embedding crashed"), KeyboardInterrupt()])
def test_a_build_that_dies_midway_leaves_the_previous_index_usable(workspace, monkeypatch, failure):
    corpus, index = workspace
    (changed,) = corpus.glob("003_*.txt")
    changed.write_text(changed.read_text(encoding="utf-8").replace("，", "、"), encoding="utf-8")  # every chunk differs
    before = _snapshot(index)
    calls = []
    real_encode = core.embed.Embedder.encode

    def encode_then_fail(self, texts, **kw):
        calls.append(len(texts))
        if len(calls) == 3:
            raise failure
        return real_encode(self, texts, **kw)

    monkeypatch.setattr(ingest.build, "EMBED_BATCH", 1)
    monkeypatch.setattr(core.embed.Embedder, "encode", encode_then_fail)
    with pytest.raises(type(failure)):
        build_index(corpus, index, "minilm", progress=False)
    assert len(calls) == 3  # died in the middle of re-embedding the changed report's chunks
    assert _snapshot(index) == before
    assert load_index(index).manifest.hash == json.loads((generation_dir(index) / "manifest.json").read_text())["hash"]
    assert [p.name for p in index.iterdir() if p.name.startswith(".") and p.name != ".lock"] == []
    if isinstance(failure, RuntimeError):
        monkeypatch.undo()
        assert build_index(corpus, index, "minilm", progress=False).changed == [changed.name]  # the next run completes it


def test_a_killed_build_leaves_the_current_generation_and_its_leftovers_are_removed(workspace):
    corpus, index = workspace
    current = generation_dir(index)
    killed = index / "gen-20990101T000000000000-999999"  # what a build killed while writing leaves behind
    killed.mkdir()
    (killed / "vectors.faiss").write_bytes(b"half written")
    assert load_index(index).path == index and generation_dir(index) == current
    (changed,) = corpus.glob("003_*.txt")
    changed.write_text(changed.read_text(encoding="utf-8") + "\n" + NOTE, encoding="utf-8")
    build_index(corpus, index, "minilm", progress=False)
    assert not killed.exists() and generations(index) == [current, generation_dir(index)]


def test_an_index_of_the_earlier_flat_layout_is_read_and_converted_by_the_next_build(workspace):
    corpus, index = workspace
    flat = generation_dir(index)
    for item in flat.iterdir():
        shutil.move(str(item), index / item.name)
    flat.rmdir()
    (index / CURRENT).unlink()
    assert load_index(index).chunks and generation_dir(index) == index
    (changed,) = corpus.glob("003_*.txt")
    changed.write_text(changed.read_text(encoding="utf-8") + "\n" + NOTE, encoding="utf-8")
    report = build_index(corpus, index, "minilm", progress=False)
    assert report.changed == [changed.name] and report.reused > 150
    assert generation_dir(index) != index and not any((index / name).exists() for name in INDEX_FILES)


def test_damaged_or_missing_index_names_the_fix(tiny, capsys):
    corpus, index = tiny
    with pytest.raises(UserError, match=r"no index at .*python -m ingest --index"):
        load_index(index)
    build_index(corpus, index, "minilm", progress=False)
    vectors = generation_dir(index) / "vectors.faiss"
    vectors.write_bytes(vectors.read_bytes()[:100])
    with pytest.raises(UserError, match=r"corrupted \(vectors\.faiss does not match its checksum\).*--rebuild"):
        load_index(index)
    with pytest.raises(UserError, match=r"corrupted .*--rebuild"):  # a reader stops; it never rebuilds
        open_index(IndexSettings(str(corpus), str(index), "minilm"), progress=False)
    (generation_dir(index) / "chunks.jsonl").unlink()
    with pytest.raises(UserError, match=r"incomplete \(chunks\.jsonl missing\)"):
        load_index(index)
    report = build_index(corpus, index, "minilm", progress=False)  # the fix: a build replaces the broken index
    assert any("could not be reused" in n for n in report.notes) and report.embedded == report.chunks
    assert load_index(index).chunks
    (index / CURRENT).write_text("../../etc\n")  # a damaged pointer: readers stop, a build replaces it
    with pytest.raises(UserError, match=r"damaged CURRENT file .*--rebuild"):
        load_index(index)
    assert build_index(corpus, index, "minilm", progress=False, rebuild=True).chunks and load_index(index).chunks


def test_an_index_is_never_queried_with_another_embedder(tiny, capsys):
    corpus, index = tiny
    build_index(corpus, index, "minilm", progress=False)
    manifest_file = generation_dir(index) / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["embedder"]["id"] = "other-org/other-model"
    manifest_file.write_text(json.dumps(manifest))
    stale = load_index(index)
    with pytest.raises(UserError, match="built with other-org/other-model"):
        stale.embedder
    minilm = core.embed.load_embedder("minilm")
    with pytest.raises(UserError, match=r"built with other-org/other-model, not .*--embedder minilm --rebuild"):
        load_index(index, embedder=minilm)
    opened = open_index(IndexSettings(str(corpus), str(index), "minilm"), progress=False)  # reading never rebuilds
    with pytest.raises(UserError, match="built with other-org/other-model"):
        opened.embedder
    report = build_index(corpus, index, "minilm", progress=False)  # `python -m ingest` does
    fresh = load_index(index)
    assert fresh.manifest.embedder_id == MINILM and fresh.embedder.model_id == MINILM
    assert any("rebuilding it with sentence-transformers/all-MiniLM-L6-v2" in n for n in report.notes)


def test_asking_keeps_the_embedder_and_chunking_an_index_was_built_with(tiny, capsys):
    corpus, index = tiny
    build_index(corpus, index, "minilm", chunk_chars=300, chunk_overlap=50, progress=False)
    built = load_index(index).manifest["hash"]
    capsys.readouterr()
    kept = open_index(IndexSettings(str(corpus), str(index)), progress=False)  # defaults: bge-m3, 500/80
    assert kept.manifest["hash"] == built and kept.manifest["chunking"]["chunk_chars"] == 300
    assert capsys.readouterr().err == ""  # no rebuild, no Hub probe for the default embedder


def test_reading_a_stale_index_is_an_error_naming_the_update_unless_asked_to_update(tiny, capsys):
    corpus, index = tiny
    build_index(corpus, index, "minilm", chunk_chars=300, chunk_overlap=50, progress=False)
    before = _snapshot(index)
    (corpus / "notes.md").write_text((corpus / "notes.md").read_text(encoding="utf-8") + "\n" + NOTE, encoding="utf-8")
    (corpus / "new.md").write_text("# 新报告\n\nMT-NLG 有 530B 参数。\n", encoding="utf-8")
    settings = IndexSettings(str(corpus), str(index))  # defaults: bge-m3, 500/80
    with pytest.raises(UserError) as stale:
        open_index(settings, progress=False)
    assert str(stale.value) == (
        f"the index at {index}/ is out of date with {corpus}/ (1 added: new.md; 1 changed: notes.md); update it with "
        f"`python -m ingest --corpus {corpus} --index {index} --embedder minilm --chunk-size 300 --chunk-overlap 50` "
        "(or pass --update-index)"
    )
    assert _snapshot(index) == before
    updated = open_index(IndexSettings(str(corpus), str(index), update=True), progress=False)
    assert updated.manifest["embedder"]["name"] == "minilm" and updated.manifest["chunking"]["chunk_chars"] == 300
    assert {c.doc_id for c in updated.chunks} == {"notes.md", "new.md"} and "Index built" in capsys.readouterr().err


def test_updating_never_swaps_in_a_stand_in_embedder(tiny, monkeypatch):
    corpus, index = tiny
    build_index(corpus, index, "minilm", progress=False)
    manifest_file = generation_dir(index) / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["embedder"]["name"] = "example-org/not-cached-embedder"  # as if built with a model not available now
    manifest_file.write_text(json.dumps(manifest))
    (corpus / "new.md").write_text("# 新报告\n\nMT-NLG 有 530B 参数。\n", encoding="utf-8")
    with pytest.raises(UserError, match="cannot load embedding model example-org/not-cached-embedder"):
        open_index(IndexSettings(str(corpus), str(index), update=True), progress=False)
    assert json.loads(manifest_file.read_text())["embedder"]["name"] == "example-org/not-cached-embedder"


def test_a_missing_index_is_built_once_and_announced(tiny, capsys):
    corpus, index = tiny
    built = open_index(IndexSettings(str(corpus), str(index), "minilm"), progress=False)
    err = capsys.readouterr().err
    assert f"note: no index at {index}/ yet; building it from {corpus}/" in err and "Index built" in err
    assert open_index(IndexSettings(str(corpus), str(index), "minilm"), progress=False).manifest.hash == built.manifest.hash
    assert capsys.readouterr().err == ""


def test_an_unavailable_embedder_falls_back_once_and_loudly(tiny, capsys):
    corpus, index = tiny
    report = build_index(corpus, index, "example-org/not-cached-embedder", progress=False)
    err = capsys.readouterr().err
    assert err.count("warning:") == 1
    assert "example-org/not-cached-embedder" in err and "hf download example-org/not-cached-embedder" in err
    assert MINILM in err and "HF_HUB_OFFLINE" in err
    manifest = load_index(index).manifest
    assert manifest["embedder"]["requested"] == "example-org/not-cached-embedder"
    assert manifest.embedder_id == MINILM and manifest["embedder"]["fallback"]
    assert "(fallback for example-org/not-cached-embedder)" in report.summary()
    again = build_index(corpus, index, "example-org/not-cached-embedder", progress=False)
    assert again.up_to_date and capsys.readouterr().err == ""  # same model resolved: nothing to rebuild, no repeat


def test_an_embedder_folder_that_fails_to_load_falls_back_loudly(tiny, tmp_path, capsys):
    corpus, index = tiny
    broken = tmp_path / "broken-embedder"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    report = build_index(corpus, index, str(broken), progress=False)
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and f"cannot load embedding model {broken}" in err and MINILM in err
    assert report.fallback and report.embedder_id == MINILM
    assert load_index(index).manifest["embedder"]["id"] == MINILM


def test_embedder_without_fallback_raises_the_fix():
    with pytest.raises(UserError, match=r"cannot load embedding model example-org/absent.*hf download example-org/absent"):
        core.embed.load_embedder("example-org/absent", fallback=False)
    minilm = core.embed.load_embedder("minilm")
    vectors = minilm.encode(["GPT-3 has 175B parameters", "GPT-3 的参数规模是 175B", "a recipe for bread"])
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    query = minilm.encode_query("How many parameters does GPT-3 have?")
    assert query.shape == (384,) and float(vectors[0] @ query) > float(vectors[2] @ query)


def test_a_second_builder_is_told_who_holds_the_lock(tiny):
    corpus, index = tiny
    from ingest.lock import build_lock

    with build_lock(index):
        with pytest.raises(UserError, match=rf"another build of {index}/ is running \(pid {os.getpid()}\); .*--wait"):
            build_index(corpus, index, "minilm", progress=False)
    assert build_index(corpus, index, "minilm", progress=False).chunks


def test_an_unwritable_index_folder_fails_before_any_work(tiny, tmp_path, monkeypatch):
    corpus, _ = tiny
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(core.embed, "load_spec", lambda spec: pytest.fail("embedded before finding the folder unwritable"))
    with pytest.raises(UserError, match=r"cannot write to the index folder .*a-file/sub/ \(Not a directory\); pass --index with a writable folder"):
        build_index(corpus, blocker / "sub", "minilm", progress=False)


def test_symlinks_to_and_inside_the_index_folder_survive_rebuilds(tiny, tmp_path):
    """An index folder that is a symlink (to a bigger disk) and the user's own links inside it stay links."""
    corpus, _ = tiny
    (tmp_path / "disk").mkdir()
    index = tmp_path / "index-link"
    index.symlink_to(tmp_path / "disk", target_is_directory=True)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "disk" / "notes.txt").symlink_to(tmp_path / "notes.txt")
    for rebuild in (False, True, True):
        build_index(corpus, index, "minilm", rebuild=rebuild, progress=False)
    assert index.is_symlink() and (tmp_path / "disk" / "notes.txt").is_symlink()
    assert (tmp_path / "disk" / CURRENT).is_file() and open_index(IndexSettings(index=str(index), corpus=str(corpus))).chunks


@pytest.mark.slow
def test_concurrent_builders_and_readers_never_see_a_broken_index(tiny, tmp_path):
    """4 builders (2 processes × 2 threads) rebuild one index, queueing on the lock, while 4 readers
    (2 × 2) load it in a loop: every load is a complete, consistent generation; nothing fails."""
    import subprocess
    import sys

    corpus, index = tiny
    build_index(corpus, index, "minilm", progress=False)
    stop = tmp_path / "stop"
    repo = Path(__file__).resolve().parents[1]
    run = lambda *args: subprocess.Popen([sys.executable, "-m", "tests.fixtures.index_stress", *map(str, args)], cwd=repo, stdout=subprocess.PIPE, text=True)  # noqa: E731
    readers = [run("read", index, stop, 2) for _ in range(2)]
    builders = [run("build", corpus, index, 6, 2) for _ in range(2)]
    try:
        built = [result for b in builders for result in json.loads(b.communicate(timeout=300)[0])]
    finally:
        stop.touch()
    read = [result for r in readers for result in json.loads(r.communicate(timeout=60)[0])]
    assert [b["errors"] for b in built] == [[]] * 4 and all(b["builds"] >= 1 for b in built)
    assert [r["errors"] for r in read] == [[]] * 4
    assert all(r["loads"] > 0 for r in read) and max(r["builds_seen"] for r in read) > 1
    assert len(generations(index)) <= 2 and load_index(index).chunks
