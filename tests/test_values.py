"""The value parser: every spelling of a size, count, percentage and date the reports use, and the boundaries
that keep names, other units and lists apart."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rag.values import distinct_claims, find_values, parse_value

B = 10**9


def _values(text: str) -> list[tuple[str, object]]:
    return [(v.kind, v.amount) for v in find_values(text)]


@pytest.mark.parametrize(
    "spelling",
    ["175B", "175b", "175 B", "1750亿", "1750 亿", "1,750亿", "1.75千亿", "175 billion", "175 Billion", "175bn",
     "0.175 trillion", "１７５Ｂ"],
)  # fmt: skip
def test_every_spelling_of_175_billion_is_one_value(spelling: str) -> None:
    assert _values(f"GPT-3 有 {spelling} 参数") == [("size", Decimal(175 * B))]
    assert parse_value(spelling).amount == 175 * B


@pytest.mark.parametrize(
    ("text", "amount"),
    [("1.4T", 14 * 10**11), ("1.4万亿", 14 * 10**11), ("14000亿", 14 * 10**11), ("1.4 trillion", 14 * 10**11),
     ("52K", 52000), ("52k", 52000), ("5.2万", 52000), ("52 thousand", 52000), ("1M", 10**6), ("100万", 10**6),
     ("1 million", 10**6), ("8百万", 8 * 10**6), ("800万", 8 * 10**6), ("117M", 117 * 10**6), ("1.17亿", 117 * 10**6),
     ("128K", 128000), ("30T", 30 * 10**12), ("7十亿", 7 * B)],
)  # fmt: skip
def test_scales(text: str, amount: int) -> None:
    assert _values(text) == [("size", Decimal(amount))]


@pytest.mark.parametrize(
    ("text", "date"),
    [("2020-05", (2020, 5)), ("2020年5月", (2020, 5)), ("2020 年 5 月", (2020, 5)), ("May 2020", (2020, 5)),
     ("2020.05", (2020, 5)), ("2020/05", (2020, 5)), ("in May, 2020", (2020, 5)),
     ("2023-3-14", (2023, 3, 14)), ("2023-03-14", (2023, 3, 14)), ("2023年3月14日", (2023, 3, 14)),
     ("March 14, 2023", (2023, 3, 14)), ("Mar. 14 2023", (2023, 3, 14)), ("14 March 2023", (2023, 3, 14)),
     ("2020年", (2020,)), ("released in 2017", (2017,)), ("Sept 2024", (2024, 9))],
)  # fmt: skip
def test_dates_in_every_form_the_reports_use(text: str, date: tuple[int, ...]) -> None:
    assert _values(text) == [("date", date)]


def test_dates_keep_their_precision_and_match_at_the_gold_precision() -> None:
    month = parse_value("2020-05")
    assert month.matches(find_values("2020年5月28日")[0])  # more precise and consistent
    assert not month.matches(find_values("2020年")[0])  # less precise
    assert not month.matches(find_values("2020年7月")[0])
    assert parse_value("2023").matches(find_values("March 2023")[0])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("67.5%", [("percent", Decimal("67.5"))]), ("67.5 percent", [("percent", Decimal("67.5"))]),
     ("百分之52", [("percent", Decimal(52))]), ("100倍", [("ratio", Decimal(100))]), ("4x", [("ratio", Decimal(4))]),
     ("4 times", [("ratio", Decimal(4))]), ("6GB", [("bytes", Decimal(6 * B))]), ("570G", [("bytes", Decimal(570 * B))]),
     ("45TB", [("bytes", Decimal(45 * 10**12))]), ("1/7", [("fraction", (1, 7))]), ("48层", [("count", Decimal(48))]),
     ("131,072 tokens", [("count", Decimal(131072))]), ("6144 块 TPU", [("count", Decimal(6144))])],
)  # fmt: skip
def test_percentages_ratios_bytes_fractions_counts(text: str, expected: list) -> None:
    assert _values(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3T tokens", [("size", Decimal(3 * 10**12))]), ("3 times larger", [("ratio", Decimal(3))]),
     ("7B", [("size", Decimal(7 * B))]), ("7 bits", [("count", Decimal(7))]), ("5 months", [("count", Decimal(5))]),
     ("the GPT-4 and GPT-4o models", []), ("T5, mT5, Qwen2.5, code-davinci-002", []),
     ("OPT-175B", [("size", Decimal(175 * B))]), ("Qwen2.5-72B-Instruct", [("size", Decimal(72 * B))])],
)  # fmt: skip
def test_latin_suffixes_end_the_word_and_names_are_not_values(text: str, expected: list) -> None:
    assert _values(text) == expected


def test_the_full_width_comma_is_never_a_thousands_separator() -> None:
    assert _values("70，175和540") == [("count", Decimal(70)), ("count", Decimal(175)), ("count", Decimal(540))]
    assert _values("1,750") == [("count", Decimal(1750))]
    assert _values("7，13，70B") == [("count", Decimal(7)), ("count", Decimal(13)), ("size", Decimal(70 * B))]


def test_citation_and_list_markers_are_not_values() -> None:
    assert _values("175B [1][2]【3】") == [("size", Decimal(175 * B))]
    assert _values("1. GPT-3\n2) 175B") == [("size", Decimal(175 * B))]


def test_counts_after_a_capitalised_name_are_name_parts() -> None:
    claude, rtx = find_values("Claude 3.5 Sonnet"), find_values("RTX 3090")
    assert claude[0].after_name and not claude[0].claim
    assert not parse_value("3090").matches(rtx[0]) and not parse_value("3").matches(find_values("Llama 3")[0])
    assert parse_value("3090").matches(find_values("4 块 3090")[-1])
    assert [v.claim for v in find_values("Top 10 and In 2020, 3 of 12")] == [True, True, True, True]


def test_aliases_that_are_not_exactly_one_value_are_text() -> None:
    for alias in ["GPT-4", "48 layers", "0.85–0.95", "2024年底", "at least 3", "四倍", "Qwen2.5-VL"]:
        assert parse_value(alias) is None, alias


def test_counts_and_sizes_match_by_amount_other_kinds_only_themselves() -> None:
    count = parse_value("52000")
    assert count.matches(find_values("52K")[0]) and count.matches(find_values("52,000")[0])
    assert not count.matches(find_values("520亿")[0])
    assert not parse_value("42").matches(find_values("42%")[0]) and not parse_value("16").matches(find_values("16倍")[0])
    assert not parse_value("88.7%").matches(find_values("88.7 分")[0])
    assert not parse_value("2017").matches(find_values("2017 个")[0])  # a year is not a count


def test_distinct_claims_counts_different_values_and_folds_refined_dates() -> None:
    values = find_values("175B（1750亿），GPT-2 是 1.5B；2020年发布，2020年5月28日公开")
    assert distinct_claims(values, "size") == 2
    assert distinct_claims(values, "date") == 1
    assert distinct_claims(find_values("2020年5月或2020年7月"), "date") == 2
