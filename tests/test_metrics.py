"""Every metric pinned on hand-computed Chinese and English cases."""

from __future__ import annotations

import pytest

from eval.metrics import (
    LENGTH_CAP_MIN_TOKENS,
    REFUSED_KEY,
    contains_alias,
    evidence_recall_at_k,
    length_cap,
    mrr,
    overlaps,
    score_sample,
    summarize_question,
)
from eval.normalize import normalize, strip_thinking, tokens
from eval.qa import Evidence, QAItem
from rag.prompt import REFUSAL_EN, REFUSAL_ZH

GPT3_QUOTE = "1750亿参数，比之前的非稀疏语言模型大10倍以上"
GPT3 = QAItem(
    id="gpt3-params",
    lang="zh",
    question="GPT-3 有多少参数？",
    answers=(("175B", "1750亿", "175 billion"),),
    answerable=True,
    type="number",
    evidence=(Evidence("004_8cfeb75e03f60928.txt", GPT3_QUOTE),),
)
BERT = QAItem(
    id="bert",
    lang="en",
    question="Who released BERT and when?",
    answers=(("Google", "谷歌"), ("2018", "2018年")),
    answerable=True,
    type="multi_hop",
    evidence=(Evidence("a.txt", "BERT（2018-10，论文）"), Evidence("b.txt", "Google released BERT")),
)
UNANSWERABLE = QAItem(
    id="gpt7",
    lang="zh",
    question="GPT-7 有多少参数？",
    answers=(),
    answerable=False,
    type="unanswerable",
    evidence=(),
)
SOURCE_ZH = "GPT-3（2020）拥有1750亿参数，比之前的非稀疏语言模型大10倍以上。"
UNRELATED = "Transformer 于 2017 年提出，采用自注意力机制。"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GPT-3 has １７５Ｂ parameters.", "gpt3has175bparameters"),  # full-width → half-width, case, spaces
        ("“大语言模型”（LLM）：定义、历史。", "大语言模型llm定义历史"),  # Chinese punctuation
        ("参数量为 1,750 亿【2】。", "参数量为1750亿"),  # thousands separator, citation marker
        ("released in 2020 [3]; 1750亿[来源 2]", "releasedin2020 1750亿"),  # markers never glue onto numbers
        ("GPT-3.5 costs 2.5%", "gpt3.5costs2.5"),  # decimal points stay
        ("March 3, 2020", "march3 2020"),  # two numbers stay two numbers
        ("2019-07-26", "2019 07 26"),
        ("<think>maybe 175B?</think>\n答案：1750亿", "答案1750亿"),
        ("答案 <think>cut off before closing", "答案"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_strip_thinking_handles_closed_unclosed_and_prompt_opened_blocks() -> None:
    assert strip_thinking("<think>\n\n</think>\n\nGPT-3") == "\n\nGPT-3"
    assert strip_thinking("<think>a</think>B<think>c") == "B"
    assert strip_thinking("reasoning that began in the prompt</think>answer") == "answer"


def test_tokens_split_cjk_characters_and_latin_words() -> None:
    assert tokens("GPT-3 有１７５０亿参数 (v2.5)") == ["gpt", "3", "有", "1750", "亿", "参", "数", "v2.5"]
    assert tokens("<think>ignored</think>Hello, World!") == ["hello", "world"]


def test_aliases_match_across_widths_and_never_inside_longer_numbers() -> None:
    assert contains_alias("GPT-3 有 １７５Ｂ 参数", "175B")
    assert contains_alias("参数量：1,750 亿", "1750亿")
    assert not contains_alias("参数量：1750亿", "175B")
    assert not contains_alias("参数量：1750亿", "175")  # 175 is not part of 1750
    assert contains_alias("参数量：175亿", "175")
    assert not contains_alias("GPT-3.5", "GPT-3")
    assert contains_alias("released on March 3, 2020 [2].", "2020")
    with pytest.raises(ValueError, match="empty after normalization"):
        contains_alias("anything", "“”")


@pytest.mark.parametrize(
    "answer",
    ["GPT-3 有 １７５Ｂ 参数。", "GPT-3 有1750亿参数[1]", "It has 175 billion parameters [1].", "１７５０亿"],
)
def test_every_alias_form_hits(answer: str) -> None:
    score = score_sample(answer, GPT3, cited_texts=[SOURCE_ZH], refused=False)
    assert (score.hit, score.supported, score.grounded_correct, score.hallucination) == (True, True, True, False)


def test_wrong_number_is_a_hallucination() -> None:
    score = score_sample("GPT-3 有 17.5B 参数。", GPT3, cited_texts=[SOURCE_ZH], refused=False)
    assert (score.hit, score.grounded_correct, score.hallucination, score.over_refusal) == (False, False, True, False)


def test_every_alias_group_must_match() -> None:
    assert not score_sample("Google released it.", BERT, refused=False).hit
    assert score_sample("谷歌，2018年。", BERT, retrieved_texts=["Google released BERT in 2018"], refused=False).hit


def test_length_cap_stops_context_dumping() -> None:
    # Gold tokens: the longest alias of the one group has 2 tokens ("1750", "亿"), so the cap is the minimum.
    assert length_cap(GPT3) == max(LENGTH_CAP_MIN_TOKENS, 4 * 2) == 100
    filler = "模" * (LENGTH_CAP_MIN_TOKENS - 2)
    at_cap = score_sample("1750亿" + filler, GPT3, cited_texts=[SOURCE_ZH], refused=False)
    over_cap = score_sample("1750亿" + filler + "型", GPT3, cited_texts=[SOURCE_ZH], refused=False)
    assert (at_cap.answer_tokens, at_cap.hit, at_cap.too_long) == (100, True, False)
    assert (over_cap.answer_tokens, over_cap.hit, over_cap.too_long) == (101, False, True)
    dump = " ".join([SOURCE_ZH] * 10)
    assert not score_sample(dump, GPT3, cited_texts=[SOURCE_ZH], refused=False).hit


def test_supported_needs_the_answer_in_a_cited_source_or_else_in_the_retrieved_ones() -> None:
    cited_unrelated = score_sample("1750亿 [1]", GPT3, cited_texts=[UNRELATED], retrieved_texts=[SOURCE_ZH])
    assert (cited_unrelated.hit, cited_unrelated.supported, cited_unrelated.grounded_correct) == (True, False, False)
    nothing_cited = score_sample("1750亿", GPT3, retrieved_texts=[UNRELATED, SOURCE_ZH], refused=False)
    assert nothing_cited.supported and nothing_cited.grounded_correct
    closed_book = score_sample("1750亿", GPT3, refused=False)
    assert closed_book.hit and not closed_book.supported and not closed_book.grounded_correct
    # An English answer grounded in a Chinese source: any alias of the matched group supports it.
    assert score_sample("175 billion [1]", GPT3, cited_texts=[SOURCE_ZH], refused=False).supported


def test_thinking_is_ignored_when_scoring() -> None:
    only_thought = score_sample("<think>It is 1750亿.</think>不确定。", GPT3, cited_texts=[SOURCE_ZH], refused=False)
    assert not only_thought.hit and only_thought.answer_key == "不确定"
    truncated = score_sample("<think>It is 1750亿, let me check", GPT3, cited_texts=[SOURCE_ZH], refused=False)
    assert not truncated.hit and truncated.answer_tokens == 0


def test_refusals_are_detected_with_the_shared_pattern_list() -> None:
    right = score_sample(REFUSAL_ZH, UNANSWERABLE)
    assert (right.refused, right.grounded_correct, right.hallucination, right.f1) == (True, True, False, 1.0)
    assert right.answer_key == REFUSED_KEY
    made_up = score_sample("GPT-7 有 10T 参数。", UNANSWERABLE, retrieved_texts=[UNRELATED])
    assert (made_up.refused, made_up.grounded_correct, made_up.hallucination, made_up.f1) == (False, False, True, 0.0)
    over = score_sample(REFUSAL_EN, GPT3, retrieved_texts=[SOURCE_ZH])
    assert (over.refused, over.over_refusal, over.grounded_correct, over.hallucination) == (True, True, False, False)


def test_token_f1_takes_the_best_alias_combination() -> None:
    # tokens: gpt 3 has 175b parameters; best gold = [175b]: P = 1/5, R = 1 → F1 = 1/3.
    assert score_sample("GPT-3 has 175B parameters", GPT3, refused=False).f1 == pytest.approx(1 / 3)
    # tokens: google 2018 年 发 布; best gold = [google, 2018, 年]: P = 3/5, R = 1 → F1 = 3/4.
    assert score_sample("Google，2018年发布", BERT, refused=False).f1 == pytest.approx(0.75)
    assert score_sample("不知道", GPT3, refused=False).f1 == 0.0


def test_citation_precision_and_recall() -> None:
    quote_only = "BERT（2018-10，论文）：110M（Base）"  # overlaps the first quote, contains no alias of "Google"
    score = score_sample("Google, 2018 [1][2][3]", BERT, cited_texts=["Google released BERT", quote_only, UNRELATED])
    assert score.citation_precision == pytest.approx(2 / 3)
    assert score.citation_recall == 1.0
    one = score_sample("Google, 2018 [1]", BERT, cited_texts=["Google released BERT, a model"], refused=False)
    assert (one.citation_precision, one.citation_recall) == (1.0, 0.5)
    uncited = score_sample("Google, 2018", BERT, retrieved_texts=["Google released BERT in 2018"], refused=False)
    assert (uncited.citation_precision, uncited.citation_recall) == (None, 0.0)
    assert score_sample(REFUSAL_ZH, UNANSWERABLE).citation_recall is None


def test_overlap_accepts_a_quote_cut_by_a_chunk_boundary() -> None:
    assert overlaps("…不同。GPT-3拥有1750亿参数，比之前的非稀疏", GPT3_QUOTE)  # shares 14 of the quote's 24 normalized characters
    assert not overlaps("1750亿参数", GPT3_QUOTE)  # 7 of 24


def test_evidence_recall_at_k_and_mrr() -> None:
    chunks = [UNRELATED, "GPT-3 拥有 １７５０亿 参数， 比之前的非稀疏语言模型大 10 倍以上！", "Google released BERT"]
    assert evidence_recall_at_k(chunks, [GPT3_QUOTE], 1) == 0.0
    assert evidence_recall_at_k(chunks, [GPT3_QUOTE], 2) == 1.0
    assert evidence_recall_at_k(chunks, [GPT3_QUOTE, "Google released BERT"], 2) == 0.5
    assert mrr(chunks, [GPT3_QUOTE]) == 0.5
    assert mrr(chunks, [GPT3_QUOTE], k=1) == 0.0
    assert mrr(chunks, ["Google released BERT", GPT3_QUOTE]) == 0.5
    assert evidence_recall_at_k(chunks, [], 3) is None and mrr(chunks, []) is None


def _samples(*answers: str) -> list:
    return [score_sample(a, GPT3, cited_texts=[SOURCE_ZH]) for a in answers]


def test_question_summary_majority_and_agreement() -> None:
    summary = summarize_question(_samples("175B", "１７５Ｂ", " 175b。", REFUSAL_ZH, REFUSAL_EN, "17.5B"))
    assert (summary.n, summary.accuracy, summary.majority, summary.agreement) == (6, 0.5, 1.0, 0.5)
    wrong_majority = summarize_question(_samples("17.5B", "17.5 B", "1750亿"))
    assert (wrong_majority.accuracy, wrong_majority.majority, wrong_majority.agreement) == (pytest.approx(1 / 3), 0.0, pytest.approx(2 / 3))
    # Tie between a right and a wrong answer: the expected value of a random tie-break.
    tie = summarize_question(_samples("175B", "175B", "17.5B", "17.5B", REFUSAL_ZH))
    assert (tie.majority, tie.agreement) == (0.5, 0.4)
