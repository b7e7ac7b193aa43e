"""The gold QA set: the shipped file loads and has the promised make-up; malformed sets fail at their line."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from core.corpus import corpus_files, read_document
from core.errors import UserError
from eval.metrics import contains_alias, covers, score_sample
from eval.qa import DEFAULT_QA, QA_TYPES, QAItem, load_qa

BROAD_ALIAS_SHARE = 0.10  # an alias found in more chunks than this is suspicious (README "Gold QA set")

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
    assert len(shipped) >= 220
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


def test_at_least_40_unanswerable_items_are_near_misses(shipped: list[QAItem]) -> None:
    """The entity asked about is in the reports (the `near_miss` quote), the asked fact is not."""
    near_misses = [item for item in shipped if item.near_miss is not None]
    assert len(near_misses) >= 40 and all(not item.answerable for item in near_misses)
    for item in near_misses:  # the quote names something the question names (a model, benchmark, company)
        names = {word for word in re.findall(r"[A-Za-z][A-Za-z0-9.]*", item.question) if not word.islower()}
        assert any(name.lower() in item.near_miss.quote.lower() for name in names), (item.id, item.near_miss.quote)


def test_no_alias_is_found_in_more_than_a_tenth_of_the_chunks_without_a_reason(shipped: list[QAItem], corpus_index) -> None:
    texts = [chunk.text for chunk in corpus_index.chunks if chunk.kind != "row"]  # a row record repeats its table's row
    broad = []
    for item in shipped:
        for alias in (alias for group in item.answers for alias in group):
            share = sum(contains_alias(text, alias) for text in texts) / len(texts)
            if share > BROAD_ALIAS_SHARE and alias not in item.alias_notes:
                broad.append((item.id, alias, round(share, 2)))
    assert broad == [], "aliases this common hit answers that do not give the fact; tighten them or add alias_notes"


def test_every_evidence_quote_falls_inside_one_chunk_of_the_real_index(shipped: list[QAItem], corpus_index) -> None:
    texts = [chunk.text for chunk in corpus_index.chunks]
    outside = [(item.id, e.quote) for item in shipped for e in item.evidence if not any(covers(t, e.quote) for t in texts)]
    assert outside == [], "a quote no chunk holds is never retrieved: quote a passage inside one section"


def test_no_two_items_share_evidence(shipped: list[QAItem], corpus_dir: Path) -> None:
    """Questions are the unit of the bootstrap, so their evidence must not overlap in the corpus."""
    spans: dict[str, list[tuple[int, int, str]]] = {}
    for item in shipped:
        for e in item.evidence:
            text = read_document(corpus_dir / e.doc, corpus_dir).text
            start = text.index(e.quote)
            assert text.count(e.quote) == 1, (item.id, e.quote)  # one place in the report
            spans.setdefault(e.doc, []).append((start, start + len(e.quote), item.id))
    shared = [(a[2], b[2]) for doc_spans in spans.values() for a, b in itertools.combinations(sorted(doc_spans), 2)
              if a[2] != b[2] and b[0] < a[1]]  # fmt: skip
    assert shared == []


def test_quoting_the_evidence_with_citations_is_grounded_correct(shipped: list[QAItem]) -> None:
    """The natural answer — the evidence sentences, each cited — must score as right (not hedged, not negated);
    table rows and `/` lists are left out: they hold other values of the same kind by construction."""
    for item in shipped:
        if not item.answerable or any("|" in e.quote or "/" in e.quote for e in item.evidence):
            continue
        answer = " ".join(f"{e.quote} [{n}]" for n, e in enumerate(item.evidence, start=1))
        score = score_sample(answer, item, [e.quote for e in item.evidence])
        assert score.grounded_correct, (item.id, score.reason)


def _write(tmp_path: Path, rows: list[object]) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_small_valid_set_loads_into_items(tmp_path: Path, corpus_dir: Path) -> None:
    near = {**UNANSWERABLE, "id": "en-unans-901", "near_miss": {"doc": DOC, "quote": "NVIDIA"}}
    noted = {**GOOD, "id": "zh-fact-901", "alias_notes": {"微软": "the company asked for"}}
    items = load_qa(_write(tmp_path, [GOOD, "", UNANSWERABLE, near, noted]), corpus_dir)  # blank lines are allowed
    assert [item.id for item in items] == ["zh-fact-900", "en-unans-900", "en-unans-901", "zh-fact-901"]
    assert items[2].near_miss.quote == "NVIDIA" and items[3].alias_notes == {"微软": "the company asked for"}
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
    "near_miss on an answerable item": ({**GOOD, "id": "q3", "near_miss": {"doc": DOC, "quote": "NVIDIA"}}, '"near_miss" is for unanswerable items only'),
    "near_miss quote not in the doc": (
        {**UNANSWERABLE, "id": "q3", "near_miss": {"doc": DOC, "quote": "Moonshot AI 的 CEO"}}, "near_miss quote not found in"
    ),
    "alias note for no alias": ({**GOOD, "id": "q3", "alias_notes": {"微 软": "x"}}, "alias_notes names '微 软', which is not an alias"),
    "alias note without a reason": ({**GOOD, "id": "q3", "alias_notes": {"微软": " "}}, "alias_notes for '微软' needs a reason"),
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
