"""The chat page over one shared `Pipeline`: chat with citations, A/B comparison, retrieval, eval results.

`build_app(pipeline)` wires the handlers below into a `gr.Blocks`; the handlers are plain functions (the
pipeline and defaults bound with functools.partial), so tests call them without a server. Generation runs in
a worker thread that streams tokens through a queue; the page's Stop button sets the request's stop event.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import queue
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from core.errors import UserError
from rag.config import RetrievalSettings, SamplingParams, Settings
from rag.types import Answer
from ui import ab, render
from ui.ab import GoldMatch
from ui.eval_tab import chosen_run, finished_runs, render_eval, run_cells

if TYPE_CHECKING:
    import gradio as gr

    from rag.pipeline import Pipeline

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000  # far beyond any real question; the pipeline also trims to the context window
STREAM_INTERVAL_S = 0.05  # at most ~20 page updates per second while tokens stream
QUEUE_SIZE = 64  # requests waiting beyond this get Gradio's "queue is full" message
SETTING_NAMES = (
    "temperature", "top_p", "top_k", "min_p", "repetition_penalty", "max_new_tokens", "seed", "thinking",
    "prompt", "k", "rerank",
)  # fmt: skip
EXAMPLES = ["GPT-3 有多少参数？", "When was Chinchilla released and how many parameters does it have?", "LaMDA 是哪一年发布的？"]


class StopSignal:
    """One session's Stop button. gr.State deep-copies values; this one stays shared by design."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __deepcopy__(self, memo: dict) -> StopSignal:
        return self

    def arm(self) -> None:
        """A new request was accepted: forget an earlier Stop."""
        self.event.clear()

    def stop(self) -> None:
        self.event.set()

    @property
    def stopped(self) -> bool:
        return self.event.is_set()


@dataclass(frozen=True)
class RequestSettings:
    """The per-request settings from a settings panel, validated."""

    sampling: SamplingParams
    retrieval: RetrievalSettings
    prompt: str


@dataclass(frozen=True)
class PendingQuestion:
    """A chat question accepted by the quick (unqueued) step, waiting for the generation step."""

    question: str
    settings: RequestSettings


@dataclass(frozen=True)
class PendingComparison:
    """An A/B question with both validated settings and the samples per side, waiting for the generation step."""

    question: str
    a: RequestSettings
    b: RequestSettings
    n: int
    gold: GoldMatch | None
    gold_note: str = ""  # why there is no gold comparison, when the gold set could not be read


# ---- validation -------------------------------------------------------------------------------------------


def check_question(message: str | None) -> str:
    """The stripped question, or a UserError saying what is wrong with it."""
    question = (message or "").strip()
    if not question:
        raise UserError("the question is empty; type a question about the reports")
    if len(question) > MAX_QUESTION_CHARS:
        raise UserError(
            f"the question is {len(question)} characters long; the page accepts up to {MAX_QUESTION_CHARS}: "
            "shorten it to the question itself"
        )
    return question


def _number(name: str, value: Any) -> float:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{name} needs a number, got {value!r}")
    return float(value)


def _whole(name: str, value: Any) -> int:
    number = _number(name, value)
    if number != int(number):
        raise UserError(f"{name} must be a whole number, got {value}")
    return int(number)


def default_values(settings: Settings) -> list[Any]:
    """A settings panel's values (in SETTING_NAMES order) for the given settings."""
    s, r = settings.sampling, settings.retrieval
    return [
        s.temperature, s.top_p, s.top_k, s.min_p, s.repetition_penalty, s.max_new_tokens, s.seed, s.thinking,
        settings.prompt, r.k, r.rerank,
    ]  # fmt: skip


def cell_values(defaults: Settings, params: dict[str, Any]) -> list[Any]:
    """A settings panel's values for one setting of an eval run (run.json `params`) over the page's defaults;
    what the panel cannot show (hybrid, candidates, reranker model) stays the page's."""
    sampling_fields = {f.name for f in dataclasses.fields(SamplingParams)} - {"seed"}
    sampling = dataclasses.replace(defaults.sampling, **{k: v for k, v in params.items() if k in sampling_fields})
    retrieval = dataclasses.replace(defaults.retrieval, **{k: params[k] for k in ("k", "rerank") if k in params})
    prompt = params.get("prompt", defaults.prompt)
    return default_values(dataclasses.replace(defaults, sampling=sampling, retrieval=retrieval, prompt=prompt))


