"""HTML for the chat page: answers with linked citation numbers, citation lists, sources, status, errors.

A citation shows the cited chunk as the reader checks it (`ui.passage`: cleaned Markdown, supporting sentences
highlighted) and, behind "show original", the exact original characters with the cited span marked.

Everything that comes from a model, a user or a file is escaped here; the page shows these strings as HTML
(the chatbot runs with markdown off), so this module is the one place that decides what becomes markup.
"""

from __future__ import annotations

import html
import re
from typing import Any, Callable, Iterable

from rag.citations import CITATION_MARKER
from rag.types import Answer, Citation, Hit
from ui import passage

CONTEXT_CHARS = 80  # original text shown on each side of a cited span
MARK_CHARS = 1500  # a longer cited span (several merged chunks) is shown with its middle elided

OriginalText = Callable[[str], str]  # doc_id -> the original file's text (pipeline.index.original)


def esc(text: Any) -> str:
    """Escape any value for HTML text and attribute positions."""
    return html.escape("" if text is None else str(text), quote=True)


def _paragraphs(text: str) -> str:
    return esc(text).replace("\n", "<br>")


def link_citations(text: str, anchor: str, numbers: Iterable[int], previews: dict[int, str] | None = None) -> str:
    """Escape an answer and link each cited number that has a citation entry (markers as rag.citations reads them);
    `previews[n]`, when given, becomes the link's hover text (the sentence that supports it)."""
    known = set(numbers)
    previews = previews or {}

    def link_number(d: re.Match[str]) -> str:
        n = int(d.group())
        if n not in known:
            return d.group()
        title = f' title="{esc(previews[n])}"' if n in previews else ""
        return f'<a class="rag-cite" href="#{anchor}-{n}"{title}>{n}</a>'

    # Markers hold only brackets, digits, separators and words, which escaping leaves alone: link after escaping.
    return CITATION_MARKER.sub(lambda m: re.sub(r"\d+", link_number, m.group()), _paragraphs(text))


def excerpt(original: str, start: int, end: int, context: int = CONTEXT_CHARS, mark: int = MARK_CHARS) -> str:
    """A short stretch of `original` around [start, end) with the span in <mark>, escaped."""
    start = max(0, min(start, len(original)))
    end = max(start, min(end, len(original)))
    before_at = max(0, start - context)
    after_to = min(len(original), end + context)
    span = original[start:end]
    if len(span) > mark:
        half = mark // 2
        marked = f"{esc(span[:half])}</mark> … <mark>{esc(span[-half:])}"
    else:
        marked = esc(span)
    return (
        ("…" if before_at > 0 else "")
        + esc(original[before_at:start])
        + f"<mark>{marked}</mark>"
        + esc(original[end:after_to])
        + ("…" if after_to < len(original) else "")
    )


def _original_or_none(original: OriginalText, doc_id: str) -> str | None:
    try:
        return original(doc_id)
    except (OSError, KeyError, ValueError):
        return None  # file moved or deleted since indexing: the caller shows the indexed text instead


def render_citation(citation: Citation, original: OriginalText, anchor: str, claim: str = "") -> str:
    """One citation list entry: number, document, heading path, then the cited chunk as cleaned, rendered text
    with the sentences supporting `claim` (what the answer says with this source) highlighted, and a
    "show original" toggle with the exact original characters around the span, the span marked."""
    text = _original_or_none(original, citation.doc)
    support = passage.supporting_sentences(citation.text, claim) if claim else ()
    body = f'<div class="rag-passage">{passage.render_markdown(citation.text, support)}</div>'
    if text is not None and 0 <= citation.start < citation.end <= len(text):
        body += (
            f'<details class="rag-original"><summary>show original (chars {citation.start}–{citation.end})</summary>'
            f'<div class="rag-excerpt">{excerpt(text, citation.start, citation.end)}</div></details>'
        )
    else:
        body += (
            '<div class="rag-note">The original file is no longer available at this position; '
            "showing the indexed text. Rebuild the index: python -m ingest</div>"
        )
    heading = f' <span class="rag-heading">{esc(citation.heading)}</span>' if citation.heading else ""
    return (
        f'<li id="{anchor}-{citation.n}" value="{citation.n}">'
        f'<span class="rag-doc">{esc(citation.doc)}</span>'
        f'<span class="rag-span"> chars {citation.start}–{citation.end}</span>{heading}{body}</li>'
    )


