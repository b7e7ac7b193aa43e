"""Cleaning real excerpts of every corpus file: noise goes, facts and structure stay, offsets point back."""

from __future__ import annotations

import re

import pytest

from ingest.clean import SUPERSCRIPT_DIGITS, clean_text


def _read(corpus_dir, prefix: str) -> str:
    (path,) = corpus_dir.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def _excerpt(text: str, start: str, end: str) -> str:
    """The original text from the first `start` to the first `end` after it (inclusive)."""
    i = text.index(start)
    return text[i : text.index(end, i) + len(end)]


def _cells(row: str) -> list[str]:
    return [re.sub("-{3,}", "---", c.strip()) for c in row.strip().strip("|").split("|")]


def test_002_web_markdown_loses_front_matter_reference_tags_and_links(corpus_dir):
    raw = _read(corpus_dir, "002")
    excerpt = _excerpt(raw, "---\nsource:", "做大模型的必要性。\n\n### LaMDA")
    assert "<sup data-text" in excerpt and "data-tooltip" in excerpt  # the excerpt really has the noise
    clean = clean_text(excerpt).text
    for noise in ("<sup", "</a>", "data-", "ref_3", "source:", "](http", "https://", "&quot;"):
        assert noise not in clean
    assert re.search(r"^### \*\*GPT-3\*\*$", clean, re.M)  # heading kept, its reference tag gone
    assert "但 **GPT-3 将模型参数规模扩大至 175B**，是 GPT-2 的 100 倍" in clean
    assert "| GPT-3 | 2020-05 | OpenAI | 英 | 175B | 300B | | Decoder | × |" in clean.splitlines()
    assert "| MT-NLG | 2021-10 | Microsoft | 英 | 530B | 270B | | Decoder | × |" in clean.splitlines()
    assert "1.5B/7B/8B /14B/32B/ /70B/671B" in clean  # <br> inside a table cell becomes a space, row intact
    assert "| Baichuan 2 | 7B/13B | baichuan2 |" in clean  # link text kept, Hugging Face URL gone
    assert "总结笔记12. 为什么LLM都是Decoder-only的架构-OK" in clean  # [[wiki link]] text kept


def test_002_zhida_search_links_keep_the_entity_name(corpus_dir):
    excerpt = _excerpt(_read(corpus_dir, "002"), "由于扩大语言模型可以提高性能", "能够显着改善")
    assert "zhida.zhihu.com" in excerpt
    clean = clean_text(excerpt).text
    assert "谷歌提出 UL2R 方法，**在几乎可以忽略不计的额外计算成本" in clean
    assert "zhida" not in clean and "http" not in clean


def test_001_pdf_text_loses_markers_and_stubs_and_broken_lines_are_joined(corpus_dir):
    raw = _read(corpus_dir, "001")
    excerpt = _excerpt(raw, "发展历程：", "每个术语附有中文解释和⁸ 英文术语：")
    assert "模⁴ 型" in excerpt and "通过人与反馈强\n\n化学习" in excerpt
    clean = clean_text(excerpt).text
    assert not re.search(f"[{SUPERSCRIPT_DIGITS}]", clean)
    for stub in ("EN.WIKIPEDIA.ORG", "DATABRICKS.COM"):
        assert stub not in clean
    assert "即在特定任务或指令数据上进一步训练模型, 使其适应实际应用" in clean  # "模⁴ 型" rejoined
    assert "2022年底的 ChatGPT（基于GPT-3.5）通过人与反馈强化学习 (RLHF) 微调" in clean  # page break joined
    assert "2020 年的 GPT-3 提升到1750亿参数，只提供API服务" in clean
    assert "如 1990 年代 IBM 的统计翻译模型和 n-gram 模型等。随着神经网络的发展" in clean  # stub between them gone
    assert "生成连贯的文本回答。\n\n## 基础概念解释\n\n大语言模型涉及许多概念。" in clean  # a marked PDF title line
    assert clean.endswith("每个术语附有中文解释和英文术语：")


def test_001_stub_links_split_list_items_and_page_breaks(corpus_dir):
    raw = _read(corpus_dir, "001")
    excerpt = _excerpt(raw, "- **Claude 3.5 Sonnet**", "Llama 3系列模型在开源社区中快速传播")
    assert "[ANTHROPIC.COM](#)" in excerpt and "\n\n- 4月首先发布" in excerpt
    clean = clean_text(excerpt).text
    assert "ANTHROPIC" not in clean and "KAVOUT" not in clean and "(#)" not in clean
    assert "扩展到惊人的**200K tokens**（约相当于15万字），可以处理超长文档而一次性输出结果" in clean
    assert "最强的视觉模型" in clean and "Sonnet成为Anthropic目前最强的视觉模型" in clean
    assert "Llama 3在2024年4月首先发布8B和70B两个规模的模型。与前代相比" in clean  # "- 4月" was a split, not an item
    assert "包括一个高达**4050亿参数**的变体——这被认为是迄今最大规模的开源模型之一" in clean


def test_001_list_items_headings_and_paragraphs_stay_apart(corpus_dir):
    raw = _read(corpus_dir, "001")
    clean = clean_text(_excerpt(raw, "- **GLUE/SuperGLUE**", "开源 vs. 闭源架构")).text
    assert "LLM在这些基准上已经接近或超过人类水平，标志着模型对基础NLP任务的掌握。" in clean
    assert re.search(r"^- \*\*MMLU \(Massive Multitask Language Understanding\)\*\*：综合性知识测评基准，涵盖57个学科", clean, re.M)
    assert "\n\n## 技术细节介绍\n\n大语言模型在架构设计" in clean
    assert "\n\n开源 vs. 闭源架构" in clean


