"""Every metric pinned on hand-computed Chinese and English cases."""

from __future__ import annotations

import pytest

from eval.metrics import (
    LENGTH_CAP_MIN_UNITS,
    NOT_CITED,
    REFUSED_KEY,
    contains_alias,
    evidence_recall_at_k,
    length_cap,
    mrr,
    overlaps,
    score_sample,
    summarize_question,
)
from eval.normalize import length_units, normalize, strip_thinking, tokens
from eval.qa import Evidence, QAItem
from rag.templates import REFUSAL_EN, REFUSAL_ZH

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
        ("70，175和540", "70 175和540"),  # the full-width comma separates numbers
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
    assert contains_alias("参数量：1750亿", "175B") and contains_alias("1.75千亿", "175 billion")  # same value
    assert not contains_alias("参数量：1750亿", "175")  # 175 is not part of 1750
    assert not contains_alias("参数量：175亿", "175")  # values compare as values: 175亿 is 17.5 billion
    assert contains_alias("共 175 个", "175")
    assert not contains_alias("GPT-3.5", "GPT-3")
    assert not contains_alias("GPT-4o", "GPT-4") and contains_alias("GPT-4 与 GPT-4o", "GPT-4")
    assert not contains_alias("RoBERTa", "BERT") and contains_alias("BERT-Large", "BERT")
    assert contains_alias("fine-tuning", "fine-tun*") and not contains_alias("fine-tuning", "fine-tun")
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
    assert score_sample("谷歌，2018年。", BERT, refused=False).hit


def test_length_cap_stops_context_dumping() -> None:
    # Gold units: the longest alias of the one group is "175 billion" (2 words), so the cap is the minimum.
    assert length_cap(GPT3) == max(LENGTH_CAP_MIN_UNITS, 4 * 2) == 100
    at_cap = score_sample("1750亿 [1]" + " word" * 98, GPT3, cited_texts=[SOURCE_ZH])  # 1.65 + 98 units
    over_cap = score_sample("1750亿 [1]" + " word" * 99, GPT3, cited_texts=[SOURCE_ZH])
    assert (at_cap.answer_length, at_cap.hit, at_cap.too_long) == (99.65, True, False)
    assert (over_cap.answer_length, over_cap.hit, over_cap.too_long, over_cap.reason) == (100.65, False, True, "too long")
    dump = " ".join([SOURCE_ZH] * 10)
    assert not score_sample(dump, GPT3, cited_texts=[SOURCE_ZH], refused=False).hit


def test_grounding_needs_the_value_in_a_cited_source() -> None:
    cited_unrelated = score_sample("1750亿 [1]", GPT3, cited_texts=[UNRELATED])
    assert (cited_unrelated.hit, cited_unrelated.supported, cited_unrelated.grounded_correct) == (True, False, False)
    assert (cited_unrelated.uncited_correct, cited_unrelated.reason) == (True, NOT_CITED)
    nothing_cited = score_sample("1750亿", GPT3, refused=False)  # right, but it cites nothing: not grounded
    assert (nothing_cited.hit, nothing_cited.supported, nothing_cited.grounded_correct) == (True, False, False)
    assert (nothing_cited.uncited_correct, nothing_cited.hallucination, nothing_cited.reason) == (True, False, NOT_CITED)
    # An English answer grounded in a Chinese source: any alias of the matched group supports it.
    grounded = score_sample("175 billion [1]", GPT3, cited_texts=[SOURCE_ZH], refused=False)
    assert (grounded.supported, grounded.grounded_correct, grounded.uncited_correct, grounded.reason) == (True, True, False, None)


def test_thinking_is_ignored_when_scoring() -> None:
    only_thought = score_sample("<think>It is 1750亿.</think>不确定。", GPT3, cited_texts=[SOURCE_ZH], refused=False)
    assert not only_thought.hit and only_thought.answer_key == "不确定"
    truncated = score_sample("<think>It is 1750亿, let me check", GPT3, cited_texts=[SOURCE_ZH], refused=False)
    assert not truncated.hit and truncated.answer_length == 0


def test_refusals_are_detected_with_the_shared_detector() -> None:
    right = score_sample(REFUSAL_ZH, UNANSWERABLE)
    assert (right.refused, right.grounded_correct, right.hallucination, right.f1) == (True, True, False, 1.0)
    assert right.answer_key == REFUSED_KEY
    made_up = score_sample("GPT-7 有 10T 参数。", UNANSWERABLE)
    assert (made_up.refused, made_up.grounded_correct, made_up.hallucination, made_up.f1) == (False, False, True, 0.0)
    over = score_sample(REFUSAL_EN, GPT3)
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
    uncited = score_sample("Google, 2018", BERT, refused=False)
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