def citation_previews(citations: list[Citation], answer: str) -> dict[int, str]:
    """Per cited number, the supporting sentence(s) of its passage as plain text (the `[n]` hover text)."""
    out = {}
    for c in citations:
        spans = passage.supporting_sentences(c.text, passage.cited_claim(answer, c.n))
        out[c.n] = passage.preview(c.text, spans)
    return out


def render_citations(citations: list[Citation], original: OriginalText, anchor: str, answer: str = "") -> str:
    """The numbered citation list an answer's [n] links point to; `answer` decides each passage's highlight."""
    if not citations:
        return ""
    items = "".join(
        render_citation(c, original, anchor, passage.cited_claim(answer, c.n) if answer else "") for c in citations
    )
    return f'<div class="rag-citations-title">Citations</div><ol class="rag-citations">{items}</ol>'


def render_sources(sources: list[Hit], anchor: str) -> str:
    """All sources given to the model, collapsed: number, score, document, heading, chunk text."""
    if not sources:
        return ""
    rows = "".join(
        f'<li value="{n}"><span class="rag-doc">{esc(h.chunk.doc_id)}</span> '
        f'<span class="rag-score">score {h.score:.4f}</span> '
        f'<span class="rag-heading">{esc(h.chunk.heading)}</span>'
        f'<div class="rag-passage">{passage.render_markdown(h.chunk.text)}</div></li>'
        for n, h in enumerate(sources, start=1)
    )
    return (
        f'<details class="rag-sources" id="{anchor}-sources"><summary>Sources given to the model ({len(sources)})'
        f"</summary><ol>{rows}</ol></details>"
    )


def render_thinking(thinking: str | None) -> str:
    """Qwen3's reasoning in a collapsed block, apart from the answer."""
    if not thinking or not thinking.strip():
        return ""
    return f'<details class="rag-thinking"><summary>Thinking</summary><div>{_paragraphs(thinking.strip())}</div></details>'


def render_partial(text: str, thinking: bool = False) -> str:
    """The answer text streamed so far (the generator passes answer text only, never reasoning), with a cursor."""
    waiting = '<span class="rag-note">Thinking… the reasoning appears when the answer is complete.</span>' if thinking and not text else ""
    return f'<div class="rag-answer">{waiting}{_paragraphs(text)}<span class="rag-cursor">▌</span></div>'


def render_params(answer: Answer) -> str:
    """One line with the settings that produced an answer (what A/B users compare)."""
    s = answer.params.get("sampling", {})
    r = answer.params.get("retrieval", {})
    parts = [f"{k}={s[k]}" for k in ("temperature", "top_p", "top_k", "min_p", "repetition_penalty", "max_new_tokens", "seed", "thinking") if k in s]
    parts += [f"k={r['k']}"] if "k" in r else []
    parts += ["rerank"] if r.get("rerank") else []
    parts += [f"prompt={answer.params['prompt']}"] if "prompt" in answer.params else []
    return esc(" · ".join(parts))


def render_timings(answer: Answer) -> str:
    t = answer.timings
    bits = [f"{esc(answer.model)} ({esc(answer.backend)})"]
    if "retrieve_ms" in t:
        bits.append(f"retrieval {t['retrieve_ms']:.0f} ms")
    if "ttft_ms" in t:
        bits.append(f"first token {t['ttft_ms']:.0f} ms")
    if "generate_ms" in t:
        bits.append(f"generation {t['generate_ms']:.0f} ms")
    if t.get("new_tokens"):
        bits.append(f"{int(t['new_tokens'])} tokens, {t.get('tokens_per_s', 0):.1f} tokens/s")
    return " · ".join(bits)