def test_000_answers_keep_separators_and_lose_link_references(corpus_dir):
    raw = _read(corpus_dir, "000")
    excerpt = raw[: raw.index("===", raw.index("===") + 3) + 3]  # the question and the whole first answer
    assert "([arXiv][5])" in excerpt and "[5]: https://arxiv.org/abs/2005.14165" in excerpt
    clean = clean_text(excerpt).text
    for noise in ("([arXiv]", "[5]:", "utm_source", "https://", "][", "\n---\n"):
        assert noise not in clean
    assert clean.startswith("Q: 请列出从第一版BERT2.0？")
    assert clean.count("\n===\n") == 1 and clean.endswith("===")
    assert "* **GPT-3（2020-05-28，论文）**：175B；论文覆盖多类 NLP 基准与 few-shot 评测；" in clean
    assert "  简评：把“in-context learning（不给梯度、只给示例）”带到台前，但成本高、幻觉与对齐问题突出。\n" in clean
    assert "* **DeepSeek-V2（2024-05，论文）**：MoE **236B 总参数 / 21B 激活**；**128K** 上下文；" in clean


@pytest.mark.parametrize("prefix, header", [("003", "| 维度"), ("004", "| 模型系列")])
def test_003_004_tables_stay_intact(corpus_dir, prefix, header):
    raw = _read(corpus_dir, prefix)
    lines = raw[raw.index(header) :].splitlines()
    table = lines[: next(i for i, line in enumerate(lines) if not line.startswith("|"))]
    assert len(table) >= 7
    clean_rows = [r for r in clean_text(raw).text.splitlines() if r.startswith("|")]
    for row in table:
        assert any(_cells(row) == _cells(c) for c in clean_rows), row


def test_004_front_matter_title_latex_and_markdown_paragraphs(corpus_dir):
    raw = _read(corpus_dir, "004")
    clean = clean_text(raw)
    assert clean.title == "GPT和Qwen系列"
    assert "layout: post" not in clean.text and "<!-- more -->" not in clean.text
    assert r"$$L_1(\mathcal{U}) = \sum_i \log P(u_i | u_{i-k}, \dots, u_{i-1}; \Theta)$$" in clean.text
    # In Markdown a blank line is a paragraph boundary even without a full stop before it.
    assert "2. 随后使用有监督目标将这些参数适应到具体的目标任务中\n\n具体的训练目标是最大化以下似然函数：" in clean.text
    assert "\n### 1.3 GPT-3：语言模型是少样本学习者\n" in clean.text


def test_every_kept_character_maps_to_the_same_character_in_the_original(corpus_dir):
    for path in sorted(corpus_dir.glob("*.txt")):
        raw = path.read_text(encoding="utf-8")
        clean = clean_text(raw)
        assert len(clean.offsets) == len(clean.text)
        assert all(a <= b for a, b in zip(clean.offsets, clean.offsets[1:])), path.name
        inserted = set()  # "#" of headings the cleaner promoted from PDF title lines
        for m in re.finditer(r"^#+ ", clean.text, re.M):
            if raw[clean.offsets[m.start()]] != "#":
                inserted.update(range(m.start(), m.end()))
        wrong = [i for i, ch in enumerate(clean.text) if not ch.isspace() and i not in inserted and raw[clean.offsets[i]] != ch]
        assert wrong == [], (path.name, [(clean.text[i], raw[clean.offsets[i]]) for i in wrong[:5]])
        assert len(clean.text) < len(raw)


def test_html_becomes_markdown_with_visible_text_only():
    page = """<!DOCTYPE html><html><head><title>LLM &amp; 历史</title><style>p{color:red}</style></head>
    <body><h1>大模型</h1><p>GPT-3 has <b>175B</b>
    parameters<sup><a href="#r1">[1]</a></sup>.</p><script>var x = "<p>no</p>";</script>
    <h2>Table</h2><table><tr><th>模型</th><th>参数</th></tr><tr><td>GPT-3</td><td>175B</td></tr></table>
    <ul><li>one &lt;item&gt;</li><li>two</li></ul></body></html>"""
    clean = clean_text(page, kind="html")
    assert clean.title == "LLM & 历史"
    assert "# 大模型" in clean.text and "## Table" in clean.text
    assert "GPT-3 has 175B parameters." in clean.text
    assert "| 模型 | 参数 |" in clean.text and "| GPT-3 | 175B |" in clean.text
    assert "- one &lt;item&gt;" in clean.text and "- two" in clean.text  # escaped text stays text
    assert "var x" not in clean.text and "color" not in clean.text and "[1]" not in clean.text
    start = clean.text.index("GPT-3 has")
    assert page[clean.offsets[start] : clean.offsets[start] + 9] == "GPT-3 has"


def test_control_characters_are_removed_and_offsets_still_map():
    text = "GPT-3\x1b[31m 有 175B\x07 参数\x7f。\n\tend\x9b"
    clean = clean_text(text)
    assert clean.text == "GPT-3[31m 有 175B 参数。\n\tend"
    assert all(text[clean.offsets[i]] == ch for i, ch in enumerate(clean.text))


def test_escaped_markup_stays_escaped_and_other_entities_decode():
    text = "Payload: &lt;script&gt;alert(1)&lt;/script&gt; &#60;b&#x3e; &amp;lt; R&amp;D &eacute; &#21315;问"
    clean = clean_text(text)
    assert clean.text == "Payload: &lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt; &amp;lt; R&D é 千问"
    assert "<" not in clean.text and ">" not in clean.text