def open_in_ab(defaults: Settings, runs_dir: str | Path, run_name: str | None, label_a: str | None, label_b: str | None) -> list[Any]:
    """Panel values of A and B (in SETTING_NAMES order each) for two settings of a run, picked by label."""
    run = chosen_run(runs_dir, run_name)
    cells = {c["label"]: c["params"] for c in run_cells(run)} if run else {}
    for side, label in (("A", label_a), ("B", label_b)):
        if label not in cells:
            raise UserError(f"pick setting {side} from the run's settings (got {label!r}); reload the run if it changed")
    return cell_values(defaults, cells[label_a]) + cell_values(defaults, cells[label_b])


def parse_settings(defaults: Settings, values: Sequence[Any], prompts: Sequence[str]) -> RequestSettings:
    """Validate a settings panel's values by building the shared config types (they raise UserError)."""
    if len(values) != len(SETTING_NAMES):
        raise ValueError(f"expected {len(SETTING_NAMES)} settings values, got {len(values)}")
    v = dict(zip(SETTING_NAMES, values))
    if v["prompt"] not in prompts:
        raise UserError(f"unknown prompt template {v['prompt']!r}; choose one of {', '.join(prompts)}")
    sampling = dataclasses.replace(
        defaults.sampling,
        temperature=_number("temperature", v["temperature"]),
        top_p=_number("top_p", v["top_p"]),
        top_k=_whole("top_k", v["top_k"]),
        min_p=_number("min_p", v["min_p"]),
        repetition_penalty=_number("repetition_penalty", v["repetition_penalty"]),
        max_new_tokens=_whole("max_new_tokens", v["max_new_tokens"]),
        seed=_whole("seed", v["seed"]),
        thinking=bool(v["thinking"]),
    )
    retrieval = dataclasses.replace(defaults.retrieval, k=_whole("k", v["k"]), rerank=bool(v["rerank"]))
    return RequestSettings(sampling, retrieval, str(v["prompt"]))


# ---- streaming ----------------------------------------------------------------------------------------------

_DONE = object()


def stream_answer(
    pipeline: Pipeline,
    question: str,
    settings: RequestSettings,
    *,
    history: list[tuple[str, str]] | None = None,
    stop: threading.Event,
) -> Iterator[str | Answer]:
    """Yield the answer text so far while `pipeline.ask` runs in a worker thread, then the final Answer.

    An exception in the worker is raised here. If the consumer goes away (page closed), the worker is stopped.
    """
    tokens: queue.Queue[Any] = queue.Queue()
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["answer"] = pipeline.ask(
                question,
                history=history,
                sampling=settings.sampling,
                retrieval=settings.retrieval,
                prompt=settings.prompt,
                on_token=tokens.put,
                stop=stop,
            )
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which reports it
            result["error"] = exc
        finally:
            tokens.put(_DONE)

    worker = threading.Thread(target=work, name="rag-answer", daemon=True)
    worker.start()
    text, last = "", 0.0
    try:
        while (item := tokens.get()) is not _DONE:
            text += item
            if time.monotonic() - last >= STREAM_INTERVAL_S:
                last = time.monotonic()
                yield text
    finally:
        if worker.is_alive():
            stop.set()
        worker.join()
    if "error" in result:
        raise result["error"]
    yield result["answer"]


def _final_html(pipeline: Pipeline, stream: Iterator[str | Answer], anchor: str, stopped: threading.Event, partial_html):
    """Drive a stream: yield (html, None) while streaming, then (html, Answer|None) once; errors become html."""
    try:
        for item in stream:
            if isinstance(item, str):
                yield partial_html(item), None
            else:
                yield render.render_answer(item, pipeline.index.original, anchor, stopped=stopped.is_set()), item
    except UserError as exc:
        yield render.render_error(str(exc)), None
    except Exception as exc:  # noqa: BLE001 - one failed request must not break the page
        log.exception("answering failed")
        yield render.render_error(
            f"answering failed ({type(exc).__name__}: {exc}); the page still works: ask again or change the settings"
        ), None


# ---- chat ---------------------------------------------------------------------------------------------------


def _user_message(text: str) -> dict[str, str]:
    return {"role": "user", "content": render.esc(text).replace("\n", "<br>")}


def _bot_message(html: str) -> dict[str, str]:
    return {"role": "assistant", "content": html}