def render_answer(answer: Answer, original: OriginalText, anchor: str, *, stopped: bool = False) -> str:
    """A finished answer: notices, thinking, the answer (or refusal) with linked numbers, citations, sources."""
    out = [f'<div class="rag-notice">{esc(n)}</div>' for n in answer.notices]
    out.append(render_thinking(answer.thinking))
    if stopped and not answer.answer.strip():
        out.append('<div class="rag-note">Stopped before the model wrote any answer text.</div>')
    elif answer.refused:
        out.append(
            f'<div class="rag-refusal"><span class="rag-label">Not in the reports</span> '
            f"{_paragraphs(answer.answer or '(the model returned no text)')}</div>"
        )
    else:
        numbers = [c.n for c in answer.citations]
        previews = citation_previews(answer.citations, answer.answer)
        out.append(f'<div class="rag-answer">{link_citations(answer.answer, anchor, numbers, previews)}</div>')
    if stopped and answer.answer.strip():
        out.append('<div class="rag-note">Stopped: the answer above is what was generated before you pressed Stop.</div>')
    elif answer.truncated:
        out.append(
            '<div class="rag-note">Cut off: the answer reached max_new_tokens; raise it in Settings for a complete answer.</div>'
        )
    if not answer.refused and not answer.citations and answer.answer.strip():
        out.append('<div class="rag-note">This answer cites no source; check it against the sources below.</div>')
    out.append(render_citations(answer.citations, original, anchor, answer.answer))
    out.append(render_sources(answer.sources, anchor))
    out.append(f'<div class="rag-meta">{render_params(answer)}<br>{render_timings(answer)}</div>')
    return "".join(out)


def render_note(message: str) -> str:
    """A quiet one-line remark."""
    return f'<div class="rag-note">{esc(message)}</div>'


def render_error(message: str) -> str:
    """A readable one-line problem, shown where the answer would be."""
    return f'<div class="rag-error"><span class="rag-label">Problem</span> {esc(message)}</div>'


