"""A prompt that fits the model's context window: `build_messages` renders the question, the numbered sources and
earlier turns with a named template (`rag.templates`), keeping within the window, and attaches what it rendered
them from (`rag.context`). Follow-up rewriting is in `rag.followup`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

from core.errors import UserError
from rag.context import Messages, PromptContext, PromptSource
from rag.templates import (
    CJK_CHAR,
    UNANSWERABLE_NOTES,
    detect_language,
    get_template,
    render_source,
    user_message,
)
from rag.types import Hit

# A chat template adds a few tokens per message (role markers, separators); a margin covers the rest.
CHAT_OVERHEAD_TOKENS = 32
MIN_SOURCE_TOKENS = 64  # a source cut shorter than this is dropped instead of shortened
MIN_QUESTION_TOKENS = 32
DEFAULT_CONTEXT_WINDOW = 32768  # Qwen2.5/Qwen3 native window; used when no generator says otherwise


def estimate_tokens(text: str) -> int:
    """A conservative token count without a tokenizer: one per CJK character, one per 3 other characters."""
    cjk = len(CJK_CHAR.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 3)


@dataclass(frozen=True)
class BuiltPrompt:
    """Chat messages ready for a generator (with the context they were rendered from, `rag.context`), and what
    had to give way to fit the context window."""

    messages: Messages
    sources: list[Hit]  # the hits actually shown, numbered 1..len(sources) in this order
    notices: list[str] = field(default_factory=list)
    language: str = "en"
    template: str = "default"

    @property
    def answerable(self) -> bool | None:
        """rag.answerability's decision on the shown sources (None: the template shows no sources)."""
        verdict = self.messages.context.verdict
        return None if verdict is None else verdict.answerable


def _truncate_to_tokens(text: str, limit: int, count: Callable[[str], int]) -> str:
    """The longest prefix of `text` that counts at most `limit` tokens (binary search over characters)."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def build_messages(
    question: str,
    sources: Sequence[Hit],
    template: str = "default",
    *,
    generator=None,
    max_new_tokens: int = 256,
    count_tokens: Callable[[str], int] | None = None,
    context_window: int | None = None,
    history: Sequence[tuple[str, str]] = (),
) -> BuiltPrompt:
    """System message, earlier turns, then the user message with `question` over `sources`, within the budget.

    The budget is the context window minus `max_new_tokens` minus the system prompt, the question and the
    chat-template overhead. Tokens are counted with `count_tokens`, else `generator.count_tokens`, else
    `estimate_tokens`; the window is `context_window`, else `generator.context_window`, else 32768. A question
    longer than half the room is cut. `history` holds earlier (question, answer) turns, oldest first: the most
    recent ones that fit in a quarter of what is left are kept whole, as plain user/assistant messages before
    the sources (sources outrank old turns). Sources are kept in rank order while they fit (the last one may
    be shortened). Whatever gives way comes back as a notice. A `max_new_tokens` that leaves no room raises
    UserError.
    """
    tmpl = get_template(template)
    lang = detect_language(question)
    count = count_tokens or getattr(generator, "count_tokens", None) or estimate_tokens
    window = context_window or getattr(generator, "context_window", None) or DEFAULT_CONTEXT_WINDOW
    system = tmpl.system[lang]
    note_room = count(UNANSWERABLE_NOTES[lang]) + 2 if tmpl.use_sources else 0  # the note may be added
    fixed = count(system) + count(user_message(tmpl, lang, [], "")) + CHAT_OVERHEAD_TOKENS + note_room
    room = window - max_new_tokens - fixed
    if room < MIN_QUESTION_TOKENS:
        raise UserError(
            f"max_new_tokens={max_new_tokens} leaves only {max(room, 0)} tokens of the model's {window}-token "
            f"context window for the prompt; lower --max-new-tokens"
        )
    notices: list[str] = []
    q_tokens = count(question)
    q_limit = room // 2 if tmpl.use_sources else room
    if q_tokens > q_limit:
        question = _truncate_to_tokens(question, q_limit, count)
        notices.append(
            f"the question is {q_tokens} tokens long; only its first {q_limit} tokens were used "
            f"(context window {window}, max_new_tokens {max_new_tokens})"
        )
        q_tokens = count(question)
    turns = _recent_turns(history, (room - q_tokens) // 4, count)
    if len(turns) < len(history):
        notices.append(
            f"only the last {len(turns)} of {len(history)} earlier turns fit the context window ({window} tokens)"
        )
    turn_messages = [
        {"role": role, "content": text} for q, a in turns for role, text in (("user", q), ("assistant", a))
    ]
    blocks: list[str] = []
    kept: list[Hit] = []
    shown: list[PromptSource] = []
    if tmpl.use_sources:
        left = room - q_tokens - sum(count(m["content"]) + CHAT_OVERHEAD_TOKENS // 4 for m in turn_messages)
        for n, hit in enumerate(sources, start=1):
            text = hit.chunk.text
            cost = count(render_source(n, hit)) + 2  # the blank line between blocks
            shortened = cost > left
            if shortened:
                frame = count(render_source(n, hit, "")) + 2
                if left - frame < MIN_SOURCE_TOKENS:
                    break
                text = _truncate_to_tokens(text, left - frame, count)
                notices.append(f"source [{n}] was shortened to fit the context window ({window} tokens)")
            blocks.append(render_source(n, hit, text))
            kept.append(hit)
            shown.append(PromptSource(n=n, text=text, kind=hit.chunk.kind, heading=hit.chunk.heading))
            if shortened:
                break
            left -= cost
        if len(kept) < len(sources):
            notices.append(
                f"only {len(kept)} of {len(sources)} sources fit the context window ({window} tokens, "
                f"max_new_tokens {max_new_tokens})"
            )
    verdict = None
    if tmpl.use_sources:
        from rag.answerability import judge

        verdict = judge(question, {s.n: s.text for s in shown}, headings={s.n: s.heading for s in shown})
    note = UNANSWERABLE_NOTES[lang] if verdict is not None and not verdict.answerable else ""
    messages = Messages(
        [
            {"role": "system", "content": system},
            *turn_messages,
            {"role": "user", "content": user_message(tmpl, lang, blocks, question, note)},
        ],
        PromptContext(question=question, language=lang, sources=tuple(shown), verdict=verdict),
    )
    return BuiltPrompt(messages=messages, sources=kept, notices=notices, language=lang, template=tmpl.name)


def _recent_turns(history: Sequence[tuple[str, str]], limit: int, count: Callable[[str], int]) -> list[tuple[str, str]]:
    """The most recent whole turns whose messages fit in `limit` tokens, oldest first."""
    kept: list[tuple[str, str]] = []
    for q, a in reversed(history):
        cost = count(q) + count(a) + CHAT_OVERHEAD_TOKENS // 2
        if cost > limit:
            break
        kept.append((q, a))
        limit -= cost
    return kept[::-1]