def accept_question(defaults: Settings, prompts: Sequence[str], message: str, chat: list, signal: StopSignal, *values: Any):
    """Quick step: validate the question and settings, show the question. Returns
    (chatbot, chat, textbox, pending, error_html); a problem keeps the text in the box and shows the message."""
    try:
        question = check_question(message)
        settings = parse_settings(defaults, values, prompts)
    except UserError as exc:
        return chat, chat, message, None, render.render_error(str(exc))
    signal.arm()
    chat = [*chat, _user_message(question), _bot_message(render.render_partial("", settings.sampling.thinking))]
    return chat, chat, "", PendingQuestion(question, settings), ""


def answer_question(pipeline: Pipeline, pending: PendingQuestion | None, chat: list, history: list, signal: StopSignal):
    """Queued step: stream the answer into the last chat message. Yields (chatbot, chat, history)."""
    if pending is None:  # the quick step showed a problem instead
        yield chat, chat, history
        return
    head = chat[:-1]
    anchor = f"chat{sum(m['role'] == 'assistant' for m in chat)}"
    stream = stream_answer(pipeline, pending.question, pending.settings, history=history, stop=signal.event)
    thinking = pending.settings.sampling.thinking
    for html, answer in _final_html(pipeline, stream, anchor, signal.event, partial(render.render_partial, thinking=thinking)):
        if answer is not None:
            history = [*history, (pending.question, answer.answer)]
        chat = [*head, _bot_message(html)]
        yield chat, chat, history


def stop_request(signal: StopSignal) -> None:
    """The Stop button: end the session's running (or waiting) generation, keeping what was generated."""
    signal.stop()


def clear_chat():
    """Forget the conversation: (chatbot, chat, history, error_html)."""
    return [], [], [], ""


# ---- A/B ----------------------------------------------------------------------------------------------------


def _samples(value: Any) -> int:
    n = _whole("samples per side", value)
    if not 1 <= n <= ab.MAX_SAMPLES:
        raise UserError(f"samples per side must be between 1 and {ab.MAX_SAMPLES}, got {n}")
    return n


def accept_comparison(pipeline: Pipeline, prompts: Sequence[str], message: str, signal: StopSignal, samples: Any, *values: Any):
    """Quick step of the A/B tab: validate the question, the samples per side and both settings, and write them
    as a sweep config. Returns (pending, html_a, html_b, gold_html, progress_html, error_html, config_path)."""
    n_settings = len(SETTING_NAMES)
    try:
        question = check_question(message)
        n = _samples(samples)
        settings = []
        for side, part in (("A", values[:n_settings]), ("B", values[n_settings:])):
            try:
                settings.append(parse_settings(pipeline.settings, part, prompts))
            except UserError as exc:
                raise UserError(f"settings {side}: {exc}") from exc
    except UserError as exc:
        return None, "", "", "", "", render.render_error(str(exc)), None
    signal.arm()
    try:
        gold, gold_note = ab.find_gold(question, ab.gold_items(pipeline)), ""
    except UserError as exc:  # e.g. a corpus of one's own, which the gold set's evidence quotes are not from
        gold, gold_note = None, render.render_note(f"No gold comparison: the gold QA set does not fit this corpus ({exc}).")
    sides = dict(zip(ab.SIDES, settings))
    config = ab.write_sweep_config(pipeline, sides, n, tempfile.mkdtemp(prefix="ab-sweep-"))
    waiting = render.render_partial("")
    progress = render.render_progress(0, 2 * n)
    pending = PendingComparison(question, *settings, n=n, gold=gold, gold_note=gold_note)
    return pending, waiting, waiting, gold_note, progress, "", str(config)


def compare(pipeline: Pipeline, pending: PendingComparison | None, signal: StopSignal):
    """Sample n answers per side (`ui.ab.sample_sides`), updating both sides, the gold comparison and the
    progress line after every generate_many call. Yields (html_a, html_b, gold_html, progress_html)."""
    if pending is None:  # the quick step showed a problem instead
        yield "", "", "", ""
        return
    sides = {"A": pending.a, "B": pending.b}
    total = 2 * pending.n
    progress = ab.Progress([], [])
    item = pending.gold.item if pending.gold else None
    try:
        for progress in ab.sample_sides(pipeline, pending.question, sides, pending.n, gold=item, stop=signal.event):
            yield (*_render_sides(pipeline, pending, progress.samples), render.render_progress(progress.rows_done, total, progress.failed))
    except UserError as exc:
        yield render.render_error(str(exc)), "", "", render.render_progress(progress.rows_done, total, progress.failed, running=False)
        return
    except Exception as exc:  # noqa: BLE001 - one failed request must not break the page
        log.exception("A/B sampling failed")
        message = f"sampling failed ({type(exc).__name__}: {exc}); the page still works: try again or change the settings"
        yield render.render_error(message), "", "", render.render_progress(progress.rows_done, total, progress.failed, running=False)
        return
    stopped = signal.stopped and progress.rows_done < total
    html = _render_sides(pipeline, pending, progress.samples)
    yield (*html, render.render_progress(progress.rows_done, total, progress.failed, stopped=stopped, running=False))