# The same answer written in Chinese and in English (the calibration set of eval.normalize.CJK_CHAR_UNITS).
PAIRED_ANSWERS = [
    ("GPT-3 有 1750 亿参数，由 OpenAI 于 2020 年发布 [1]。",
     "GPT-3 has 175 billion parameters and was released by OpenAI in 2020 [1]."),
    ("LoRA（低秩适应）在冻结预训练模型权重的同时，向每一层注入可训练的低秩分解矩阵，从而大幅减少下游任务需要训练的参数量 [2]。",
     "LoRA (low-rank adaptation) freezes the pretrained model weights and injects trainable low-rank decomposition "
     "matrices into each layer, which greatly reduces the number of parameters to train for downstream tasks [2]."),
    ("混合专家（MoE）架构由多个专家网络和一个门控网络组成，每个输入只激活其中少数几个专家，因此总参数量很大而每次推理的计算量较小 [1][3]。",
     "A mixture-of-experts (MoE) architecture consists of several expert networks and a gating network; each input "
     "activates only a few of the experts, so the total parameter count is large while the computation per inference "
     "stays small [1][3]."),
    ("Chinchilla 只有 700 亿参数，但用 1.4 万亿 token 训练，数据量是 Gopher 的 4 倍，所以在多数任务上超过了 Gopher [2]。",
     "Chinchilla has only 70 billion parameters but was trained on 1.4 trillion tokens, four times the data of "
     "Gopher, so it beats Gopher on most tasks [2]."),
    ("检索增强生成（RAG）先从外部知识库中检索与问题相关的文档，再把这些文档和问题一起交给模型生成答案，以减少幻觉并引入最新知识 [4]。",
     "Retrieval-augmented generation (RAG) first retrieves documents relevant to the question from an external "
     "knowledge base, then gives them to the model together with the question to generate the answer, which reduces "
     "hallucinations and brings in up-to-date knowledge [4]."),
    ("资料中没有找到相关信息。", "The reports do not contain this information."),
    ("GPT-2 把层归一化移到了每个子块的输入处，并在最后一个自注意力块之后增加了一个额外的层归一化 [1]。",
     "GPT-2 moved layer normalization to the input of each sub-block and added an extra layer normalization after "
     "the final self-attention block [1]."),
    ("涌现能力是指模型规模超过某个阈值之后突然出现、而在小模型中几乎不存在的能力，例如多步推理和少样本学习 [3]。",
     "Emergent abilities are capabilities that appear suddenly once a model's scale passes a threshold and are "
     "almost absent in small models, such as multi-step reasoning and few-shot learning [3]."),
    ("知识蒸馏是让一个较小的学生模型学习较大教师模型的输出分布，使小模型以更低的成本接近大模型的效果 [2]。",
     "Knowledge distillation trains a smaller student model to learn the output distribution of a larger teacher "
     "model, so that the small model approaches the large model's quality at a lower cost [2]."),
    ("Qwen3 的后训练分为四个阶段：长思维链冷启动、推理强化学习、思维模式融合和通用强化学习 [1]。",
     "Qwen3's post-training has four stages: long chain-of-thought cold start, reasoning reinforcement learning, "
     "thinking-mode fusion and general reinforcement learning [1]."),
]  # fmt: skip
RAG = QAItem(
    id="rag-def",
    lang="zh",
    question="什么是检索增强生成（RAG）？",
    answers=(("外部知识库", "external knowledge base"),),
    answerable=True,
    type="definition",
    evidence=(Evidence("001_44e77a6d940667f4.txt", "检索增强生成"),),
)


@pytest.mark.parametrize(("zh", "en"), PAIRED_ANSWERS, ids=[f"pair{i}" for i in range(len(PAIRED_ANSWERS))])
def test_the_same_content_has_about_the_same_length_in_both_languages(zh: str, en: str) -> None:
    assert 0.75 <= length_units(zh) / length_units(en) <= 1.25


def test_the_length_cap_treats_paired_chinese_and_english_answers_alike() -> None:
    zh, en = PAIRED_ANSWERS[4]
    source = [zh + en]
    for copies in (1, 2, 3):
        verdicts = [score_sample(" ".join([text] * copies), RAG, cited_texts=source) for text in (zh, en)]
        assert verdicts[0].too_long == verdicts[1].too_long == (copies == 3)
        assert verdicts[0].grounded_correct == verdicts[1].grounded_correct == (copies < 3)
    # A Chinese definition of 130 characters: 115 tokens under the old per-character count (cap 100), 75.1 units now.
    long_zh = zh + "它的好处是答案可以追溯到具体的资料，用户能够核对每一句话的出处，模型也不必把所有知识都记在参数里，更新知识时只需要更新知识库。"
    assert (len(tokens(long_zh)), length_units(long_zh)) == (115, 75.1)
    assert not score_sample(long_zh, RAG, cited_texts=source).too_long
