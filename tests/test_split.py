"""The gold set's fixed development / held-out split and how a sweep selects one part."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

import pytest

from core.errors import UserError
from eval.config import eval_config_from_dict, load_eval_config
from eval.qa import DEFAULT_QA, load_qa
from eval.run import load_questions
from eval.run import main as run_main
from tests.conftest import CORPUS, REPO


def test_every_item_is_in_one_part_and_both_parts_hold_every_type_and_language():
    items = load_qa(DEFAULT_QA, CORPUS)
    assert {i.split for i in items} == {"dev", "heldout"}
    strata = Counter((i.type, i.lang, i.split) for i in items)
    for type_, lang in {(i.type, i.lang) for i in items}:
        dev, held = strata[(type_, lang, "dev")], strata[(type_, lang, "heldout")]
        assert held - dev in (0, 1), (type_, lang, dev, held)  # halves, the odd one out held out


def test_the_extractive_sweep_reports_on_held_out_and_the_flag_selects_dev():
    config = load_eval_config(REPO / "eval/configs/extractive.yaml")
    held = load_questions(config)
    dev = load_questions(config.with_overrides(split="dev"))
    assert config.split == "heldout" and {q.split for q in held} == {"heldout"} and {q.split for q in dev} == {"dev"}
    assert len(held) + len(dev) == len(load_qa(DEFAULT_QA, CORPUS))
    assert not {q.id for q in held} & {q.id for q in dev}


def test_a_bad_split_is_an_error_naming_the_choices(tmp_path, capsys):
    with pytest.raises(UserError, match="split must be dev or heldout"):
        eval_config_from_dict({"split": "test"})
    assert run_main(["--config", str(REPO / "eval/configs/extractive.yaml"), "--split", "test"]) == 2
    assert "invalid choice: 'test'" in capsys.readouterr().err
    line = json.loads(DEFAULT_QA.read_text(encoding="utf-8").splitlines()[0])
    bad = tmp_path / "qa.jsonl"
    bad.write_text(json.dumps({**line, "split": "train"}, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"qa.jsonl:1: split must be one of dev, heldout"):
        load_qa(bad, CORPUS)


def test_selecting_a_split_of_a_set_without_one_is_an_error(tmp_path):
    line = json.loads(DEFAULT_QA.read_text(encoding="utf-8").splitlines()[0])
    del line["split"]
    plain = tmp_path / "qa.jsonl"
    plain.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    config = eval_config_from_dict({"qa": str(plain), "split": "dev", "index": {"corpus": str(CORPUS)}})
    with pytest.raises(UserError, match="has no questions with split 'dev'"):
        load_questions(config)
    assert len(load_questions(dataclasses.replace(config, split=None))) == 1  # without a split: every question
