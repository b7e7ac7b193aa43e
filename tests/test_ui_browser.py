"""End to end in a real browser: the page served on 127.0.0.1, driven with Playwright in Debian's Chromium.

Two servers over the same index: the tiny random Qwen3 (streaming, a changed slider reaching the model) and
the extractive backend the offline product falls back to (an answer whose citations link to marked spans).
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import pytest

from core.config import IndexSettings
from rag.config import ModelSettings, SamplingParams, Settings
from rag.pipeline import Pipeline
from ui.app import build_app
from ui.cli import serve

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]  # fmt: skip
TIMEOUT_MS = 60_000
GOLD_QUESTION = "根据基础语言模型汇总表，PaLM 的训练 Tokens 规模是多少？"  # zh-table-005 of eval/data/qa.jsonl

# Skip at collection, before any session fixture (index, tiny model) is built for nothing.
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run the browser tests", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def shots(tmp_path) -> Path:
    """Where screenshots go: $UI_SCREENSHOTS (`UI_SCREENSHOTS=docs` refreshes the README's images), else a temp folder."""
    folder = Path(os.environ.get("UI_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    """An eval runs folder with one finished run: summary.json and a figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = tmp_path_factory.mktemp("runs") / "2025-06-01T02-00-00Z"
    run.mkdir()
    summary = {"settings": [{"temperature": 0.0, "grounded_accuracy": 0.71}, {"temperature": 0.7, "grounded_accuracy": 0.64}]}
    (run / "summary.json").write_text(json.dumps(summary))
    cells = [{"label": f"T={t}", "params": {"temperature": t, "top_p": 0.8, "k": k, "prompt": "default"}, "control": None}
             for t, k in ((0.0, 3), (0.7, 5))]  # fmt: skip
    (run / "run.json").write_text(json.dumps({"cells": cells}))
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.imshow([[0.71, 0.6], [0.64, 0.5]])
    ax.set_title("grounded accuracy")
    fig.savefig(run / "heatmap_accuracy.png")
    plt.close(fig)
    return run.parent


def _page_url(pipeline: Pipeline, runs: Path):
    port = _free_port()
    app = build_app(pipeline, runs_dir=runs)
    serve(app, host="127.0.0.1", port=port, block=False)
    return app, f"http://127.0.0.1:{port}/"


def _settings(index_dir, corpus_dir, **model) -> Settings:
    return Settings(
        index=IndexSettings(corpus=str(corpus_dir), index=str(index_dir), embedder="minilm"),
        model=ModelSettings(**model),
        sampling=SamplingParams(max_new_tokens=24),
    )


@pytest.fixture(scope="module")
def tiny_url(corpus_index, corpus_index_dir, corpus_dir, tiny_qwen_dir, runs_dir):
    pipeline = Pipeline(_settings(corpus_index_dir, corpus_dir, model=str(tiny_qwen_dir)), index=corpus_index)
    app, url = _page_url(pipeline, runs_dir)
    yield url
    app.close()


@pytest.fixture(scope="module")
def extractive_url(corpus_index, corpus_index_dir, corpus_dir, tmp_path_factory):
    pipeline = Pipeline(_settings(corpus_index_dir, corpus_dir, backend="extractive"), index=corpus_index)
    app, url = _page_url(pipeline, tmp_path_factory.mktemp("no-runs"))
    yield url
    app.close()


def _ask(page, question: str) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#question textarea").press("Enter")


def test_streamed_answer_uses_the_changed_slider(browser, tiny_url, tiny_qwen_dir, tmp_path):
    page = browser.new_page()
    page.goto(tiny_url)
    page.wait_for_selector("#status .rag-status", timeout=TIMEOUT_MS)
    assert str(tiny_qwen_dir) in page.inner_text("#status") and "transformers" in page.inner_text("#status")

    tokens = page.locator("#set-max-new-tokens input[type=number]")
    tokens.fill("12")
    tokens.press("Enter")
    _ask(page, "GPT-3 有多少参数？")
    page.wait_for_selector("#chat .rag-cursor", timeout=TIMEOUT_MS)  # the answer slot streams first
    page.wait_for_selector("#chat .rag-meta", timeout=TIMEOUT_MS)  # then the finished answer
    assert "GPT-3 有多少参数？" in page.inner_text("#chat")
    meta = page.inner_text("#chat .rag-meta")
    assert "max_new_tokens=12" in meta and "transformers" in meta
    assert page.locator("#chat .rag-sources").count() == 1
    page.screenshot(path=str(tmp_path / "tiny-model-answer.png"), full_page=True)

    page.get_by_role("tab", name="Eval", exact=True).click()
    page.wait_for_selector("#eval img", timeout=TIMEOUT_MS)
    assert "2025-06-01T02-00-00Z" in page.inner_text("#eval") and "grounded_accuracy" in page.inner_text("#eval")
    assert page.locator("#eval img").get_attribute("alt") == "heatmap_accuracy.png"
    page.screenshot(path=str(tmp_path / "eval-tab.png"), full_page=True)
    # Two settings of the run open in the A/B tab (defaults: the first two settings).
    page.locator("#eval-open").click()
    page.wait_for_selector("#ab-question textarea", state="visible", timeout=TIMEOUT_MS)
    page.get_by_text("Settings A").click()
    page.get_by_text("Settings B").click()
    assert page.locator("#abA-temperature input[type=number]").input_value() == "0"
    assert page.locator("#abB-temperature input[type=number]").input_value() == "0.7"
    assert page.locator("#abB-k input[type=number]").input_value() == "5"
    page.close()


def test_chinese_answer_with_citations_linked_to_marked_spans(browser, extractive_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(extractive_url)
    page.wait_for_selector("#question textarea", timeout=TIMEOUT_MS)

    page.locator("#question textarea").fill("")
    page.locator("#question textarea").press("Enter")
    page.wait_for_selector("#chat-error .rag-error", timeout=TIMEOUT_MS)
    assert "the question is empty" in page.inner_text("#chat-error")

    _ask(page, "GPT-3 有多少参数？")
    page.wait_for_selector("#chat .rag-citations li", timeout=TIMEOUT_MS)
    assert page.inner_text("#chat-error").strip() == ""
    assert "175B" in page.inner_text("#chat .rag-answer")
    link = page.locator("#chat a.rag-cite").first
    target = link.get_attribute("href")
    link.click()
    page.wait_for_function("target => location.hash === target", arg=target, timeout=10_000)
    cited = page.locator(f"#chat li{target}")
    assert cited.count() == 1 and cited.locator("mark.rag-support").first.inner_text().strip()
    page.screenshot(path=str(tmp_path / "citations.png"), full_page=True)

    page.get_by_role("tab", name="Eval", exact=True).click()
    page.wait_for_selector("#eval .rag-empty", timeout=TIMEOUT_MS)
    assert "No eval run yet" in page.inner_text("#eval")
    page.close()


def test_second_user_sees_a_queue_position_and_a_stopped_answer_frees_the_model(browser, tiny_url):
    first, second = browser.new_page(), browser.new_page()
    for page in (first, second):
        page.goto(tiny_url)
        page.wait_for_selector("#question textarea", timeout=TIMEOUT_MS)
    # A long generation: with seed 1 the tiny model writes all 2500 tokens for this question (no early EOS),
    # 10-30 s of decoding, so Stop lands while it runs even when the browser is slow on a loaded machine.
    for name, value in (("max-new-tokens", "2500"), ("seed", "1")):
        first.locator(f"#set-{name} input[type=number]").fill(value)
        first.locator(f"#set-{name} input[type=number]").press("Enter")
    _ask(first, "LaMDA 是哪一年发布的？")
    first.wait_for_function(
        "() => (document.querySelector('#chat .rag-answer')?.innerText || '').replace('▌', '').trim().length > 0",
        timeout=TIMEOUT_MS,
    )  # generating: it holds the only generation slot
    _ask(second, "GPT-3 有多少参数？")
    second.wait_for_selector("#chat .rag-cursor", timeout=TIMEOUT_MS)
    second.wait_for_function("() => /queue: 1\\/1/.test(document.querySelector('#chat').innerText)", timeout=TIMEOUT_MS)

    first.locator("#stop").click()
    first.wait_for_selector("#chat .rag-meta", timeout=TIMEOUT_MS)
    assert "Stopped: the answer above is what was generated" in first.inner_text("#chat")
    second.wait_for_selector("#chat .rag-meta", timeout=TIMEOUT_MS)  # the freed slot answers the waiting user
    assert "rag-error" not in second.inner_html("#chat")
    first.close()
    second.close()


def _set_number(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(value)
    box.press("Enter")


def _compare(page, question: str) -> tuple[str, str]:
    page.locator("#ab-question textarea").fill(question)
    page.locator("#ab-send").click()
    page.wait_for_selector("#ab-answer-a .rag-cursor", timeout=TIMEOUT_MS)  # accepted: the old results are gone
    page.wait_for_function(
        "() => /rows done 12\\/12 · done/.test(document.querySelector('#ab-progress').innerText)", timeout=TIMEOUT_MS
    )
    return page.inner_html("#ab-answer-a .prose"), page.inner_html("#ab-answer-b .prose")  # our HTML only


def _counts(page, side: str) -> list[int]:
    return [int(t.strip().lstrip("×")) for t in page.locator(f"#ab-answer-{side} .rag-count").all_inner_texts()]


def test_ab_samples_six_answers_per_side_reproducibly_scores_gold_and_saves_a_sweep(browser, tiny_url, tmp_path, shots):
    from eval.run import main as eval_run

    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(tiny_url)
    page.get_by_role("tab", name="A/B", exact=True).click()
    page.wait_for_selector("#ab-question textarea", timeout=TIMEOUT_MS)
    assert page.locator("#ab-samples input[type=number]").input_value() == "6"
    page.get_by_text("Settings B").click()
    _set_number(page, "abB-temperature", "0")  # B greedy, A samples at the default temperature

    html_a, html_b = _compare(page, GOLD_QUESTION)
    assert sum(_counts(page, "a")) == 6 and sum(_counts(page, "b")) == 6
    assert _counts(page, "b") == [6]  # greedy: one answer six times
    assert "grounded accuracy" in page.inner_text("#ab-answer-a") and "grounded accuracy" in page.inner_text("#ab-answer-b")
    gold = page.inner_text("#ab-gold")
    assert "zh-table-005" in gold and re.search(r"p = [\d.]+ \(mcnemar-exact over 6 sample pairs", gold)
    page.get_by_text("Settings B").click()  # folded again, so the screenshot shows both sides' results
    page.screenshot(path=str(shots / "screenshot-ab.png"), full_page=True)

    assert _compare(page, GOLD_QUESTION) == (html_a, html_b)  # same seeds and settings: the same samples

    with page.expect_download() as download:
        page.locator("#ab-save").click()
    config = tmp_path / "ab-sweep.yaml"
    download.value.save_as(str(config))
    page.close()
    assert eval_run(["--config", str(config), "--limit", "2", "--out", str(tmp_path / "runs"), "--quiet", "--no-report"]) == 0
    run = json.loads(next((tmp_path / "runs").glob("*/run.json")).read_text())
    assert run["status"] == "complete" and sorted(c["params"]["temperature"] for c in run["cells"]) == [0.0, 0.7]


def test_a_zhihu_citation_reads_clean_highlights_its_sentence_and_shows_the_original(browser, extractive_url, corpus_index, shots):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(extractive_url)
    _ask(page, "PaLM 的硬件 FLOPs 利用率是多少？")
    page.wait_for_selector("#chat .rag-citations li", timeout=TIMEOUT_MS)
    assert "57.8%" in page.inner_text("#chat .rag-answer")
    item = page.locator("#chat .rag-citations li").first
    assert item.locator(".rag-doc").inner_text() == "002_6ac13b971160b9c7.txt"  # the zhihu report
    shown = item.locator(".rag-passage").inner_text()
    assert "<sup" not in shown and "data-" not in shown and "**" not in shown and "Pathways" in shown
    assert item.locator("mark.rag-support").all_inner_texts() == ["PaLM 实现了 57.8% 的硬件 FLOPs 利用率的训练效率，是 LLM 在这个规模上实现的最高效率。"]
    cite = page.locator("#chat a.rag-cite").first
    cite.hover()
    assert cite.get_attribute("title").startswith("PaLM 实现了 57.8%")  # the hover preview

    summary = item.locator("details.rag-original summary")
    start, end = map(int, re.search(r"chars (\d+)–(\d+)", summary.inner_text()).groups())
    summary.click()
    raw = item.locator("details.rag-original mark").inner_text()
    assert raw == corpus_index.original("002_6ac13b971160b9c7.txt")[start:end] and "<sup data-text=" in raw
    page.screenshot(path=str(shots / "screenshot-ui.png"), full_page=True)
    page.close()