def render_hits(hits: list[Hit], question: str) -> str:
    """The retrieval tab: ranked chunks with fused score, dense/lexical ranks and rerank score."""
    if not hits:
        return f'<div class="rag-note">No chunk matched {esc(question)!s}.</div>'

    def rank(value: int | None) -> str:
        return "–" if value is None else str(value)  # ranks start at 1; None = not in that list

    rows = "".join(
        "<tr>"
        f"<td>{n}</td><td>{h.score:.4f}</td><td>{rank(h.dense_rank)}</td><td>{rank(h.lexical_rank)}</td>"
        f"<td>{'–' if h.rerank_score is None else f'{h.rerank_score:.3f}'}</td>"
        f'<td><span class="rag-doc">{esc(h.chunk.doc_id)}</span><br><span class="rag-heading">{esc(h.chunk.heading)}</span></td>'
        f'<td class="rag-excerpt">{esc(h.chunk.text)}</td>'
        "</tr>"
        for n, h in enumerate(hits, start=1)
    )
    return (
        '<table class="rag-table rag-hits"><thead><tr><th>#</th><th>score</th><th>dense rank</th><th>BM25 rank</th>'
        f"<th>rerank</th><th>document / heading</th><th>text</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def render_status(status: dict[str, Any]) -> str:
    """The status line: model, backend, device, index facts, and any startup notice (e.g. the fallback)."""
    idx = status.get("index") or {}
    line = (
        f'<span class="rag-status-item"><b>Model</b> {esc(status.get("model"))}</span>'
        f'<span class="rag-status-item"><b>Backend</b> {esc(status.get("backend"))}</span>'
        f'<span class="rag-status-item"><b>Device</b> {esc(status.get("device"))}</span>'
        f'<span class="rag-status-item"><b>Index</b> {esc(idx.get("documents"))} documents, {esc(idx.get("chunks"))} chunks, '
        f'embedder {esc(idx.get("embedder"))}, built {esc(idx.get("built_at"))}</span>'
    )
    notices = "".join(f'<div class="rag-notice">{esc(n)}</div>' for n in status.get("notices") or [])
    return f'<div class="rag-status">{line}</div>{notices}'


def render_table(rows: list[dict[str, Any]]) -> str:
    """A list of dicts as an HTML table; columns are the union of keys in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(_cell(row.get(c)))}</td>" for c in columns) + "</tr>" for row in rows)
    return f'<div class="rag-table-wrap"><table class="rag-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    return str(value)



# ---- A/B bench ----------------------------------------------------------------------------------------------


def _estimate(e: Any) -> str:
    return f"{e.mean:.2f} [{e.lo:.2f}, {e.hi:.2f}]"


def render_side(side: str, summary: Any, original: OriginalText, anchor: str) -> str:
    """One side of the A/B bench (`ui.ab.SideSummary`): its figures, then each distinct answer with its count,
    the first sample of it shown with linked citations (collapsed)."""
    figures = [
        f"{summary.n} samples",
        f"{len(summary.clusters)} distinct",
        f"agreement {summary.agreement:.2f}",
        f"refusals {summary.refusal_share:.2f}",
    ]
    if summary.accuracy is not None:
        figures.append(f"grounded accuracy {_estimate(summary.accuracy)}")
    head = f'<div class="rag-ab-figures" data-side="{side}"><b>{side}</b> · {esc(" · ".join(figures))}</div>'
    rows = []
    for j, cluster in enumerate(summary.clusters, start=1):
        sample = cluster.first
        a = sample.answer
        cluster_anchor = f"{anchor}-{j}"
        if a.refused:
            text = f'<span class="rag-label">Not in the reports</span> {_paragraphs(a.answer or "(no text)")}'
        elif not a.answer.strip():
            text = '<span class="rag-note">(the model wrote no answer text)</span>'
        else:
            text = link_citations(a.answer, cluster_anchor, [c.n for c in a.citations], citation_previews(a.citations, a.answer))
        verdict = ""
        if sample.score is not None:
            verdict = " ✓ grounded-correct" if sample.score.grounded_correct else f" ✗ {sample.score.reason}"
        detail = render_citations(a.citations, original, cluster_anchor, a.answer)
        rows.append(
            f'<li class="rag-cluster"><span class="rag-count" title="samples with this answer">×{cluster.count}</span>'
            f'<span class="rag-verdict">{esc(verdict)}</span>'
            f'<div class="rag-answer">{text}</div>'
            + (f'<details class="rag-cluster-citations"><summary>citations</summary>{detail}</details>' if detail else "")
            + f'<div class="rag-meta">first of these: sample {sample.index + 1}, {render_params(a)}</div></li>'
        )
    return f'{head}<ol class="rag-clusters">{"".join(rows)}</ol>'


def render_ab_gold(match: Any, comparison: Any) -> str:
    """The gold question the A/B question matched and the paired test of B against A (`eval.stats.Comparison`)."""
    how = "same question" if match.similarity == 1.0 else f"near match {match.similarity:.2f}: {match.item.question}"
    out = f'<div class="rag-ab-gold">Gold question <b>{esc(match.item.id)}</b> ({esc(how)}), scored as eval.run scores it.'
    if comparison is not None:
        out += (
            f" B − A grounded accuracy {comparison.difference:+.2f} [{comparison.lo:+.2f}, {comparison.hi:+.2f}], "
            f'<span class="rag-pvalue">p = {comparison.p_value:.3g}</span> ({esc(comparison.test)} over '
            f"{comparison.n_questions} sample pairs; sample i of A and B share seed + i). One question: this describes "
            "its samples, not the QA set; save as a sweep config for that."
        )
    return out + "</div>"


def render_progress(done: int, total: int, failed: list[str] | None = None, stopped: bool = False, running: bool = True) -> str:
    """The A/B progress line: rows done out of all rows, and the rows whose requests failed."""
    if stopped:
        state = "stopped"
    elif running and done < total:
        state = "sampling…"
    else:
        state = "done"
    line = f'<div class="rag-progress">rows done {done}/{total} · {state}</div>'
    if failed:
        line += render_error(f"{len(failed)} rows failed and are left out: {failed[0]}")
    return line
