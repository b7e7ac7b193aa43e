"""Bilingual query expansion for the lexical (BM25) side of retrieval.

Most facts in the reports are stated only in Chinese, while model names and numbers are mostly written in
Latin letters in both languages. Two tables help BM25 across the gap: the Chinese words for the domain terms
an English question uses, so "How many parameters…" also scores chunks that say "参数"; and the other names
of a model (`NAME_ALIASES`, plus the pairs the reports state, see `rag.aliases`), so "千问3" also scores
chunks that say "Qwen3". The dense side needs no help when the multilingual embedder is available.
"""

from __future__ import annotations

import re

from rag.aliases import Aliases

# Model names as the reports (or the model's makers) write them in Latin letters → the Chinese names used for
# the same model or its maker. Pairs the reports state themselves are learned from them (rag.aliases); this
# table holds the names they do not state. A version follows every name: 千问3 ↔ Qwen3.
NAME_ALIASES: dict[str, tuple[str, ...]] = {
    "Qwen": ("通义千问", "千问"),
    "ERNIE": ("文心",),
    "ERNIE Bot": ("文心一言",),
    "Hunyuan": ("混元",),
    "GLM": ("智谱",),
    "ChatGLM": ("智谱清言",),
    "Kimi": ("月之暗面",),
    "Moonshot AI": ("月之暗面",),
    "DeepSeek": ("深度求索",),
    "Baichuan": ("百川",),
    "Yi": ("零一万物",),
    "PanGu": ("盘古",),
    "WuDao": ("悟道",),
    "Doubao": ("豆包",),
    "Spark": ("星火", "讯飞星火"),
    "Zidong Taichu": ("紫东太初",),
}
CURATED_ALIASES = Aliases.from_table(NAME_ALIASES)

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

# Names of architectures and techniques rather than of models: in "How many Transformer layers does GPT-3 have?"
# the question is about GPT-3, and Transformer says what is counted (rag.query drops such a name from the
# entities when the question names anything else; "What is the Transformer?" keeps it).
GENERIC_TERMS = frozenset(
    "transformer transformers decoder decoders encoder encoders decoder-only encoder-decoder encoder-only attention "
    "self-attention moe mixture-of-experts layernorm rmsnorm rope ffn embedding embeddings tokenizer softmax".split()
) | frozenset(EN_TO_ZH)

# Words that make a question a question and say nothing about its subject; kept out of the BM25 query so
# "有多少" or "how many" does not pull in chunks that merely share them.
QUESTION_WORDS = frozenset(
    "有 多少 什么 哪些 哪个 哪 是 的 了 吗 呢 几 如何 怎么 怎样 为什么 是否 请问 请 一下 和 与 及 "
    "how many much what which when where who whom whose why does do did is are was were be been the a an "
    "of in on at to and or have has had it its they their for with by from as that this".split()
)

_WORD = re.compile(r"[A-Za-z][A-Za-z\-]*")


def expand_query(question: str, aliases: Aliases = CURATED_ALIASES) -> str:
    """The question followed by the other names of the models it names and the Chinese words for the English
    domain terms it contains: "千问3 有哪些模型尺寸？" → "千问3 有哪些模型尺寸？ Qwen3 通义千问3"."""
    extra = aliases.expansions(question) + [zh for word in _WORD.findall(question) for zh in EN_TO_ZH.get(word.lower(), ())]
    return question if not extra else f"{question} {' '.join(dict.fromkeys(extra))}"


def lexical_terms(question: str, aliases: Aliases = CURATED_ALIASES) -> list[str]:
    """BM25 query terms: the expanded question's tokens, each once, without question words."""
    from core.lexical import tokenize

    return [t for t in dict.fromkeys(tokenize(expand_query(question, aliases))) if t not in QUESTION_WORDS]


def bigram_query(question: str, aliases: Aliases = CURATED_ALIASES) -> str:
    """The text whose Chinese character bigrams query the bigram channel: the expanded question without its
    Chinese question words (多少, 哪些: their bigrams would match any chunk asking the same)."""
    expanded = expand_query(question, aliases)
    for word in sorted((w for w in QUESTION_WORDS if not w.isascii()), key=len, reverse=True):
        expanded = expanded.replace(word, " ")
    return expanded
