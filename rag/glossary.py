"""Bilingual query expansion for the lexical (BM25) side of retrieval.

Most facts in the reports are stated only in Chinese, while model names and numbers are written the same in
both languages. BM25 matches the names by itself; this table adds the Chinese words for the domain terms an
English question uses, so "How many parameters…" also scores chunks that say "参数". The dense side needs no help when the multilingual embedder is available.
"""

from __future__ import annotations

import re

# English term (lowercase, matched on word boundaries) → Chinese terms used in the reports.
EN_TO_ZH: dict[str, tuple[str, ...]] = {
    "parameter": ("参数",),
    "parameters": ("参数",),
    "size": ("规模",),
    "released": ("发布",),
    "release": ("发布",),
    "published": ("发布", "论文"),
    "paper": ("论文",),
    "benchmark": ("基准", "评测"),
    "benchmarks": ("基准", "评测"),
    "training": ("训练",),
    "trained": ("训练",),
    "pretraining": ("预训练",),
    "pre-training": ("预训练",),
    "fine-tuning": ("微调",),
    "finetuning": ("微调",),
    "data": ("数据",),
    "dataset": ("数据集",),
    "tokens": ("token", "词元"),
    "context": ("上下文",),
    "window": ("窗口",),
    "architecture": ("架构", "结构"),
    "layers": ("层",),
    "attention": ("注意力",),
    "heads": ("头",),
    "experts": ("专家",),
    "mixture": ("混合专家",),
    "reasoning": ("推理",),
    "inference": ("推理",),
    "alignment": ("对齐",),
    "reinforcement": ("强化学习",),
    "reward": ("奖励",),
    "multimodal": ("多模态",),
    "open-source": ("开源",),
    "open": ("开源", "开放"),
    "weights": ("权重",),
    "license": ("许可",),
    "company": ("公司",),
    "team": ("团队",),
    "developed": ("开发", "推出"),
    "introduced": ("提出", "推出"),
    "proposed": ("提出",),
    "year": ("年",),
    "month": ("月",),
    "date": ("时间", "日期"),
    "dialogue": ("对话",),
    "chat": ("对话",),
    "code": ("代码",),
    "math": ("数学",),
    "vocabulary": ("词表",),
    "dimension": ("维度",),
    "hidden": ("隐藏",),
    "evaluation": ("评测", "评价"),
    "score": ("分数", "得分"),
    "accuracy": ("准确率",),
    "compute": ("算力", "计算"),
    "optimal": ("最优",),
    "scaling": ("缩放", "规模"),
    "law": ("定律",),
    "hallucination": ("幻觉",),
    "distillation": ("蒸馏",),
    "quantization": ("量化",),
    "embedding": ("嵌入", "编码"),
    "position": ("位置",),
    "positional": ("位置",),
    "encoding": ("编码",),
    "decoder": ("解码器",),
    "encoder": ("编码器",),
    "temperature": ("温度",),
}

# Words that make a question a question and say nothing about its subject; kept out of the BM25 query so
# "有多少" or "how many" does not pull in chunks that merely share them.
QUESTION_WORDS = frozenset(
    "有 多少 什么 哪些 哪个 哪 是 的 了 吗 呢 几 如何 怎么 怎样 为什么 是否 请问 请 一下 和 与 及 "
    "how many much what which when where who whom whose why does do did is are was were be been the a an "
    "of in on at to and or have has had it its they their for with by from as that this".split()
)

_WORD = re.compile(r"[A-Za-z][A-Za-z\-]*")


def expand_query(question: str) -> str:
    """The question followed by the Chinese words for the English domain terms it contains."""
    extra = [zh for word in _WORD.findall(question) for zh in EN_TO_ZH.get(word.lower(), ())]
    return question if not extra else f"{question} {' '.join(dict.fromkeys(extra))}"


def lexical_terms(question: str) -> list[str]:
    """BM25 query terms: the expanded question's tokens, each once, without question words."""
    from ingest.lexical import tokenize

    return [t for t in dict.fromkeys(tokenize(expand_query(question))) if t not in QUESTION_WORDS]
