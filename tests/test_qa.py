"""The gold QA set: the shipped file loads and has the promised make-up; malformed sets fail at their line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from eval.metrics import contains_alias
from eval.qa import DEFAULT_QA, QA_TYPES, QAItem, load_qa
from ingest.errors import UserError
from ingest.load import corpus_files

DOC = "002_6ac13b971160b9c7.txt"
GOOD = {
    "id": "zh-fact-900",
    "lang": "zh",
    "question": "MT-NLG 是由哪两家公司共同研发的？",
    "answers": [["Microsoft", "微软"], ["NVIDIA", "英伟达"]],
    "answerable": True,
    "type": "fact",
    "evidence": [{"doc": DOC, "quote": "是由 Microsoft 和 NVIDIA 共同研发的大语言模型"}],
}
UNANSWERABLE = {
    "id": "en-unans-900",
    "lang": "en",
    "question": "Who is the CEO of Moonshot AI?",
    "answers": [],
    "answerable": False,
    "type": "unanswerable",
    "evidence": [],
}


@pytest.fixture(scope="session")
def shipped(corpus_dir: Path) -> list[QAItem]:
    return load_qa(DEFAULT_QA, corpus_dir)


def test_shipped_set_meets_the_issue_composition(shipped: list[QAItem], corpus_dir: Path) -> None:
    types = Counter(item.type for item in shipped)
    langs = Counter(item.lang for item in shipped)
    assert len(shipped) >= 120
    assert 0.6 <= langs["zh"] / len(shipped) <= 0.73  # "about two thirds Chinese"
    assert set(types) == set(QA_TYPES)
    assert types["unanswerable"] >= 20
    assert types["cross_lingual"] >= 5
    assert types["conflict"] >= 3
    assert {e.doc for item in shipped for e in item.evidence} == {p.name for p in corpus_files(corpus_dir)}


def test_shipped_item_kinds_are_consistent(shipped: list[QAItem]) -> None:
    for item in shipped:
        assert item.id.startswith(f"{item.lang}-"), item.id
        if item.type == "cross_lingual":
            assert item.lang == "en", item.id
        if item.type == "conflict":  # a good answer gives both values, each with its source
            assert len(item.answers) >= 2 and len(item.evidence) >= 2, item.id


def test_every_alias_group_is_stated_in_its_evidence_and_not_given_away_by_the_question(shipped: list[QAItem]) -> None:
    for item in shipped:
        stated = " ".join(e.quote for e in item.evidence)
        for group in item.answers:
            assert any(contains_alias(stated, alias) for alias in group), (item.id, group)
            assert not any(contains_alias(item.question, alias) for alias in group), (item.id, group)


def _write(tmp_path: Path, rows: list[object]) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_small_valid_set_loads_into_items(tmp_path: Path, corpus_dir: Path) -> None:
    items = load_qa(_write(tmp_path, [GOOD, "", UNANSWERABLE]), corpus_dir)  # blank lines are allowed
    assert [item.id for item in items] == ["zh-fact-900", "en-unans-900"]
    assert items[0].answers == (("Microsoft", "微软"), ("NVIDIA", "英伟达"))
    assert items[0].evidence[0].doc == DOC
    assert items[1].answerable is False and items[1].evidence == ()


BAD_LINES = {
    "bad JSON": ('{"id": "x", "lang": "zh",', "not valid JSON"),
    "duplicate id": ({**UNANSWERABLE, "id": GOOD["id"]}, "duplicate id 'zh-fact-900' (first used on line 1)"),
    "missing quote": (
        {**GOOD, "id": "q3", "evidence": [{"doc": DOC, "quote": "是由 Microsoft 和 Intel 共同研发"}]},
        f'evidence quote not found in {DOC}: "是由 Microsoft 和 Intel 共同研发"; fix the quote or the doc name',
    ),
    "unknown doc": (
        {**GOOD, "id": "q3", "evidence": [{"doc": "999_missing.txt", "quote": "NVIDIA"}]},
        "evidence doc '999_missing.txt' is not a file in",
    ),
    "doc outside the corpus": (
        {**GOOD, "id": "q3", "evidence": [{"doc": "../pyproject.toml", "quote": "name"}]},
        "evidence doc '../pyproject.toml' is not a file in",
    ),
    "unanswerable with answers": (
        {**UNANSWERABLE, "id": "q3", "answers": [["Yang Zhilin"]]},
        'an unanswerable item must have "answers": [] and "evidence": []',
    ),
    "bad lang": ({**GOOD, "id": "q3", "lang": "fr"}, "lang must be one of zh, en, got 'fr'"),
    "missing field": ({k: v for k, v in GOOD.items() if k != "evidence"} | {"id": "q3"}, "missing field(s) evidence"),
    "unknown type": ({**GOOD, "id": "q3", "type": "trivia"}, "type must be one of"),
    "answerable without evidence": ({**GOOD, "id": "q3", "evidence": []}, "needs at least one evidence quote"),
    "answerable without answers": ({**GOOD, "id": "q3", "answers": []}, "needs at least one alias group"),
    "alias empty after normalization": ({**GOOD, "id": "q3", "answers": [["——"]]}, "empty after normalization"),
    "unanswerable type marked answerable": ({**GOOD, "id": "q3", "type": "unanswerable"}, 'type "unanswerable" goes with'),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_a_malformed_line_is_rejected_with_its_line_number(case: str, tmp_path: Path, corpus_dir: Path) -> None:
    bad, message = BAD_LINES[case]
    path = _write(tmp_path, [GOOD, "", bad, UNANSWERABLE])  # the bad item is on line 3
    with pytest.raises(UserError) as err:
        load_qa(path, corpus_dir)
    assert str(err.value).startswith(f"{path}:3: ")
    assert message in str(err.value)


def test_missing_or_empty_files_are_user_errors(tmp_path: Path, corpus_dir: Path) -> None:
    with pytest.raises(UserError, match="QA set not found: .*--qa PATH"):
        load_qa(tmp_path / "nope.jsonl", corpus_dir)
    with pytest.raises(UserError, match="has no questions"):
        load_qa(_write(tmp_path, [""]), corpus_dir)
    with pytest.raises(UserError, match="corpus folder not found"):
        load_qa(_write(tmp_path, [GOOD]), tmp_path / "no-corpus")
