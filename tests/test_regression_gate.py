"""The nightly gate sees slow drift (a pinned reference) and code changes (the decoding fingerprint)."""

from __future__ import annotations

from pathlib import Path

from eval.records import DECODING_CODE, decoding_code_files, decoding_fingerprint
from eval.regression import compare_scores

QUESTIONS = 267


def _night(wrong: int) -> dict[tuple[str, str], dict[str, float]]:
    """One setting; the first 120 questions right except the first `wrong` of them."""
    return {("m", "s"): {f"q{i:03d}": float(wrong <= i < 120) for i in range(QUESTIONS)}}


def test_a_slow_drift_passes_night_to_night_and_fails_against_the_pinned_reference():
    """Each night 4 more questions go wrong: −0.015 a night, under the 0.02 tolerance, so the previous night
    never flags it; the pinned first night does from the second night on (−0.030, 8 discordant questions)."""
    nights = [_night(4 * k) for k in range(8)]
    vs_previous = [compare_scores(nights[k], nights[k - 1], {}, tolerance=0.02)[0] for k in range(1, 8)]
    vs_reference = [compare_scores(nights[k], nights[0], {}, tolerance=0.02)[0] for k in range(1, 8)]
    assert all(-0.02 < c.difference < 0 and not c.regressed for c in vs_previous)
    assert [c.regressed for c in vs_reference] == [False] + [True] * 6
    assert vs_reference[1].difference == -8 / QUESTIONS


def _repo_copy(tmp_path: Path) -> Path:
    repo = Path(__file__).resolve().parents[1]
    for entry in DECODING_CODE:
        source = repo / entry
        if source.is_dir():
            for f in source.rglob("*.py"):
                (tmp_path / f.relative_to(repo)).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / f.relative_to(repo)).write_bytes(f.read_bytes())
        elif source.is_file():
            (tmp_path / entry).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / entry).write_bytes(source.read_bytes())
    return tmp_path


def test_a_change_to_the_decoding_code_changes_the_cache_key(tmp_path):
    repo = _repo_copy(tmp_path)
    before = decoding_fingerprint(repo)
    names = {p.relative_to(repo).as_posix() for p in decoding_code_files(repo)}
    assert {"rag/generators/batched.py", "rag/generators/transformers_lm.py", "rag/generators/llamacpp_lm.py"} <= names
    for name in ("batched.py", "protocol.py"):
        module = repo / "rag/generators" / name
        original = module.read_text(encoding="utf-8")
        module.write_text(original + "\n# a one-line change\n", encoding="utf-8")
        assert decoding_fingerprint(repo) != before, name
        module.write_text(original, encoding="utf-8")
    assert decoding_fingerprint(repo) == before
    # A new decoding module is covered without a change to the list.
    (repo / "rag/generators/new_backend.py").write_text("ENGINE = 'x'\n", encoding="utf-8")
    assert decoding_fingerprint(repo) != before


def test_library_versions_are_part_of_the_fingerprint(tmp_path, monkeypatch):
    from eval import records

    repo = _repo_copy(tmp_path)
    before = decoding_fingerprint(repo)
    monkeypatch.setattr(records, "library_versions", lambda: {"torch": "0.0.1", "transformers": None, "llama-cpp-python": None})
    assert decoding_fingerprint(repo) != before