def _render_sides(pipeline: Pipeline, pending: PendingComparison, samples: list[ab.Sample]) -> tuple[str, str, str]:
    """(html_a, html_b, gold_html) for the samples done so far."""
    by_side = {side: [s for s in samples if s.side == side] for side in ab.SIDES}
    html = [
        render.render_side(side, ab.summarize_side(by_side[side]), pipeline.index.original, f"ab{side}")
        if by_side[side] else render.render_partial("")
        for side in ab.SIDES
    ]  # fmt: skip
    gold = pending.gold_note
    if pending.gold is not None:
        gold = render.render_ab_gold(pending.gold, ab.paired_comparison(by_side["A"], by_side["B"]))
    return html[0], html[1], gold


# ---- retrieval ----------------------------------------------------------------------------------------------


def search_chunks(pipeline: Pipeline, query: str, k: Any, rerank: bool) -> str:
    """The retrieval tab: ranked chunks with scores for a query, without generation."""
    try:
        question = check_question(query)
        retrieval = dataclasses.replace(pipeline.settings.retrieval, k=_whole("k", k), rerank=bool(rerank))
        return render.render_hits(pipeline.retrieve(question, retrieval), question)
    except UserError as exc:
        return render.render_error(str(exc))
    except Exception as exc:  # noqa: BLE001 - one failed request must not break the page
        log.exception("retrieval failed")
        return render.render_error(f"retrieval failed ({type(exc).__name__}: {exc})")


# ---- page ---------------------------------------------------------------------------------------------------


def settings_panel(defaults: Settings, prompts: Sequence[str], prefix: str) -> list[gr.components.Component]:
    """Controls for every generation and retrieval setting, in SETTING_NAMES order; elem_ids `{prefix}-{name}`."""
    import gradio as gr

    s, r = defaults.sampling, defaults.retrieval
    ids = {name: f"{prefix}-{name.replace('_', '-')}" for name in SETTING_NAMES}
    return [
        gr.Slider(0, max(2.0, s.temperature), value=s.temperature, step=0.05, label="temperature", info="0 = greedy", elem_id=ids["temperature"]),
        gr.Slider(0, 1, value=s.top_p, step=0.01, label="top_p", info="nucleus mass kept, in (0, 1]", elem_id=ids["top_p"]),
        gr.Slider(0, max(200, s.top_k), value=s.top_k, step=1, label="top_k", info="0 = off", elem_id=ids["top_k"]),
        gr.Slider(0, 1, value=s.min_p, step=0.01, label="min_p", info="0 = off", elem_id=ids["min_p"]),
        gr.Slider(0.5, max(2.0, s.repetition_penalty), value=s.repetition_penalty, step=0.05, label="repetition_penalty", info="1.0 = off", elem_id=ids["repetition_penalty"]),
        gr.Slider(1, max(4096, s.max_new_tokens), value=s.max_new_tokens, step=1, label="max_new_tokens", info="thinking needs ~1024", elem_id=ids["max_new_tokens"]),
        gr.Number(value=s.seed, precision=0, minimum=0, label="seed", info="same seed + settings + model = same answer", elem_id=ids["seed"]),
        gr.Checkbox(value=s.thinking, label="thinking (Qwen3)", elem_id=ids["thinking"]),
        gr.Dropdown(choices=list(prompts), value=defaults.prompt, label="prompt template", elem_id=ids["prompt"]),
        gr.Slider(1, max(20, r.k), value=r.k, step=1, label="k", info="sources given to the model", elem_id=ids["k"]),
        gr.Checkbox(value=r.rerank, label="rerank sources (cross-encoder)", elem_id=ids["rerank"]),
    ]  # fmt: skip


def build_app(pipeline: Pipeline, *, runs_dir: str | Path = "eval/runs", max_concurrency: int = 1) -> gr.Blocks:
    """The page over `pipeline` (one model shared by every user); generation runs `max_concurrency` at a time."""
    import gradio as gr

    from rag.templates import PROMPTS

    if max_concurrency < 1:
        raise UserError(f"--max-concurrency must be >= 1, got {max_concurrency}")
    defaults = pipeline.settings
    prompts = list(PROMPTS)
    generate = {"concurrency_id": "generate", "concurrency_limit": max_concurrency}

    with gr.Blocks(title="LLM history reports: answers with citations", analytics_enabled=False) as app:
        gr.HTML(lambda: render.render_status(pipeline.status()), elem_id="status")
        with gr.Tabs() as tabs:
            with gr.Tab("Chat", id="chat-tab"):
                with gr.Row():
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            elem_id="chat", label="Answers from the reports", render_markdown=False, height=660,
                            buttons=["copy"], feedback_options=None,
                            placeholder="Ask about the history of large language models, in Chinese or English.",
                        )  # fmt: skip
                        question = gr.Textbox(
                            elem_id="question", show_label=False, lines=1, max_lines=6,
                            placeholder="e.g. GPT-3 有多少参数？ (Enter sends)",
                        )  # fmt: skip
                        with gr.Row():
                            send = gr.Button("Ask", variant="primary", elem_id="send")
                            stop = gr.Button("Stop", variant="stop", elem_id="stop")
                            clear = gr.Button("Clear chat", elem_id="clear")
                        chat_error = gr.HTML(elem_id="chat-error")
                        gr.Examples(EXAMPLES, inputs=question, label="Examples")
                    with gr.Column(scale=1, min_width=300):
                        gr.Markdown("### Settings")
                        chat_settings = settings_panel(defaults, prompts, "set")
                        reset = gr.Button("Reset to defaults", elem_id="set-reset")

            with gr.Tab("A/B", id="ab-tab"):
                gr.Markdown(
                    "The same question sampled n times under each of two settings (sample i of both sides uses seed + i), "
                    "from one shared prefill where the prompt is the same. Distinct answers with their counts; for a "
                    "question of the gold QA set, grounded accuracy and a paired test, scored as eval.run scores it."
                )
                ab_question = gr.Textbox(elem_id="ab-question", show_label=False, placeholder="Question for both settings")
                with gr.Row():
                    ab_samples = gr.Slider(1, ab.MAX_SAMPLES, value=ab.DEFAULT_SAMPLES, step=1, label="samples per side", elem_id="ab-samples", scale=2)
                    ab_send = gr.Button("Compare", variant="primary", elem_id="ab-send", scale=1)
                    ab_stop = gr.Button("Stop", variant="stop", elem_id="ab-stop", scale=1)
                    ab_reset = gr.Button("Reset both to defaults", elem_id="ab-reset", scale=1)
                    ab_save = gr.DownloadButton("Save as sweep config", elem_id="ab-save", visible=False, scale=1)
                ab_error = gr.HTML(elem_id="ab-error")
                ab_progress = gr.HTML(elem_id="ab-progress")
                ab_gold = gr.HTML(elem_id="ab-gold")
                with gr.Row():
                    with gr.Column():
                        with gr.Accordion("Settings A", open=False):
                            ab_settings_a = settings_panel(defaults, prompts, "abA")
                        ab_html_a = gr.HTML(elem_id="ab-answer-a", label="A")
                    with gr.Column():
                        with gr.Accordion("Settings B", open=False):
                            ab_settings_b = settings_panel(defaults, prompts, "abB")
                        ab_html_b = gr.HTML(elem_id="ab-answer-b", label="B")

            with gr.Tab("Retrieval", id="retrieval-tab"):
                gr.Markdown("The ranked chunks a question retrieves (hybrid dense + BM25), without generation.")
                with gr.Row():
                    r_query = gr.Textbox(elem_id="r-query", show_label=False, placeholder="Query", scale=4)
                    r_k = gr.Slider(1, defaults.retrieval.candidates, value=defaults.retrieval.k, step=1, label="k", elem_id="r-k", scale=2)
                    r_rerank = gr.Checkbox(value=defaults.retrieval.rerank, label="rerank", elem_id="r-rerank", scale=1)
                    r_send = gr.Button("Search", variant="primary", elem_id="r-send", scale=1)
                r_html = gr.HTML(elem_id="r-results")

            with gr.Tab("Eval", id="eval-tab") as eval_tab:
                with gr.Row():
                    eval_run = gr.Dropdown(label="run", choices=[], elem_id="eval-run", scale=3)
                    eval_a = gr.Dropdown(label="setting A", choices=[], elem_id="eval-a", scale=2)
                    eval_b = gr.Dropdown(label="setting B", choices=[], elem_id="eval-b", scale=2)
                    eval_open = gr.Button("Open in A/B", elem_id="eval-open", scale=1)
                    eval_refresh = gr.Button("Reload runs", elem_id="eval-refresh", scale=1)
                eval_error = gr.HTML(elem_id="eval-error")
                eval_html = gr.HTML(lambda: render_eval(runs_dir), elem_id="eval")

        chat_state, history_state = gr.State([]), gr.State([])
        chat_pending, chat_stop = gr.State(None), gr.State(StopSignal)
        gr.on(
            [question.submit, send.click],
            partial(accept_question, defaults, prompts),
            inputs=[question, chat_state, chat_stop, *chat_settings],
            outputs=[chatbot, chat_state, question, chat_pending, chat_error],
            queue=False,
        ).then(
            partial(answer_question, pipeline),
            inputs=[chat_pending, chat_state, history_state, chat_stop],
            outputs=[chatbot, chat_state, history_state],
            **generate,
        )
        stop.click(stop_request, inputs=chat_stop, queue=False)
        clear.click(clear_chat, outputs=[chatbot, chat_state, history_state, chat_error], queue=False)
        reset.click(partial(default_values, defaults), outputs=chat_settings, queue=False)

        ab_pending, ab_stop_signal, ab_config = gr.State(None), gr.State(StopSignal), gr.State(None)
        gr.on(
            [ab_question.submit, ab_send.click],
            partial(accept_comparison, pipeline, prompts),
            inputs=[ab_question, ab_stop_signal, ab_samples, *ab_settings_a, *ab_settings_b],
            outputs=[ab_pending, ab_html_a, ab_html_b, ab_gold, ab_progress, ab_error, ab_config],
            queue=False,
        ).then(
            lambda path: gr.DownloadButton(value=path, visible=path is not None), inputs=ab_config, outputs=ab_save, queue=False
        ).then(
            partial(compare, pipeline), inputs=[ab_pending, ab_stop_signal], outputs=[ab_html_a, ab_html_b, ab_gold, ab_progress], **generate
        )
        ab_stop.click(stop_request, inputs=ab_stop_signal, queue=False)
        ab_reset.click(lambda: default_values(defaults) * 2, outputs=[*ab_settings_a, *ab_settings_b], queue=False)

        gr.on([r_query.submit, r_send.click], partial(search_chunks, pipeline), inputs=[r_query, r_k, r_rerank], outputs=r_html)

        def show_run(name: str | None):
            run = chosen_run(runs_dir, name)
            labels = [c["label"] for c in run_cells(run)] if run else []
            names = [p.name for p in finished_runs(runs_dir)]
            return (gr.Dropdown(choices=names, value=run.name if run else None), render_eval(runs_dir, name),
                    gr.Dropdown(choices=labels, value=labels[0] if labels else None),
                    gr.Dropdown(choices=labels, value=labels[1] if len(labels) > 1 else None), "")  # fmt: skip

        eval_outputs = [eval_run, eval_html, eval_a, eval_b, eval_error]
        gr.on([eval_refresh.click, eval_tab.select], lambda: show_run(None), outputs=eval_outputs, queue=False)
        eval_run.input(show_run, inputs=eval_run, outputs=eval_outputs, queue=False)

        def open_run_settings(name, label_a, label_b):
            try:
                values = open_in_ab(defaults, runs_dir, name, label_a, label_b)
            except UserError as exc:
                keep = [gr.update()] * (2 * len(SETTING_NAMES) + 1)
                return [*keep, render.render_error(str(exc))]
            return [*values, gr.Tabs(selected="ab-tab"), ""]

        eval_open.click(open_run_settings, inputs=[eval_run, eval_a, eval_b],
                        outputs=[*ab_settings_a, *ab_settings_b, tabs, eval_error], queue=False)  # fmt: skip

    # Waiting users get their queue position every second (Gradio's "auto" only updates it when a job starts).
    app.queue(default_concurrency_limit=max_concurrency, max_size=QUEUE_SIZE, status_update_rate=1)
    return app


CSS = """
.rag-answer { line-height: 1.65; }
.rag-cite { font-weight: 600; color: var(--color-accent); text-decoration: none; padding: 0 .1em; }
.rag-citations-title { margin-top: .8em; font-weight: 600; font-size: .9em; }
.rag-citations { margin: .2em 0 0 1.4em; padding: 0; }
.rag-citations li { margin: .45em 0; }
.rag-citations li:target { outline: 2px solid var(--color-accent); border-radius: 4px; }
.rag-doc { font-family: var(--font-mono); font-size: .85em; }
.rag-span, .rag-heading, .rag-score { color: var(--body-text-color-subdued); font-size: .85em; margin-left: .5em; }
.rag-excerpt { white-space: pre-wrap; font-size: .9em; border-left: 3px solid var(--border-color-primary);
  padding-left: .6em; margin: .25em 0; }
.rag-excerpt { color: var(--body-text-color-subdued); }
.rag-excerpt mark { background: rgba(250, 204, 21, .3); color: var(--body-text-color); padding: 0 .1em; }
.rag-sources { margin-top: .6em; font-size: .9em; }
.rag-refusal { border-left: 4px solid #d97706; background: rgba(217,119,6,.08); padding: .4em .7em; }
.rag-error { border-left: 4px solid #dc2626; background: rgba(220,38,38,.08); padding: .4em .7em; }
.rag-notice { border-left: 4px solid #2563eb; background: rgba(37,99,235,.07); padding: .35em .7em; margin: .2em 0;
  font-size: .9em; }
.rag-label { font-weight: 700; margin-right: .4em; }
.rag-note { color: var(--body-text-color-subdued); font-size: .85em; margin: .3em 0; }
.rag-meta { color: var(--body-text-color-subdued); font-size: .78em; margin-top: .6em; }
.rag-cursor { opacity: .6; }
.rag-status { display: flex; flex-wrap: wrap; gap: .4em 1.4em; font-size: .9em; }
.rag-table-wrap { overflow-x: auto; max-width: 100%; }
.rag-table { border-collapse: collapse; font-size: .88em; margin: .4em 0 1em; }
.rag-table th, .rag-table td { border: 1px solid var(--border-color-primary); padding: .25em .5em; vertical-align: top; }
.rag-hits td.rag-excerpt { border-left: 1px solid var(--border-color-primary); }
.rag-figure { display: inline-block; margin: .5em; max-width: 48%; vertical-align: top; }
.rag-figure img { max-width: 100%; }
.rag-passage { color: var(--body-text-color-subdued); font-size: .9em; border-left: 3px solid var(--border-color-primary);
  padding-left: .6em; margin: .25em 0; }
.rag-passage p, .rag-passage h1, .rag-passage h2, .rag-passage h3, .rag-passage h4 { margin: .2em 0; font-size: 1em; }
.rag-passage mark.rag-support { background: rgba(250, 204, 21, .35); color: var(--body-text-color); padding: 0 .1em; }
.rag-passage table { border-collapse: collapse; font-size: .95em; }
.rag-passage td, .rag-passage th { border: 1px solid var(--border-color-primary); padding: .1em .4em; }
.rag-original summary, .rag-cluster-citations summary { cursor: pointer; font-size: .85em; color: var(--color-accent); }
.rag-ab-figures { font-size: .95em; margin: .3em 0; }
.rag-clusters { margin: .2em 0 0 1.2em; padding: 0; }
.rag-cluster { margin: .5em 0; }
.rag-count { font-weight: 700; margin-right: .5em; }
.rag-verdict { font-size: .85em; color: var(--body-text-color-subdued); }
.rag-progress, .rag-ab-gold { font-size: .9em; margin: .2em 0; }
.rag-figure figcaption { font-size: .8em; color: var(--body-text-color-subdued); text-align: center; }
"""


def theme() -> gr.themes.Base:
    """Gradio's default look with local fonts (no font download, CJK-capable), so the page works offline."""
    import gradio as gr

    sans = ["Noto Sans CJK SC", "Noto Sans", "ui-sans-serif", "system-ui", "sans-serif"]
    return gr.themes.Default(font=sans, font_mono=["Noto Sans Mono CJK SC", "ui-monospace", "monospace"])
